using Akka.Configuration;
using UniPerceiverMoe.Model.Routing.TokenLevel;

namespace UniPerceiverMoe.Actors.Settings;

public enum RoutingStrategy
{
    /// <summary>The released models: routes are constants per attribute (route table, merged weights).</summary>
    Attribute,
    /// <summary>The gate sees each token's hidden state; tokens are dispatched per expert at run time.</summary>
    Token,
}

/// <summary>Typed view of <c>upmoe.routing</c>.</summary>
public sealed record RoutingSettings(RoutingStrategy Strategy, TokenLevelOptions Token)
{
    public static RoutingSettings FromConfig(Config config)
    {
        var c = config.GetConfig("upmoe.routing") ?? throw new ConfigurationException("missing section upmoe.routing");
        var name = c.ReadString("strategy");
        var strategy = name switch
        {
            "attribute" => RoutingStrategy.Attribute,
            "token" => RoutingStrategy.Token,
            _ => throw new ConfigurationException($"upmoe.routing.strategy '{name}' is not one of attribute, token."),
        };
        var token = new TokenLevelOptions
        {
            TopK = c.ReadInt("token.top-k"),
            CapacityFactor = c.ReadDouble("token.capacity-factor"),
            MinCapacity = c.ReadInt("token.min-capacity"),
            Dropless = c.ReadBoolean("token.dropless"),
        };
        return new RoutingSettings(strategy, token);
    }
}
