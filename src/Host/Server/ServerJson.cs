using System.Text.Json;
using System.Text.Json.Serialization;

namespace UniPerceiverMoe.Host.Server;

/// <summary>The server's JSON: snake_case like <c>upmoe … --json</c>, so a response equals the CLI's output.</summary>
public static class ServerJson
{
    /// <summary>The CLI's --json options (<see cref="Cli.JsonOutput.Options"/>), leaving out null members.</summary>
    public static readonly JsonSerializerOptions Options = new(Cli.JsonOutput.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
