namespace UniPerceiverMoe.Bench;

/// <summary>Summary statistics the benchmarks report.</summary>
public static class BenchStatistics
{
    /// <summary>The median (the mean of the two middle values for an even count); the input is not changed.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("the median of no values is undefined.", nameof(values));
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
