using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace UniPerceiverMoe.Host.Server;

/// <summary>Typed form fields with range checks; a bad value is a 400 naming the field.</summary>
public static class FormFields
{
    public static string? Text(IFormCollection form, string field) =>
        form.TryGetValue(field, out var v) && v.Count > 0 && !string.IsNullOrWhiteSpace(v[0]) ? v[0]!.Trim() : null;

    public static string RequiredText(IFormCollection form, string field, string what) =>
        Text(form, field) ?? throw ApiException.BadRequest($"the '{field}' field is required: {what}");

    public static int Int(IFormCollection form, string field, int fallback, int min, int max)
    {
        if (Text(form, field) is not { } text) return fallback;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max) return value;
        throw ApiException.BadRequest($"the '{field}' field must be an integer in {min}..{max} (got '{text}')");
    }

    public static double Double(IFormCollection form, string field, double fallback, double min, double max)
    {
        if (Text(form, field) is not { } text) return fallback;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value >= min && value <= max) return value;
        throw ApiException.BadRequest($"the '{field}' field must be a number in {min}..{max} (got '{text}')");
    }

    /// <summary>Items of a field given as one value per line (or per repeated field); blank lines ignored.</summary>
    public static IReadOnlyList<string> Lines(IFormCollection form, string field) =>
        form.TryGetValue(field, out var values)
            ? values.SelectMany(v => (v ?? "").Split('\n')).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray()
            : [];
}
