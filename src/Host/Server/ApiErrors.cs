using UniPerceiverMoe.Host.Inputs;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Host.Server;

/// <summary>A request that cannot be served: the status code, a stable machine-readable code and a one-line message
/// naming the input at fault.</summary>
public sealed class ApiException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;

    public static ApiException BadRequest(string message) => new(StatusCodes.Status400BadRequest, "bad_request", message);
    public static ApiException NotFound(string message) => new(StatusCodes.Status404NotFound, "not_found", message);
    public static ApiException Conflict(string message) => new(StatusCodes.Status409Conflict, "conflict", message);
    public static ApiException TooLarge(long max) =>
        new(StatusCodes.Status413PayloadTooLarge, "too_large", $"the request body is larger than the server's limit of {max} bytes (upmoe.server.max-upload)");
    public static ApiException Unsupported(string message) => new(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", message);
    public static ApiException Unprocessable(string message) => new(StatusCodes.Status422UnprocessableEntity, "unprocessable", message);
}

/// <summary>The JSON body of every error: <c>{"status": 415, "error": "unsupported_media_type", "message": "…"}</c>.</summary>
public sealed record ErrorBody(int Status, string Error, string Message);

/// <summary>
/// Outermost middleware: turns every failure into a JSON error with a status code and never a stack trace
/// (unexpected exceptions are logged, and answered 500 with their type name only), and gives the framework's bare
/// 404/405 answers the same JSON form. A failed request never stops the server.
/// </summary>
public sealed class ErrorMiddleware(RequestDelegate next, ILogger<ErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
            if (!context.Response.HasStarted && context.Response.StatusCode is 404 or 405 && context.Response.ContentType is null)
                await WriteAsync(context, context.Response.StatusCode == 404
                    ? ApiException.NotFound($"no endpoint {context.Request.Method} {context.Request.Path}")
                    : new ApiException(405, "method_not_allowed", $"{context.Request.Method} is not allowed on {context.Request.Path}"));
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e)
        {
            var error = Classify(InputErrors.Unwrap(e));
            if (error.Status >= 500) logger.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            if (context.Response.HasStarted) return;          // an event stream already sent data: just end it
            await WriteAsync(context, error);
        }
    }

    /// <summary>The API error an exception stands for.</summary>
    public static ApiException Classify(Exception e) => e switch
    {
        ApiException api => api,
        BadHttpRequestException { StatusCode: 413 } => new ApiException(413, "too_large", "the request body is larger than the server's limit (upmoe.server.max-upload)"),
        BadHttpRequestException bad => ApiException.BadRequest(InputErrors.OneLine(bad.Message)),
        JsonException json => ApiException.BadRequest($"the JSON body does not parse: {InputErrors.OneLine(json.Message)}"),
        EngineNotReadyException ready => new ApiException(503, "not_ready", ready.Message),
        InputException input => ApiException.Unprocessable($"{input.Input}: {InputErrors.OneLine(input.Reason)}"),
        VideoDecodeException video => ApiException.Unprocessable($"{video.Input}: {InputErrors.OneLine(video.Reason)}"),
        _ => new ApiException(500, "internal", $"internal failure ({e.GetType().Name}); the server log has the details"),
    };

    public static Task WriteAsync(HttpContext context, ApiException error)
    {
        context.Response.Clear();
        context.Response.StatusCode = error.Status;
        if (error.Status == 401) context.Response.Headers.WWWAuthenticate = "ApiKey header=\"X-Api-Key\"";
        if (error.Status == 503) context.Response.Headers.RetryAfter = "5";
        return context.Response.WriteAsJsonAsync(new ErrorBody(error.Status, error.Code, error.Message), ServerJson.Options);
    }
}
