using UniPerceiverMoe.Bench.Processes;
using UniPerceiverMoe.Actors.Cluster;

namespace UniPerceiverMoe.ClusterNode;

/// <summary>
/// Starts an expert node: <c>--config FILE</c> (repeatable, later wins) and <c>--set HOCON</c> (repeatable, overrides
/// all). Prints <c>node-up ADDRESS</c> on stdout once the node is Up, then serves until stdin closes or SIGTERM, and
/// leaves the cluster gracefully. Exit code 2 on a startup error (message on stderr).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var files = new List<string>();
        var sets = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (i + 1 < args.Length && args[i] == "--config") files.Add(args[++i]);
            else if (i + 1 < args.Length && args[i] == "--set") sets.Add(args[++i]);
            else
            {
                Console.Error.WriteLine($"unexpected argument '{args[i]}'; usage: --config FILE ... --set HOCON ...");
                return 2;
            }
        }
        ExpertNode node;
        try
        {
            node = ExpertNode.Start(NodeConfig.Load(files, sets));
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"expert node failed to start: {e.Message}");
            return 2;
        }
        await using (node)
        {
            await node.WhenUp();
            Console.WriteLine(ExpertProcess.UpLinePrefix + node.Address);
            var stop = new TaskCompletionSource();
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.TrySetResult();
            });
            var stdinClosed = Task.Run(() => { while (Console.In.ReadLine() is not null) { } });
            await Task.WhenAny(stop.Task, stdinClosed, node.System.WhenTerminated);
            await Task.WhenAny(node.LeaveAsync(), Task.Delay(TimeSpan.FromSeconds(20)));
        }
        return 0;
    }
}
