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
        var name = c.GetString("strategy", "attribute");
        var strategy = name switch
        {
            "attribute" => RoutingStrategy.Attribute,
            "token" => RoutingStrategy.Token,
            _ => throw new ConfigurationException($"upmoe.routing.strategy '{name}' is not one of attribute, token."),
        };
        var token = new TokenLevelOptions
        {
            TopK = c.GetInt("token.top-k", 2),
            CapacityFactor = c.GetDouble("token.capacity-factor", 1.25),
            MinCapacity = c.GetInt("token.min-capacity", 4),
            Dropless = c.GetBoolean("token.dropless", true),
        };
        return new RoutingSettings(strategy, token);
    }
}
