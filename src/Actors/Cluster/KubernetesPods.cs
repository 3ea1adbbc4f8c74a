using k8s;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// The remoting endpoints of a cluster's pods, from the Kubernetes API: running pods of a namespace that match a label
/// selector and have an IP, each with the container port named <c>portName</c> (null when it has none). In a pod, the
/// API server, token and namespace come from the service account (<c>KubernetesClientConfiguration.InClusterConfig</c>);
/// <paramref name="apiServer"/> points elsewhere (an API proxy, a test).
/// </summary>
public sealed class KubernetesPods : IDisposable
{
    private readonly Kubernetes client;
    private readonly string @namespace;
    private readonly string labelSelector;
    private readonly string portName;

    public KubernetesPods(string? apiServer, string @namespace, string labelSelector, string portName)
    {
        var config = string.IsNullOrEmpty(apiServer) ? KubernetesClientConfiguration.InClusterConfig() : new KubernetesClientConfiguration { Host = apiServer };
        this.@namespace = @namespace.Length > 0 ? @namespace
            : config.Namespace ?? throw new InvalidOperationException("upmoe.cluster.discovery.kubernetes.namespace is empty and this pod's service account names none.");
        client = new Kubernetes(config);
        this.labelSelector = labelSelector;
        this.portName = portName;
    }

    public async Task<IReadOnlyList<(string Host, int? Port)>> LookupAsync(CancellationToken cancellation)
    {
        var pods = await client.CoreV1.ListNamespacedPodAsync(@namespace, labelSelector: labelSelector, cancellationToken: cancellation).ConfigureAwait(false);
        return pods.Items
            .Where(p => p.Status?.Phase == "Running" && !string.IsNullOrEmpty(p.Status.PodIP) && p.Metadata?.DeletionTimestamp is null)
            .Select(p => (p.Status.PodIP, (int?)p.Spec?.Containers?.SelectMany(c => c.Ports ?? []).FirstOrDefault(port => port.Name == portName)?.ContainerPort))
            .ToArray();
    }

    public void Dispose() => client.Dispose();
}
