using UniPerceiverMoe.Actors.Settings;
using System.Net;
using System.Net.Sockets;
using Akka.Configuration;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>
/// What POST /v1/streams may open (upmoe.server.stream-sources; meanings in hocon/reference.conf): local files only
/// under <see cref="LocalRoots"/> (null = any path), URLs only with a listed scheme, a listed host (when hosts are
/// listed) and, unless <see cref="AllowPrivateNetworks"/>, a host that resolves to no private, loopback or link-local
/// address. "auto" settings follow the bind address: a loopback server keeps the convenience of any path and any URL
/// (its user is on the machine); any other bind opens no local file and no private-network URL by default.
/// Every refusal is a 403 naming the setting that would allow it.
/// </summary>
public sealed record StreamSourcePolicy(IReadOnlyList<string>? LocalRoots, IReadOnlySet<string> Schemes, IReadOnlySet<string> Hosts, bool AllowPrivateNetworks)
{
    private const string Section = "upmoe.server.stream-sources";

    public static StreamSourcePolicy FromConfig(Config config, bool loopbackBind)
    {
        var c = config.GetConfig(Section) ?? throw new ConfigurationException($"missing section {Section}");
        IReadOnlyList<string>? roots = c.ReadString("local-roots") == "auto"
            ? (loopbackBind ? null : [])
            : (c.GetStringList("local-roots") ?? []).Select(r => Path.TrimEndingDirectorySeparator(RealPath(Path.GetFullPath(r)))).ToArray();
        string privateNetworks = c.ReadString("allow-private-networks");
        bool allowPrivate = privateNetworks == "auto" ? loopbackBind
            : privateNetworks is "on" or "true" or "yes" ? true
            : privateNetworks is "off" or "false" or "no" ? false
            : throw new ConfigurationException($"{Section}.allow-private-networks must be auto, on or off (got '{privateNetworks}').");
        var schemes = (c.GetStringList("schemes") ?? []).Select(s => s.ToLowerInvariant()).ToHashSet();
        var hosts = (c.GetStringList("hosts") ?? []).Select(h => h.ToLowerInvariant()).ToHashSet();
        return new StreamSourcePolicy(roots, schemes, hosts, allowPrivate);
    }

    /// <summary>The path or URL to open, or a 403 <see cref="ApiException"/> naming the setting that refuses it.</summary>
    public string Check(string source)
    {
        if (!source.Contains("://", StringComparison.Ordinal)) return CheckPath(source);
        if (!Uri.TryCreate(source, UriKind.Absolute, out var uri)) throw ApiException.BadRequest($"'{source}' is not a valid URL");
        if (uri.IsFile) return CheckPath(uri.LocalPath);
        string scheme = uri.Scheme.ToLowerInvariant();
        if (!Schemes.Contains(scheme))
            throw Forbidden($"URL scheme '{scheme}' is not allowed ({Section}.schemes = [{string.Join(", ", Schemes.Order())}])");
        string host = uri.IdnHost.ToLowerInvariant();
        bool listed = Hosts.Contains(host);
        if (Hosts.Count > 0 && !listed)
            throw Forbidden($"host '{host}' is not in {Section}.hosts");
        if (!AllowPrivateNetworks && !listed && Resolve(host).FirstOrDefault(IsPrivate) is { } inside)
            throw Forbidden($"host '{host}' is on a private network ({inside}); list it in {Section}.hosts or set {Section}.allow-private-networks = on");
        return source;
    }

    private string CheckPath(string path)
    {
        if (LocalRoots is null) return path;
        if (LocalRoots.Count == 0)
            throw Forbidden($"local files are not served on this bind ({Section}.local-roots = []); list directories in {Section}.local-roots");
        string real = RealPath(Path.GetFullPath(path));
        if (!LocalRoots.Any(root => real == root || real.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
            throw Forbidden($"'{path}' is not under {Section}.local-roots ([{string.Join(", ", LocalRoots)}])");
        return real;
    }

    private static ApiException Forbidden(string message) => new(403, "forbidden", message);

    /// <summary>The path with every symbolic link along it resolved (what the file system would open).</summary>
    public static string RealPath(string fullPath)
    {
        string root = Path.GetPathRoot(fullPath) ?? "/";
        var pending = new Stack<string>(fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse());
        string current = root;
        for (int links = 0; pending.TryPop(out var part);)
        {
            if (part == ".") continue;
            if (part == "..") { current = Path.GetDirectoryName(current) ?? root; continue; }
            string next = Path.Combine(current, part);
            var info = new FileInfo(next);
            if (info.LinkTarget is { } target)
            {
                if (++links > 40) throw ApiException.BadRequest($"'{fullPath}': too many symbolic links");
                string resolved = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
                string resolvedRoot = Path.GetPathRoot(resolved) ?? root;
                foreach (var p in resolved[resolvedRoot.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
                current = resolvedRoot;
                continue;
            }
            current = next;
        }
        return current;
    }

    private static IPAddress[] Resolve(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal)) return [literal];
        try { return Dns.GetHostAddresses(host); }
        catch (SocketException e) { throw ApiException.Unprocessable($"host '{host}' does not resolve ({e.Message})"); }
    }

    /// <summary>Loopback, RFC 1918, link-local, carrier-grade NAT, unique-local IPv6 and the unspecified address.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) return true;
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal;
        var b = address.GetAddressBytes();
        return b[0] == 10 || b[0] == 0 || (b[0] == 172 && b[1] >= 16 && b[1] <= 31) || (b[0] == 192 && b[1] == 168)
            || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && b[1] >= 64 && b[1] <= 127);
    }
}
