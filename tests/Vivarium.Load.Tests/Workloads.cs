using System.Text.Json;

namespace Vivarium.Load.Tests;

/// <summary>One workload from the shared workloads.json, as one execute request.</summary>
/// <param name="Name">W1_start … W7_memory.</param>
/// <param name="Code">What is sent.</param>
/// <param name="ExpectedResult">The text/plain of the last expression, when it has one.</param>
/// <param name="ExpectedStdout">What it prints (W1's print variant), besides the token.</param>
/// <param name="ExpectsPng">True when it must display a PNG (W5).</param>
public sealed record Workload(string Name, string Code, string? ExpectedResult, string ExpectedStdout, bool ExpectsPng);

/// <summary>
/// The workloads shared by every peer (shared/bench/workloads.json), read from the file so the
/// harness runs exactly what the benchmarks run. W3's two halves are separate workloads: the
/// "get" half only counts where the "set" half ran in the same interpreter.
/// </summary>
public static class Workloads
{
    /// <summary>W3's setter; after it, <see cref="StateGet"/> must answer 42.</summary>
    public static Workload StateSet { get; private set; } = null!;

    /// <summary>W3's getter.</summary>
    public static Workload StateGet { get; private set; } = null!;

    /// <summary>The stateless workloads (W1, W2, W4, W5, W6, W7).</summary>
    public static IReadOnlyList<Workload> Stateless { get; private set; } = [];

    /// <summary>Where the file was found.</summary>
    public static string Source { get; private set; } = "";

    private static readonly Lock Gate = new();

    /// <summary>Finds and reads workloads.json: VIVARIUM_WORKLOADS, else shared/bench/ in any folder above, else the checkout's bench/ copy.</summary>
    public static void Load()
    {
        lock (Gate)
        {
            if (Stateless.Count > 0)
            {
                return;
            }
            var path = Find() ?? throw new LoadAbortedException(
                "neither shared/bench/workloads.json nor the checkout's bench/workloads.json was found above " + AppContext.BaseDirectory +
                "; set VIVARIUM_WORKLOADS to its path");
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var root = document.RootElement;
            string Get(string workload, string field) => root.GetProperty(workload).GetProperty(field).GetString()!;

            StateSet = new Workload("W3_state set", Get("W3_state", "code_set"), null, "", false);
            StateGet = new Workload("W3_state get", Get("W3_state", "code_get"), Get("W3_state", "expect"), "", false);
            Stateless =
            [
                // W1 measures a session's first answer; its print variant is what a first request sends.
                new Workload("W1_start", Get("W1_start", "print_code"), null, Get("W1_start", "expect") + "\n", false),
                new Workload("W2_trivial", Get("W2_trivial", "code"), Get("W2_trivial", "expect"), "", false),
                new Workload("W4_pandas", Get("W4_pandas", "code"), Get("W4_pandas", "expect"), "", false),
                new Workload("W5_chart", Get("W5_chart", "code"), null, "", true),
                new Workload("W6_cpu", Get("W6_cpu", "code"), Get("W6_cpu", "expect"), "", false),
                new Workload("W7_memory", Get("W7_memory", "code"), null, "", false),
            ];
            Source = path;
        }
    }

    private static string? Find()
    {
        var configured = Environment.GetEnvironmentVariable("VIVARIUM_WORKLOADS");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured) ? configured : throw new LoadAbortedException($"VIVARIUM_WORKLOADS names {configured}, which does not exist");
        }
        // The peers' own file (shared/ beside the checkout: worktrees, CI's clone) is the one
        // of record; the checkout's bench/workloads.json is a copy, for a clone without it.
        string? copy = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var shared = Path.Combine(dir.FullName, "shared", "bench", "workloads.json");
            if (File.Exists(shared))
            {
                return shared;
            }
            var inCheckout = Path.Combine(dir.FullName, "bench", "workloads.json");
            if (copy is null && File.Exists(inCheckout) && File.Exists(Path.Combine(dir.FullName, "Vivarium.slnx")))
            {
                copy = inCheckout;
            }
        }
        return copy;
    }
}
