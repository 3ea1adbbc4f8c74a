using AkkaCluster = Akka.Cluster.Cluster;

namespace UniPerceiverMoe.Actors.Cluster;

internal static class ClusterMembership
{
    /// <summary>Completes when this node is Up in <paramref name="cluster"/> (at once if it already is).</summary>
    public static Task WhenSelfUp(this AkkaCluster cluster)
    {
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        return up.Task;
    }
}
