using System.CommandLine;
using UniPerceiverMoe.Host.Bench;

namespace UniPerceiverMoe.Host;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("upmoe") { BenchCommands.Create() };
        return root.Parse(args).Invoke();
    }
}
