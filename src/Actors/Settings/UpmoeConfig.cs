using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Settings;

/// <summary>Loads configuration: user HOCON layered over hocon/reference.conf (embedded in this assembly).</summary>
public static class UpmoeConfig
{
    private static readonly Lazy<Config> reference = new(() =>
    {
        using var stream = typeof(UpmoeConfig).Assembly.GetManifestResourceStream("UniPerceiverMoe.reference.conf")
            ?? throw new InvalidOperationException("reference.conf is not embedded in UniPerceiverMoe.Actors.");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    /// <summary>A HOCON quoted string for <paramref name="value"/> (a JSON string literal is valid HOCON: paths with
    /// spaces, quotes or backslashes survive).</summary>
    public static string Quote(string value) => System.Text.Json.JsonSerializer.Serialize(value);

    /// <summary>The defaults (hocon/reference.conf).</summary>
    public static Config Reference => reference.Value;

    /// <summary>
    /// The one way configuration is layered, later layers winning: hocon/reference.conf (the only place a default
    /// lives), then <paramref name="files"/> in order, then <paramref name="hocon"/> texts in order (e.g. --set lines,
    /// options turned into keys), then <paramref name="top"/>. A file that is missing or does not parse fails with its
    /// path; HOCON text that does not parse fails quoting it.
    /// </summary>
    public static Config Load(IEnumerable<string>? files = null, IEnumerable<string>? hocon = null, Config? top = null)
    {
        var config = Reference;
        foreach (var path in files ?? [])
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: configuration file not found.", path);
            try { config = ConfigurationFactory.ParseString(File.ReadAllText(path)).WithFallback(config); }
            catch (Exception e) { throw new ConfigurationException($"{path}: not valid HOCON ({e.Message}).", e); }
        }
        foreach (var text in hocon ?? [])
            config = Over(config, text);
        return top is null ? config : top.WithFallback(config);
    }

    /// <summary><paramref name="hocon"/> (may be empty) layered over <paramref name="config"/>.</summary>
    public static Config Over(Config config, string hocon)
    {
        if (string.IsNullOrWhiteSpace(hocon)) return config;
        try { return ConfigurationFactory.ParseString(hocon).WithFallback(config); }
        catch (Exception e) { throw new ConfigurationException($"settings are not valid HOCON ({e.Message}): {hocon}", e); }
    }

    /// <summary><paramref name="hocon"/> (may be empty) over the defaults.</summary>
    public static Config Parse(string hocon) => Over(Reference, hocon);

    /// <summary>A HOCON file over the defaults; the error names the file when it is missing or does not parse.</summary>
    public static Config LoadFile(string path) => Load([path]);
}
