using Akka.Configuration;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Host.Inputs;

/// <summary>Which failures mean "this input is unusable", and how their reason becomes one line naming the input: shared
/// by the command line (exit code 2) and the HTTP server (422), so both say the same thing about the same bad input.</summary>
public static class InputErrors
{
    /// <summary>Exceptions that mean "this input is unusable" when raised while reading or checking an input.</summary>
    public static bool IsInputFault(Exception e) => e is InputException or VideoDecodeException or CheckpointException
        or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ConfigurationException
        or ArgumentException or FormatException or UnauthorizedAccessException or IOException or System.Text.Json.JsonException;

    /// <summary>Runs <paramref name="read"/>, re-throwing input faults as an <see cref="InputException"/> naming <paramref name="input"/>.</summary>
    public static T Guard<T>(string input, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (IsInputFault(Unwrap(e)) && Unwrap(e) is not InputException)
        {
            throw AsInput(input, Unwrap(e));
        }
    }

    /// <summary>Async form of <see cref="Guard{T}(string, Func{T})"/>.</summary>
    public static async Task<T> GuardAsync<T>(string input, Func<Task<T>> read)
    {
        try
        {
            return await read().ConfigureAwait(false);
        }
        catch (Exception e) when (IsInputFault(Unwrap(e)) && Unwrap(e) is not InputException)
        {
            throw AsInput(input, Unwrap(e));
        }
    }

    public static InputException AsInput(string input, Exception e) =>
        new(input, e is VideoDecodeException v ? OneLine(v.Reason) : Reason(Message(e), input), e);

    /// <summary>The message without ArgumentException's " (Parameter 'x')" suffix, which names our code, not the input.</summary>
    public static string Message(Exception e) =>
        e is ArgumentException { ParamName: { } name } a ? a.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>The message without a leading mention of <paramref name="input"/> (library messages often start with
    /// the path, and the diagnostic names it already), on one line.</summary>
    public static string Reason(string message, string input)
    {
        string[] prefixes = [$"{input}: ", $"'{input}': ", $"image '{input}': ", $"video '{input}': ", $"image '{input}' ", $"video '{input}' "];
        foreach (var p in prefixes)
            if (message.StartsWith(p, StringComparison.Ordinal)) return OneLine(message[p.Length..]);
        return OneLine(message);
    }

    /// <summary>Collapses line breaks (ffmpeg's stderr tail, multi-line validator reports) so a diagnostic is one line.</summary>
    public static string OneLine(string text) =>
        string.Join("; ", text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public static Exception Unwrap(Exception e)
    {
        while (true)
        {
            if (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
            else if (e is System.Reflection.TargetInvocationException { InnerException: { } inner }) e = inner;
            else return e;
        }
    }
}
