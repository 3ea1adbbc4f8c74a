using Akka.Configuration;
using UniPerceiverMoe.Actors.Settings;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>Configuration of a node from layered sources: later files override earlier ones, inline HOCON overrides all.</summary>
public static class NodeConfig
{
    /// <summary>
    /// <paramref name="overrides"/> (HOCON lines, e.g. from --set) over <paramref name="files"/> (last wins) over
    /// hocon/reference.conf. A file that is missing or does not parse fails with its path.
    /// </summary>
    public static Config Load(IEnumerable<string> files, IEnumerable<string>? overrides = null)
    {
        var config = UpmoeConfig.Reference;
        foreach (var path in files)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: configuration file not found.", path);
            try { config = ConfigurationFactory.ParseString(File.ReadAllText(path)).WithFallback(config); }
            catch (Exception e) { throw new ConfigurationException($"{path}: not valid HOCON ({e.Message}).", e); }
        }
        var inline = string.Join("\n", overrides ?? []);
        if (inline.Trim().Length == 0) return config;
        try { return ConfigurationFactory.ParseString(inline).WithFallback(config); }
        catch (Exception e) { throw new ConfigurationException($"inline settings are not valid HOCON ({e.Message}): {inline}", e); }
    }
}
