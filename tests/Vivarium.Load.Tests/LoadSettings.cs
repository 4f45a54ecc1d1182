using System.Globalization;

namespace Vivarium.Load.Tests;

/// <summary>
/// The size of one run. The small run fits the test command on a 2-core machine; the soak is
/// the same scenario for longer, with the stricter memory bound that only a long run can judge.
/// </summary>
public sealed record LoadSettings
{
    /// <summary>Name shown in the report.</summary>
    public required string Name { get; init; }

    /// <summary>How long the workers and the fault injector run (the checks around it come on top).</summary>
    public required TimeSpan Duration { get; init; }

    /// <summary>Session workers, each living through sessions one after another.</summary>
    public int Workers { get; init; } = 3;

    /// <summary>Warm sandboxes the server keeps (Vivarium:Pool:Size).</summary>
    public int PoolSize { get; init; } = 2;

    /// <summary>Server-wide session limit (Vivarium:Sessions:MaxSessions), small so back-pressure is reachable.</summary>
    public int MaxSessions { get; init; } = 5;

    /// <summary>Mean time between random sandbox kills by the fault injector.</summary>
    public TimeSpan KillInterval { get; init; } = TimeSpan.FromSeconds(7);

    /// <summary>Executions on the last server process before its memory counts as warmed up.</summary>
    public int WarmupExecutions { get; init; } = 200;

    /// <summary>Executions the last server process must have served for the memory check to mean anything.</summary>
    public int MinMeasuredExecutions { get; init; } = 600;

    /// <summary>The longest the memory phase may drive executions to reach <see cref="MinMeasuredExecutions"/>.</summary>
    public TimeSpan MemoryPhaseLimit { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>How much the server's RSS may grow from after warm-up to the end: a fixed allowance …</summary>
    public long RssGrowthAllowanceBytes { get; init; } = 96L * 1024 * 1024;

    /// <summary>… plus this fraction of the warmed-up RSS.</summary>
    public double RssGrowthFraction { get; init; } = 0.5;

    /// <summary>The whole scenario (start, load, restarts, checks) must end within this, or the run fails as hung.</summary>
    public required TimeSpan HardLimit { get; init; }

    /// <summary>Seed of the random choices, printed in the report so a failing run can be replayed.</summary>
    public int Seed { get; init; } = Environment.TickCount;

    /// <summary>The size run by the ordinary test command: about a minute of load and checks.</summary>
    public static LoadSettings Small() => new()
    {
        Name = "small",
        Duration = TimeSpan.FromSeconds(40),
        HardLimit = TimeSpan.FromSeconds(300),
        Seed = SeedFromEnvironment() ?? Environment.TickCount,
    };

    /// <summary>
    /// The soak, when VIVARIUM_SOAK_MINUTES is set: more workers, the same faults spread over
    /// the duration, at least 10,000 executions on one server process, and a tighter memory bound.
    /// </summary>
    public static LoadSettings? SoakFromEnvironment()
    {
        var minutes = Environment.GetEnvironmentVariable("VIVARIUM_SOAK_MINUTES");
        if (string.IsNullOrWhiteSpace(minutes))
        {
            return null;
        }
        if (!double.TryParse(minutes, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value <= 0 || value > 24 * 60)
        {
            throw new ArgumentException($"VIVARIUM_SOAK_MINUTES must be a number of minutes (0 < m ≤ 1440), not '{minutes}'");
        }
        var executions = Environment.GetEnvironmentVariable("VIVARIUM_SOAK_EXECUTIONS");
        return new LoadSettings
        {
            Name = $"soak ({value:0.#} min)",
            Duration = TimeSpan.FromMinutes(value),
            Workers = 5,
            PoolSize = 3,
            MaxSessions = 12,
            KillInterval = TimeSpan.FromSeconds(8),
            WarmupExecutions = 1000,
            MinMeasuredExecutions = string.IsNullOrWhiteSpace(executions) ? 10_000 : int.Parse(executions, CultureInfo.InvariantCulture),
            RssGrowthAllowanceBytes = 48L * 1024 * 1024,
            RssGrowthFraction = 0.15,
            MemoryPhaseLimit = TimeSpan.FromMinutes(20),
            HardLimit = TimeSpan.FromMinutes(value) + TimeSpan.FromMinutes(30),
            Seed = SeedFromEnvironment() ?? Environment.TickCount,
        };
    }

    private static int? SeedFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("VIVARIUM_LOAD_SEED"), CultureInfo.InvariantCulture, out int seed) ? seed : null;
}
