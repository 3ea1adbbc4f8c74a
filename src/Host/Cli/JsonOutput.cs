using System.Text.Json;
using System.Text.Json.Serialization;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>Writes the one JSON object of --json mode on stdout (compact, one line, floats round-trip exactly).</summary>
public static class JsonOutput
{
    /// <summary>snake_case, named float literals allowed, non-ASCII text unescaped. The HTTP server derives from these.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write<T>(TextWriter output, T value)
    {
        output.WriteLine(JsonSerializer.Serialize(value, Options));
        output.Flush();
    }
}
