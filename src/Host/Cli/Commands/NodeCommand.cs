using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Bench.Processes;
using System.CommandLine;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Settings;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe node [--role experts|frontend] [--seed ADDRESS]… [--port N] [--discovery seeds|config|kubernetes]
/// [--service-name NAME] [--contact-point HOST:PORT]… [-c FILE]… [-s HOCON]…</c>: runs a cluster node
/// until Ctrl+C or SIGTERM, then leaves the cluster gracefully. A node whose roles (from --role or the files) include
/// the frontend role runs as a frontend; any other hosts expert groups. Role <c>experts</c> hosts expert-group
/// shard entities and prints <c>node-up ADDRESS</c> on stdout once Up; its groups are handed off on leave without
/// losing requests. Role <c>frontend</c> runs the engine's sequence executors behind the HTTP API (as <c>upmoe serve</c>,
/// port <c>upmoe.server.port</c> or --http-port) with its expert groups on the cluster. Configuration: files in order
/// (later wins), then --role/--seed/--port/--discovery options, then inline HOCON, over hocon/reference.conf. Logs go to stderr.
/// See docs/cluster.md.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var configs = new Option<string[]>("--config", "-c")
        {
            Description = "HOCON file(s), later ones override earlier ones, e.g. -c hocon/experts.conf -c my-node.conf",
            AllowMultipleArgumentsPerToken = true,
        };
        var role = new Option<string?>("--role")
        {
            Description = "experts (host expert groups; the default) or frontend (engine + HTTP API, groups on the cluster); sets akka.cluster.roles",
            HelpName = "experts|frontend",
        };
        role.AcceptOnlyFromAmong("experts", "frontend");
        var seeds = new Option<string[]>("--seed")
        {
            Description = "Seed node address(es), e.g. akka.tcp://upmoe@127.0.0.1:4053 (sets akka.cluster.seed-nodes)",
            AllowMultipleArgumentsPerToken = true,
            HelpName = "ADDRESS",
        };
        var port = new Option<int?>("--port") { Description = "Remoting port of this node (0: any free port; sets akka.remote.dot-netty.tcp.port)", HelpName = "N" };
        var httpPort = new Option<int?>("--http-port") { Description = "Frontend only: HTTP port (sets upmoe.server.port)", HelpName = "N" };
        var discovery = new Option<string?>("--discovery")
        {
            Description = "How to find the cluster: seeds (--seed / akka.cluster.seed-nodes), config (the --contact-point list) or kubernetes (pods by label); sets upmoe.cluster.discovery.method",
            HelpName = "seeds|config|kubernetes",
        };
        discovery.AcceptOnlyFromAmong("seeds", "config", "kubernetes");
        var serviceName = new Option<string?>("--service-name")
        {
            Description = "Name every node of the cluster shares, for --discovery config|kubernetes (sets upmoe.cluster.discovery.service-name)",
            HelpName = "NAME",
        };
        var contactPoints = new Option<string[]>("--contact-point")
        {
            Description = "Remoting endpoint HOST:PORT of a node, for --discovery config; list every node (sets upmoe.cluster.discovery.endpoints)",
            AllowMultipleArgumentsPerToken = true,
            HelpName = "HOST:PORT",
        };
        var sets = new Option<string[]>("--set", "-s")
        {
            Description = "Inline HOCON overriding the files, e.g. --set 'upmoe.engine.checkpoint = \"/models/moe-b.pth\"'",
        };
        var command = new Command("node", "Run a cluster node: an expert node (shard entities of expert groups) or a frontend (engine + HTTP API) until stopped.");
        foreach (var option in new Option[] { configs, role, seeds, port, httpPort, discovery, serviceName, contactPoints, sets }) command.Options.Add(option);
        command.SetAction(async (parse, cancellation) =>
        {
            Akka.Configuration.Config config;
            bool frontend;
            try
            {
                if (parse.GetValue(seeds) is { Length: > 0 } && parse.GetValue(discovery) is "config" or "kubernetes")
                    throw new ArgumentException("--seed and --discovery config|kubernetes exclude each other: discovery finds the cluster.");
                config = UpmoeConfig.Load(parse.GetValue(configs) ?? [],
                    [.. RoleSettings(parse.GetValue(role), parse.GetValue(seeds), parse.GetValue(port), parse.GetValue(httpPort)),
                        .. DiscoveryOptions(parse.GetValue(discovery), parse.GetValue(serviceName), parse.GetValue(contactPoints)),
                        .. parse.GetValue(sets) ?? []]);
                // The configuration decides (--role only sets it): -c hocon/frontend.conf alone runs a frontend too.
                frontend = (config.GetStringList("akka.cluster.roles") ?? []).Contains(ClusterSettings.FromConfig(config).FrontendRole);
            }
            catch (Exception e) when (e is Akka.Configuration.ConfigurationException or FileNotFoundException or ArgumentException)
            {
                Console.Error.WriteLine($"upmoe node: {e.Message}");
                return 2;
            }
            if (frontend) return await RunFrontendAsync(config, cancellation).ConfigureAwait(false);
            ExpertNode node;
            try
            {
                node = ExpertNode.Start(config);
            }
            catch (Exception e) when (e is Akka.Configuration.ConfigurationException or FileNotFoundException or ArgumentException)
            {
                Console.Error.WriteLine($"upmoe node: {e.Message}");
                return 2;
            }
            await using (node)
            {
                Console.Error.WriteLine($"upmoe node {node.Address}: joining; {node.Plan.Groups.Count} group(s) in the placement ({node.Plan.Strategy}).");
                try
                {
                    await node.WhenUp().WaitAsync(cancellation);
                    Console.Error.WriteLine($"upmoe node {node.Address}: up; serving until Ctrl+C.");
                    // Machine-readable readiness line (ExpertProcess waits for it).
                    Console.Out.WriteLine(ExpertProcess.UpLinePrefix + node.Address);
                    await node.System.WhenTerminated.WaitAsync(cancellation);
                    Console.Error.WriteLine($"upmoe node {node.Address}: the actor system stopped (downed or shut down).");
                    return 1;
                }
                catch (OperationCanceledException)
                {
                    Console.Error.WriteLine($"upmoe node {node.Address}: leaving the cluster (handing off groups)…");
                    try
                    {
                        await node.LeaveAsync().WaitAsync(TimeSpan.FromSeconds(60));
                        return 0;
                    }
                    catch (TimeoutException)
                    {
                        Console.Error.WriteLine($"upmoe node {node.Address}: not removed within 60 s; shutting down anyway.");
                        return 1;
                    }
                }
            }
        });
        return command;
    }

    /// <summary>HOCON lines for the role, seeds and ports given on the command line (none: the files decide).</summary>
    internal static IEnumerable<string> RoleSettings(string? role, string[]? seeds, int? port, int? httpPort)
    {
        if (role is not null)
        {
            yield return "akka.actor.provider = cluster";
            yield return $"akka.cluster.roles = [{role}]";
        }
        if (seeds is { Length: > 0 })
        {
            foreach (var seed in seeds)
                // akka.ssl.tcp:// is the address of a node with akka.remote.dot-netty.tcp.enable-ssl on.
                if (!(seed.StartsWith("akka.tcp://", StringComparison.Ordinal) || seed.StartsWith("akka.ssl.tcp://", StringComparison.Ordinal)) || !seed.Contains('@'))
                    throw new ArgumentException($"--seed {seed}: not a node address (expected akka.tcp://SYSTEM@HOST:PORT, or akka.ssl.tcp:// with TLS).");
            yield return $"akka.cluster.seed-nodes = [{string.Join(", ", seeds.Select(UpmoeConfig.Quote))}]";
        }
        if (port is { } p)
        {
            if (p is < 0 or > 65535) throw new ArgumentException($"--port {p}: must be in 0..65535.");
            yield return $"akka.remote.dot-netty.tcp.port = {p}";
        }
        if (httpPort is { } h)
        {
            if (h is < 0 or > 65535) throw new ArgumentException($"--http-port {h}: must be in 0..65535.");
            yield return $"upmoe.server.port = {h}";
        }
    }

    /// <summary>HOCON lines for --discovery, --service-name and --contact-point (none given: the files decide).</summary>
    internal static IEnumerable<string> DiscoveryOptions(string? method, string? serviceName, string[]? contactPoints)
    {
        if (method is not null)
        {
            yield return $"upmoe.cluster.discovery.method = {method}";
            // The role files name the local recipe's seed; --discovery config|kubernetes means no seed list.
            if (method != "seeds") yield return "akka.cluster.seed-nodes = []";
        }
        if (serviceName is not null)
        {
            if (string.IsNullOrWhiteSpace(serviceName)) throw new ArgumentException("--service-name: must not be empty.");
            yield return $"upmoe.cluster.discovery.service-name = {UpmoeConfig.Quote(serviceName)}";
        }
        if (contactPoints is { Length: > 0 })
        {
            foreach (var point in contactPoints)
                if (point.LastIndexOf(':') is var colon && (colon < 1 || !int.TryParse(point[(colon + 1)..], out int p) || p is < 1 or > 65535))
                    throw new ArgumentException($"--contact-point {point}: not HOST:PORT (the remoting endpoint of a node, port in 1..65535).");
            yield return $"upmoe.cluster.discovery.endpoints = [{string.Join(", ", contactPoints.Select(UpmoeConfig.Quote))}]";
        }
    }

    private static async Task<int> RunFrontendAsync(Akka.Configuration.Config config, CancellationToken cancellation)
    {
        try
        {
            return await ServeCommand.RunAsync(config, Console.Error, line => Console.Error.WriteLine(line), cancellation).ConfigureAwait(false);
        }
        catch (InputException e)
        {
            Console.Error.WriteLine($"upmoe node: {e.Message}");
            return 2;
        }
    }
}
