using System.ComponentModel.DataAnnotations;

namespace Vivarium.Engine;

/// <summary>Session lifetimes and quotas (configuration section <c>Vivarium:Sessions</c>).</summary>
public sealed class SessionOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Sessions";

    /// <summary>A session with no activity for this long is ended (a client may ask for less or more, up to <see cref="MaxIdleTimeout"/>).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>The longest idle timeout a client may ask for.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan MaxIdleTimeout { get; set; } = TimeSpan.FromHours(24);

    /// <summary>A session ends this long after it was created, however busy.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Sessions one tenant may hold at once.</summary>
    [Range(1, 100_000)]
    public int MaxSessionsPerTenant { get; set; } = 20;

    /// <summary>Sessions the whole server may hold at once (each is a Python process of ~100 MB).</summary>
    [Range(1, 100_000)]
    public int MaxSessions { get; set; } = 64;

    /// <summary>On shutdown, how long running executions may go on before every sandbox is ended.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How often expired sessions are looked for.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan ReapInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>The warm pool (configuration section <c>Vivarium:Pool</c>).</summary>
public sealed class PoolOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Pool";

    /// <summary>Sandboxes kept started, with numpy, pandas and matplotlib imported. 0 turns the pool off.</summary>
    [Range(0, 1000)]
    public int Size { get; set; } = 2;

    /// <summary>Sandboxes started at once when the pool is empty (each start is ~1 s of CPU).</summary>
    [Range(1, 256)]
    public int MaxConcurrentStarts { get; set; } = 4;

    /// <summary>How long a session create waits for a sandbox before answering sandbox_unavailable.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Execution limits and output shaping (configuration section <c>Vivarium:Execution</c>).</summary>
public sealed class ExecutionOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Execution";

    /// <summary>Timeout when a request names none.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest timeout a request may ask for.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "7.00:00:00")]
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>After an interrupt, how long the code has to stop before the sandbox is killed (its state is then lost).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan InterruptGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Largest code accepted, in UTF-16 characters.</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxCodeChars { get; set; } = 1024 * 1024;

    /// <summary>Characters of stdout (and, separately, stderr) kept from the start of an execution.</summary>
    [Range(16, 256 * 1024 * 1024)]
    public int StreamHeadChars { get; set; } = 100_000;

    /// <summary>Characters of stdout (and stderr) kept from the end, after the elided middle.</summary>
    [Range(16, 256 * 1024 * 1024)]
    public int StreamTailChars { get; set; } = 20_000;

    /// <summary>Rich outputs (charts, tables) kept per execution; later ones are counted, not kept.</summary>
    [Range(1, 10_000)]
    public int MaxDisplayOutputs { get; set; } = 50;

    /// <summary>
    /// Bytes of rich output (displays, results, errors) kept per execution. Each object is
    /// already capped in size; this bounds how many a cell can pile up, so one execution cannot
    /// make the server hold (and send) hundreds of megabytes.
    /// </summary>
    [Range(1024, 1024L * 1024 * 1024)]
    public long MaxRichOutputBytes { get; set; } = 24L * 1024 * 1024;

    /// <summary>Errors kept per execution (a cell can report many through showtraceback).</summary>
    [Range(1, 1000)]
    public int MaxErrorOutputs { get; set; } = 10;

    /// <summary>Characters in the summary written for a language model.</summary>
    [Range(200, 1_000_000)]
    public int SummaryBudgetChars { get; set; } = 4000;
}
