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

    /// <summary><paramref name="hocon"/> (may be empty) over the defaults.</summary>
    public static Config Parse(string hocon) =>
        string.IsNullOrWhiteSpace(hocon) ? Reference : ConfigurationFactory.ParseString(hocon).WithFallback(Reference);

    /// <summary>A HOCON file over the defaults; the error names the file when it does not parse.</summary>
    public static Config LoadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: configuration file not found.", path);
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is not FileNotFoundException)
        {
            throw new ConfigurationException($"{path}: not valid HOCON ({e.Message}).", e);
        }
    }
}
