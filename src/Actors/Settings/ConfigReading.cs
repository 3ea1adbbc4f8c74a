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
    public static int ReadInt(this Config c, string key) => Present(c, key).GetInt(key);

    public static long ReadLong(this Config c, string key) => Present(c, key).GetLong(key);

    public static double ReadDouble(this Config c, string key) => Present(c, key).GetDouble(key);

    public static bool ReadBoolean(this Config c, string key) => Present(c, key).GetBoolean(key);

    public static string ReadString(this Config c, string key) => Present(c, key).GetString(key) ?? "";

    public static TimeSpan ReadTimeSpan(this Config c, string key) => Present(c, key).GetTimeSpan(key);

    private static Config Present(Config c, string key) => c.HasPath(key) ? c
        : throw new ConfigurationException($"configuration key '{key}' is missing: every upmoe key has its default in hocon/reference.conf, " +
            "so this configuration was built without it (layer it over UpmoeConfig.Reference).");
}
