using System.Diagnostics;
using System.Globalization;
using Vivarium.Engine.Pool;

namespace Vivarium.Bench;

/// <summary>Samples → medians and percentiles, printed one line per measure.</summary>
internal static class Measurements
{
    /// <summary>Waits (untimed) until the pool is full, so the next sample is a pool hit.</summary>
    public static async Task WaitForFullPoolAsync(SandboxPool pool, TimeSpan? within = null)
    {
        var limit = within ?? TimeSpan.FromMinutes(2);
        var deadline = Stopwatch.StartNew();
        while (pool.Available < pool.TargetSize)
        {
            if (deadline.Elapsed > limit)
            {
                throw new TimeoutException($"the pool did not refill within {limit}: {pool.LastFailure}");
            }
            await Task.Delay(20);
        }
    }

    public static Dictionary<string, double> Stats(List<double> samples)
    {
        var sorted = samples.Order().ToList();
        double Percentile(double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
        return new()
        {
            ["median"] = Math.Round(sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2, 3),
            ["p95"] = Math.Round(Percentile(0.95), 3),
            ["min"] = Math.Round(sorted[0], 3),
            ["max"] = Math.Round(sorted[^1], 3),
        };
    }

    /// <summary>Writes the figures as JSON, creating the folder.</summary>
    public static async Task WriteJsonAsync(string path, Dictionary<string, object> figures)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllTextAsync(path, System.Text.Json.JsonSerializer.Serialize(figures));
    }

    public static void Report(string name, List<double> samples)
    {
        var s = Stats(samples);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-36} median {s["median"],8:0.000} ms   p95 {s["p95"],8:0.000} ms   min {s["min"],8:0.000} ms   (n={samples.Count})"));
    }
}
