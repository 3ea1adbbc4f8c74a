using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Settings;

/// <summary>
/// Reads a key that hocon/reference.conf defines. Every upmoe setting has its one default there, and every
/// configuration the engine reads is layered over it (<see cref="UpmoeConfig"/>), so a missing key means a
/// configuration built without the reference: that fails, naming the key, instead of silently taking a second default
/// written in code (Akka's own getters return 0, "" or false for a missing key).
/// </summary>
public static class ConfigReading
{
    public static int ReadInt(this Config c, string key) => Parsed(c, key, static (c, k) => c.GetInt(k));

    public static long ReadLong(this Config c, string key) => Parsed(c, key, static (c, k) => c.GetLong(k));

    public static double ReadDouble(this Config c, string key) => Parsed(c, key, static (c, k) => c.GetDouble(k));

    public static bool ReadBoolean(this Config c, string key) => Parsed(c, key, static (c, k) => c.GetBoolean(k));

    public static string ReadString(this Config c, string key) => Present(c, key).GetString(key) ?? "";

    public static TimeSpan ReadTimeSpan(this Config c, string key) => Parsed(c, key, static (c, k) => c.GetTimeSpan(k));

    /// <summary>Akka's getters throw a bare FormatException ("The input string '-1s' was not in a correct format")
    /// for a malformed value; this names the key and the value instead.</summary>
    private static T Parsed<T>(Config c, string key, Func<Config, string, T> read)
    {
        try
        {
            return read(Present(c, key), key);
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidCastException)
        {
            throw new ConfigurationException($"configuration key '{key}' has the malformed value '{c.GetValue(key)}': {e.Message}", e);
        }
    }

    private static Config Present(Config c, string key) => c.HasPath(key) ? c
        : throw new ConfigurationException($"configuration key '{key}' is missing: every upmoe key has its default in hocon/reference.conf, " +
            "so this configuration was built without it (layer it over UpmoeConfig.Reference).");
}
