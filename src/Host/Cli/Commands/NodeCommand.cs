using System.CommandLine;
using UniPerceiverMoe.Actors.Cluster;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe node</c>: runs an expert node (role experts) until Ctrl+C or SIGTERM, then leaves the cluster gracefully
/// so its groups are handed off without losing requests. Configuration: role files and user files in order (later
/// wins) plus inline HOCON, over hocon/reference.conf. Prints <c>node-up ADDRESS</c> on stdout once Up; logs go to
/// stderr. See docs/cluster.md.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var configs = new Option<string[]>("--config", "-c")
        {
            Description = "HOCON file(s), later ones override earlier ones, e.g. -c hocon/experts.conf -c my-node.conf",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var sets = new Option<string[]>("--set", "-s")
        {
            Description = "Inline HOCON overriding the files, e.g. --set 'upmoe.engine.checkpoint = \"/models/moe-b.pth\"'",
        };
        var command = new Command("node", "Run an expert node: host expert-group shard entities for the cluster until stopped.");
        command.Options.Add(configs);
        command.Options.Add(sets);
        command.SetAction(async (parse, cancellation) =>
        {
            ExpertNode node;
            try
            {
                node = ExpertNode.Start(NodeConfig.Load(parse.GetValue(configs) ?? [], parse.GetValue(sets)));
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
}
