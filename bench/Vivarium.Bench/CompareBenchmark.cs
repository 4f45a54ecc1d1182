using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Pool;
using Vivarium.Engine.Sessions;
using Vivarium.Server;

namespace Vivarium.Bench;

/// <summary>
/// Vivarium and its peers on the shared workloads (bench/workloads.json), side by side in one
/// run: Vivarium through its HTTP API and through the engine directly, an ipykernel kernel
/// through jupyter_client, a fresh /usr/bin/python3, the same in bubblewrap, and Pyodide in
/// Node. One table of medians, p95 and ratios, and the same as JSON in bench/results/.
/// The peers run one after the other, never while Vivarium is measured.
/// </summary>
internal static class CompareBenchmark
{
    private const string Key = "bench-key";
    private const string Tenant = "bench";

    private sealed class Options
    {
        public int Runs { get; set; } = 20;
        public int StartRuns { get; set; } = 5;
        public double WarmSeconds { get; set; } = 5;
        public int Burst { get; set; } = 50;
        public int ThroughputSessions { get; set; } = 32;
        public double ThroughputSeconds { get; set; } = 10;
        public bool BurstWithLargePool { get; set; } = true;
        public string Root { get; set; } = "";
        public string Output { get; set; } = "";
        public string? Only { get; set; }
        public double? IdleWait { get; set; }
        public Dictionary<string, string> Extra { get; } = [];
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length: o.Runs = Int(args[++i]); break;
                case "--start-runs" when i + 1 < args.Length: o.StartRuns = Int(args[++i]); break;
                case "--warm-seconds" when i + 1 < args.Length: o.WarmSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--burst" when i + 1 < args.Length: o.Burst = Int(args[++i]); break;
                case "--sessions" when i + 1 < args.Length: o.ThroughputSessions = Int(args[++i]); break;
                case "--seconds" when i + 1 < args.Length: o.ThroughputSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--no-large-pool": o.BurstWithLargePool = false; break;
                // W7's idle time before memory is read (KSM needs tens of seconds to merge).
                case "--w7-idle" when i + 1 < args.Length: o.IdleWait = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--root" when i + 1 < args.Length: o.Root = args[++i]; break;
                case "--out" when i + 1 < args.Length: o.Output = args[++i]; break;
                // vivarium | peers | burst | w7: measure one part only (for quick iterations while optimising).
                case "--only" when i + 1 < args.Length: o.Only = args[++i]; break;
                // Any --Vivarium:Section:Key=value is passed to the server (e.g. to try a setting).
                case var a when a.StartsWith("--Vivarium:", StringComparison.Ordinal) && a.Contains('=', StringComparison.Ordinal):
                    o.Extra[a[2..a.IndexOf('=', StringComparison.Ordinal)]] = a[(a.IndexOf('=', StringComparison.Ordinal) + 1)..];
                    break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'");
                    return 2;
            }
        }
        if (o.Root.Length == 0)
        {
            o.Root = Directory.GetCurrentDirectory();
        }
        if (o.Output.Length == 0)
        {
            o.Output = Path.Combine(o.Root, "bench", "results");
        }
        var workloadsPath = Path.Combine(o.Root, "bench", "workloads.json");
        var w = JsonNode.Parse(await File.ReadAllTextAsync(workloadsPath))!.AsObject();

        var total = Stopwatch.StartNew();
        var report = new JsonObject
        {
            ["started_at"] = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            ["machine"] = Machine(),
            ["options"] = new JsonObject
            {
                ["runs"] = o.Runs, ["start_runs"] = o.StartRuns, ["warm_seconds"] = o.WarmSeconds, ["burst"] = o.Burst,
                ["throughput_sessions"] = o.ThroughputSessions, ["throughput_seconds"] = o.ThroughputSeconds,
                ["server_settings"] = new JsonObject(o.Extra.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            },
        };
        var systems = new JsonObject();
        report["systems"] = systems;

        if (o.Only is null or "peers")
        {
            string peers = Path.Combine(o.Root, "bench", "peers");
            foreach (var peer in new[] { "jupyter", "process", "bwrap" })
            {
                systems[peer] = await RunPeerAsync(peer, "/usr/bin/python3",
                    [Path.Combine(peers, "peers.py"), peer, workloadsPath, Str(o.Runs), Str(o.StartRuns)], peers);
            }
            systems["pyodide"] = await RunPeerAsync("pyodide", "node",
                [Path.Combine(peers, "pyodide_peer.mjs"), workloadsPath, Str(o.Runs), Str(Math.Min(o.StartRuns, 3))], peers);
        }
        if (o.Only is null or "vivarium" or "burst" or "w7")
        {
            var (http, engine) = await MeasureVivariumAsync(o, w);
            systems["vivarium_http"] = http;
            systems["vivarium_engine"] = engine;
        }
        report["load_average_end"] = LoadAverage();
        report["elapsed_s"] = Math.Round(total.Elapsed.TotalSeconds, 1);

        var table = Table.Render(report);
        Console.WriteLine();
        Console.WriteLine(table);
        Directory.CreateDirectory(o.Output);
        var stamp = DateTimeOffset.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var json = report.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        await File.WriteAllTextAsync(Path.Combine(o.Output, $"compare-{stamp}.json"), json);
        await File.WriteAllTextAsync(Path.Combine(o.Output, $"compare-{stamp}.txt"), table);
        await File.WriteAllTextAsync(Path.Combine(o.Output, "latest.json"), json);
        await File.WriteAllTextAsync(Path.Combine(o.Output, "latest.txt"), table);
        Console.WriteLine($"written: bench/results/compare-{stamp}.json and .txt (also latest.json, latest.txt); {total.Elapsed.TotalSeconds:0} s in all");
        return 0;
    }

    // ------------------------------------------------------------------ peers

    private static async Task<JsonNode> RunPeerAsync(string name, string program, string[] arguments, string workingDirectory)
    {
        var load = LoadAverage();
        Console.WriteLine($"[{Now()}] peer {name} (load {load})…");
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }
        // ipykernel's debugger warns about frozen modules on every start: noise, not a result.
        start.Environment["PYDEVD_DISABLE_FILE_VALIDATION"] = "1";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            var error = (await stderr).Trim();
            Console.WriteLine($"  {name} FAILED (exit {process.ExitCode}): {error[Math.Max(0, error.Length - 1500)..]}");
            return new JsonObject { ["load_average"] = load, ["error"] = error[Math.Max(0, error.Length - 4000)..] };
        }
        var result = JsonNode.Parse(await stdout)!.AsObject();
        result["load_average"] = load;
        result["elapsed_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        foreach (var key in result.Select(kv => kv.Key).ToList())
        {
            if (result[key] is JsonArray samples)
            {
                result[key] = StatsNode(samples.Select(s => s!.GetValue<double>()).ToList());
            }
        }
        return result;
    }

    // ------------------------------------------------------------------ Vivarium

    // The warm-up goes on until no method has been compiled for this long (at most MaxWarm).
    private static readonly TimeSpan JitQuiet = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxWarm = TimeSpan.FromSeconds(60);

    private static async Task<(JsonObject Http, JsonObject Engine)> MeasureVivariumAsync(Options o, JsonObject w)
    {
        var http = new JsonObject();
        var engine = new JsonObject();
        string code(string workload, string field = "code") => w[workload]![field]!.GetValue<string>();
        string expect(string workload) => w[workload]!["expect"]!.GetValue<string>();

        // --only burst: just the two bursts, default pool and (unless --no-large-pool) a pool
        // sized for it (quick iterations on create).
        await using (var server = await BenchServer.StartAsync(o, poolSize: null))
        {
            if (o.Only == "burst")
            {
                http["load_average"] = LoadAverage();
                http["burst_default_pool"] = await BurstAsync(server, o.Burst, "default pool", keep: false);
                // The same again on the same server: the first burst is also the first time the
                // server starts sandboxes on demand, so it JIT-compiles (and recompiles at tier 1)
                // that path while it runs; a server that has seen a burst before has not to.
                http["burst_default_pool_again"] = await BurstAsync(server, o.Burst, "default pool, again", keep: false);
                goto largePool;
            }
            if (o.Only == "w7")
            {
                http["load_average"] = LoadAverage();
                http["W7"] = await IdleMemoryAsync(server, w, o);
                return (http, engine);
            }
            http["load_average"] = LoadAverage();
            engine["load_average"] = http["load_average"]!.DeepClone();
            http["pool_size"] = server.Pool.TargetSize;
            Console.WriteLine($"[{Now()}] Vivarium, pool of {server.Pool.TargetSize} (load {http["load_average"]})…");
            var c = server.Client;

            // W1: a new session and the result of `1+1`; a pool hit, the pool refilled (untimed)
            // before each sample, as for a server at rest.
            var w1Http = new List<double>();
            var w1Engine = new List<double>();
            for (int i = 0; i < Math.Max(o.StartRuns, 10); i++)
            {
                await Measurements.WaitForFullPoolAsync(server.Pool);
                var t = Stopwatch.StartNew();
                var id = await c.CreateAsync();
                Check(await c.ExecuteAsync(id, code("W1_start")), expect("W1_start"));
                w1Http.Add(t.Elapsed.TotalMilliseconds);
                await c.DeleteAsync(id);

                await Measurements.WaitForFullPoolAsync(server.Pool);
                t.Restart();
                var s = await server.Sessions.CreateAsync(Tenant, null, CancellationToken.None);
                Check(await s.ExecuteAsync(new ExecuteRequest(code("W1_start")), CancellationToken.None), expect("W1_start"));
                w1Engine.Add(t.Elapsed.TotalMilliseconds);
                await server.Sessions.DeleteAsync(Tenant, s.Id);
            }
            http["W1"] = StatsNode(w1Http);
            engine["W1"] = StatsNode(w1Engine);

            await Measurements.WaitForFullPoolAsync(server.Pool);
            var session = await c.CreateAsync();
            var direct = server.Sessions.Get(Tenant, session);
            // Taking a sandbox starts a refill (~1 s of CPU for the imports): let it finish, so
            // it does not run on the same two cores as the timed series.
            await Measurements.WaitForFullPoolAsync(server.Pool);
            // A server that has run for a minute has its hot paths compiled to optimised code
            // (tiered JIT); one just started runs them unoptimised for its first few thousand
            // requests. The warm series measure the former: a few seconds of `1+1` first.
            // And on until the JIT has gone quiet: recompiling the hot paths at tier 1 runs on a
            // background thread for ~8 s of such traffic here (3.5 s of CPU on two cores), and
            // a series measured meanwhile shares the cores with it.
            var warming = Stopwatch.StartNew();
            var quiet = Stopwatch.StartNew();
            long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            while (warming.Elapsed.TotalSeconds < o.WarmSeconds || (quiet.Elapsed < JitQuiet && warming.Elapsed < MaxWarm))
            {
                await c.ExecuteAsync(session, "1+1");
                await direct.ExecuteAsync(new ExecuteRequest("1+1"), CancellationToken.None);
                if (System.Runtime.JitInfo.GetCompiledMethodCount() is var now && now != compiled)
                {
                    compiled = now;
                    quiet.Restart();
                }
            }
            http["warm_s"] = Math.Round(warming.Elapsed.TotalSeconds, 1);
            Console.WriteLine($"  warmed for {warming.Elapsed.TotalSeconds:0.0} s ({compiled} methods compiled, none in the last {quiet.Elapsed.TotalSeconds:0.0} s)");
            // Interleaved per sample, so a burst of load from elsewhere hits both alike, and in
            // turns (HTTP first, then the engine first): an engine sample taken right after an
            // HTTP one shares the two cores with what the server and its client still do for
            // that request once it is answered (0.65 vs 0.59 ms for W2 in one run), so a fixed
            // order charged that to the engine alone.
            var series = new Dictionary<string, (List<double> Http, List<double> Engine)>();
            async Task Measure(string name, Func<Task> overHttp, Func<Task> overEngine, int runs)
            {
                await overHttp();   // warm-up: first use of the code path and its imports
                await overEngine();
                var pair = (Http: new List<double>(), Engine: new List<double>());
                async Task Timed(Func<Task> run, List<double> samples)
                {
                    var t = Stopwatch.StartNew();
                    await run();
                    samples.Add(t.Elapsed.TotalMilliseconds);
                }
                for (int i = 0; i < runs; i++)
                {
                    if (i % 2 == 0)
                    {
                        await Timed(overHttp, pair.Http);
                        await Timed(overEngine, pair.Engine);
                    }
                    else
                    {
                        await Timed(overEngine, pair.Engine);
                        await Timed(overHttp, pair.Http);
                    }
                }
                series[name] = pair;
            }
            async Task Engine(string source, string? expected)
            {
                var e = await direct.ExecuteAsync(new ExecuteRequest(source), CancellationToken.None);
                if (expected is not null)
                {
                    Check(e, expected);
                }
                else if (e.Status != ExecutionStatus.Ok)
                {
                    throw new InvalidOperationException(e.Summary);
                }
            }
            await Measure("W2",
                async () => Check(await c.ExecuteAsync(session, code("W2_trivial")), expect("W2_trivial")),
                () => Engine(code("W2_trivial"), expect("W2_trivial")), o.Runs * 3);
            await Measure("W3",
                async () =>
                {
                    await c.ExecuteAsync(session, code("W3_state", "code_set"));
                    Check(await c.ExecuteAsync(session, code("W3_state", "code_get")), expect("W3_state"));
                },
                async () =>
                {
                    await Engine(code("W3_state", "code_set"), null);
                    await Engine(code("W3_state", "code_get"), expect("W3_state"));
                }, o.Runs * 3);
            await Measure("W4",
                async () => Check(await c.ExecuteAsync(session, code("W4_pandas")), expect("W4_pandas")),
                () => Engine(code("W4_pandas"), expect("W4_pandas")), o.Runs);
            var magic = Convert.FromHexString(w["W5_chart"]!["png_magic_hex"]!.GetValue<string>());
            await Measure("W5",
                async () => CheckPng(await c.ExecuteAsync(session, code("W5_chart")), magic),
                async () =>
                {
                    var e = await direct.ExecuteAsync(new ExecuteRequest(code("W5_chart")), CancellationToken.None);
                    CheckPng(JsonSerializer.SerializeToNode(e, server.JsonOptions)!.AsObject(), magic);
                }, o.Runs);
            await Measure("W6",
                async () => Check(await c.ExecuteAsync(session, code("W6_cpu")), expect("W6_cpu")),
                () => Engine(code("W6_cpu"), expect("W6_cpu")), o.Runs);
            foreach (var (name, (h, e)) in series)
            {
                http[name] = StatsNode(h);
                engine[name] = StatsNode(e);
            }
            await c.DeleteAsync(session);

            http["W7"] = await IdleMemoryAsync(server, w, o);

            http["burst_default_pool"] = await BurstAsync(server, o.Burst, "default pool", keep: true);
            var throughput = await ThroughputAsync(server, o);
            http["throughput"] = throughput.Http;
            engine["throughput"] = throughput.Engine;
            foreach (var id in server.Created.ToList())
            {
                await c.DeleteAsync(id);
            }
        }

    largePool:
        if (o.BurstWithLargePool)
        {
            await using var server = await BenchServer.StartAsync(o, poolSize: o.Burst);
            Console.WriteLine($"[{Now()}] Vivarium, pool of {o.Burst}: filling (untimed)…");
            var fill = Stopwatch.StartNew();
            await Measurements.WaitForFullPoolAsync(server.Pool, TimeSpan.FromMinutes(5));
            Console.WriteLine($"  pool of {o.Burst} filled in {fill.Elapsed.TotalSeconds:0.0} s");
            http["burst_large_pool"] = await BurstAsync(server, o.Burst, $"pool of {o.Burst}", keep: false);
            http["burst_large_pool"]!["pool_fill_s"] = Math.Round(fill.Elapsed.TotalSeconds, 1);
        }
        return (http, engine);
    }

    /// <summary>
    /// W7: a fresh session, the imports (already preloaded in the pool), then idle; the PSS of
    /// its sandbox (and of its runner alone), found by a marker file in its workspace.
    /// </summary>
    private static async Task<JsonObject> IdleMemoryAsync(BenchServer server, JsonObject w, Options o)
    {
        var c = server.Client;
        await Measurements.WaitForFullPoolAsync(server.Pool);
        var idle = await c.CreateAsync();
        await c.ExecuteAsync(idle, "open('.w7-marker', 'w').close()");
        await c.ExecuteAsync(idle, w["W7_memory"]!["code"]!.GetValue<string>());
        await Measurements.WaitForFullPoolAsync(server.Pool);
        var wait = o.IdleWait ?? w["W7_memory"]!["idle_wait_s"]!.GetValue<double>();
        await Task.Delay(TimeSpan.FromSeconds(wait));
        var memory = RunnerMemory(".w7-marker");
        memory["idle_wait_s"] = wait;
        await c.DeleteAsync(idle);
        return memory;
    }

    private static async Task<JsonObject> BurstAsync(BenchServer server, int count, string label, bool keep)
    {
        // A server that has served one create before (JIT, first-request set-up), as any server
        // in use has; the burst's 50 connections are still new.
        await server.Client.DeleteAsync(await server.Client.CreateAsync());
        await Measurements.WaitForFullPoolAsync(server.Pool);
        var load = LoadAverage();
        Console.WriteLine($"[{Now()}] burst of {count} concurrent session creates, {label} (load {load})…");
        var samples = new double[count];
        var failures = 0;
        var cpuBefore = DescendantCpuTicks();
        var wall = Stopwatch.StartNew();
        var reasons = new System.Collections.Concurrent.ConcurrentBag<string>();
        var ids = await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            var t = Stopwatch.StartNew();
            try
            {
                var id = await server.Client.CreateAsync();
                samples[i] = t.Elapsed.TotalMilliseconds;
                return id;
            }
            catch (HttpRequestException e)
            {
                samples[i] = t.Elapsed.TotalMilliseconds;
                Interlocked.Increment(ref failures);
                reasons.Add($"after {t.Elapsed.TotalSeconds:0.0} s: {e.Message}");
                return null;
            }
        }));
        wall.Stop();
        var cpuAfter = DescendantCpuTicks();
        var cpuTicks = cpuAfter.Sum(kv => kv.Value.Ticks - cpuBefore.GetValueOrDefault(kv.Key).Ticks);
        // By depth below this process: 0 this process (server and client; its reaped children,
        // mkfs and mount, apart), 1 the zygote (or bubblewrap's outer process), 2 and deeper the
        // sandboxes' processes (fork server: A, B, the runner C; bubblewrap: init, the runner).
        var byDepth = new JsonObject
        {
            ["server"] = Ms(cpuAfter[Environment.ProcessId].Own - cpuBefore[Environment.ProcessId].Own),
            ["server_children"] = Ms(cpuAfter[Environment.ProcessId].Ticks - cpuAfter[Environment.ProcessId].Own
                - cpuBefore[Environment.ProcessId].Ticks + cpuBefore[Environment.ProcessId].Own),
        };
        foreach (var group in cpuAfter.Where(kv => kv.Value.Depth > 0).GroupBy(kv => kv.Value.Depth).OrderBy(g => g.Key))
        {
            byDepth[$"depth_{group.Key}"] = Ms(group.Sum(kv => kv.Value.Ticks - cpuBefore.GetValueOrDefault(kv.Key).Ticks));
        }
        static double Ms(long microseconds) => Math.Round(microseconds / 1000.0);
        var stats = StatsNode([.. samples]);
        stats["first_ms"] = Math.Round(samples.Min(), 1);
        // CPU of this process (server and client, and the mkfs/mount children it reaped) and of
        // every process below it (zygote, sandboxes), from the first request to the last answer.
        stats["cpu_ms"] = Math.Round(cpuTicks / 1000.0);
        stats["cpu_ms_per_create"] = Math.Round(cpuTicks / 1000.0 / count, 1);
        stats["wall_ms"] = Math.Round(wall.Elapsed.TotalMilliseconds);
        stats["cpu_ms_by_depth"] = byDepth;
        stats["failures"] = failures;
        stats["failure_reasons"] = new JsonArray([.. reasons.Take(5).Select(r => (JsonNode?)JsonValue.Create(r))]);
        stats["load_average"] = load;
        stats["pool_size"] = server.Pool.TargetSize;
        if (!keep)
        {
            foreach (var id in ids.OfType<string>())
            {
                await server.Client.DeleteAsync(id);
            }
        }
        return stats;
    }

    private const long MicrosecondsPerTick = 10_000; // USER_HZ is 100 on Linux

    /// <summary>
    /// utime + stime + cutime + cstime (µs) of this process and of every process
    /// descended from it, by pid: a difference of two of these is the CPU that process tree
    /// spent between them (processes that ended and were reaped count in their parent's).
    /// </summary>
    private static Dictionary<int, (long Ticks, long Own, int Depth)> DescendantCpuTicks()
    {
        var parents = new Dictionary<int, int>();
        var ticks = new Dictionary<int, (long Ticks, long Own)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }
            var stat = SafeRead($"{dir}/stat");
            int end = stat.LastIndexOf(')');
            if (end < 0)
            {
                continue;
            }
            // After "pid (comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17).
            var fields = stat[(end + 2)..].Split(' ');
            parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            long field(int i) => long.Parse(fields[i], CultureInfo.InvariantCulture) * MicrosecondsPerTick;
            // utime and stime are truncated to whole ticks (10 ms) per process, which loses most
            // of a short-lived sandbox process's few ms: its threads' scheduler run time (ns)
            // is exact. This process keeps utime + stime (its exited threads count there).
            long own = pid == Environment.ProcessId ? field(11) + field(12) : ThreadRunMicroseconds(dir);
            ticks[pid] = (own + field(13) + field(14), own);
        }
        var self = Environment.ProcessId;
        var result = new Dictionary<int, (long, long, int)>();
        foreach (var (pid, t) in ticks)
        {
            for (int p = pid, depth = 0; p > 1 && depth < 64; p = parents.GetValueOrDefault(p), depth++)
            {
                if (p == self)
                {
                    result[pid] = (t.Ticks, t.Own, depth);
                    break;
                }
            }
        }
        return result;
    }

    /// <summary>The run time of every thread of a process, from /proc/PID/task/*/schedstat, in µs.</summary>
    private static long ThreadRunMicroseconds(string procDir)
    {
        long ns = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories(Path.Combine(procDir, "task")))
            {
                var text = SafeRead(Path.Combine(task, "schedstat"));
                var space = text.IndexOf(' ', StringComparison.Ordinal);
                if (space > 0)
                {
                    ns += long.Parse(text[..space], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return ns / 1000;
    }

    /// <summary>
    /// Trivial executions per second across N sessions, each driven by its own client loop,
    /// over HTTP and then through the engine. The client runs in this process, on the same two
    /// cores as the server and the sandboxes: a real deployment's client would not.
    /// </summary>
    private static async Task<(JsonObject Http, JsonObject Engine)> ThroughputAsync(BenchServer server, Options o)
    {
        var ids = server.Created.Take(o.ThroughputSessions).ToList();
        while (ids.Count < o.ThroughputSessions)
        {
            ids.Add(await server.Client.CreateAsync());
        }
        foreach (var id in ids)
        {
            await server.Client.ExecuteAsync(id, "1+1");
        }
        await Measurements.WaitForFullPoolAsync(server.Pool);
        var load = LoadAverage();
        Console.WriteLine($"[{Now()}] throughput: `1+1` across {ids.Count} sessions for {o.ThroughputSeconds} s each over HTTP and the engine (load {load})…");

        async Task<JsonObject> Run(Func<string, Task> once)
        {
            var stop = Stopwatch.StartNew();
            var duration = TimeSpan.FromSeconds(o.ThroughputSeconds);
            var latencies = new List<double>[ids.Count];
            await Task.WhenAll(ids.Select((id, i) => Task.Run(async () =>
            {
                latencies[i] = [];
                while (stop.Elapsed < duration)
                {
                    var t = Stopwatch.StartNew();
                    await once(id);
                    latencies[i].Add(t.Elapsed.TotalMilliseconds);
                }
            })));
            var elapsed = stop.Elapsed.TotalSeconds;
            var all = latencies.SelectMany(l => l).ToList();
            var stats = StatsNode(all);
            stats["executions"] = all.Count;
            stats["per_second"] = Math.Round(all.Count / elapsed, 1);
            stats["sessions"] = ids.Count;
            stats["load_average"] = load;
            return stats;
        }
        var overHttp = await Run(async id => Check(await server.Client.ExecuteAsync(id, "1+1"), "2"));
        var overEngine = await Run(async id =>
            Check(await server.Sessions.Get(Tenant, id).ExecuteAsync(new ExecuteRequest("1+1"), CancellationToken.None), "2"));
        return (overHttp, overEngine);
    }

    /// <summary>
    /// The memory of the session whose workspace holds <paramref name="marker"/>: PSS of the
    /// whole sandbox (every process of its cgroup: bubblewrap's two, or the fork server's outer
    /// process and pid 1, beside the runner), and of the runner alone (pid 2 of its namespace).
    /// </summary>
    private static JsonObject RunnerMemory(string marker)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var pid = Path.GetFileName(dir);
            if (!pid.All(char.IsAsciiDigit))
            {
                continue;
            }
            try
            {
                if (!IsRunner(dir) || !File.Exists($"/proc/{pid}/cwd/{marker}"))
                {
                    continue;
                }
                var members = SandboxMembers(pid);
                return new JsonObject
                {
                    ["pss_kib"] = members.Sum(m => TryField($"/proc/{m}/smaps_rollup", "Pss:")),
                    ["rss_kib"] = Field($"/proc/{pid}/status", "VmRSS:"),
                    ["runner_pss_kib"] = Field($"/proc/{pid}/smaps_rollup", "Pss:"),
                    ["sandbox_processes"] = members.Count,
                    ["runners_on_host"] = CountRunners(),
                };
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return new JsonObject { ["error"] = "the session's runner was not found (is the harness running as root?)" };
    }

    // A runner is pid 2 of its sandbox's pid namespace, started as the runner (bubblewrap) or
    // forked from the zygote (fork-server mode), whose command line it keeps.
    private static bool IsRunner(string procDir)
    {
        var cmdline = SafeRead($"{procDir}/cmdline");
        return cmdline.StartsWith("/usr/bin/python3", StringComparison.Ordinal)
            && (cmdline.Contains("vivarium_runner.py", StringComparison.Ordinal) || cmdline.Contains("vivarium_zygote.py", StringComparison.Ordinal))
            && SafeRead($"{procDir}/status").Split('\n').FirstOrDefault(l => l.StartsWith("NSpid:", StringComparison.Ordinal))?.Split('\t').LastOrDefault()?.Trim() == "2";
    }

    private static List<string> SandboxMembers(string pid)
    {
        // cgroup v1: the pids hierarchy; v2: the single one.
        var lines = File.ReadAllLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).ToList();
        var v1 = lines.FirstOrDefault(p => p[1] == "pids");
        var procs = v1 is not null ? $"/sys/fs/cgroup/pids{v1[2]}/cgroup.procs" : $"/sys/fs/cgroup{lines.First(p => p[1].Length == 0)[2]}/cgroup.procs";
        return [.. File.ReadAllLines(procs).Where(l => l.Length > 0)];
    }

    private static long TryField(string file, string key)
    {
        try
        {
            return Field(file, key);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return 0; // the process ended while we looked
        }
    }

    private static int CountRunners() => Directory.EnumerateDirectories("/proc")
        .Count(d => Path.GetFileName(d).All(char.IsAsciiDigit) && IsRunner(d));

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static long Field(string file, string key) =>
        long.Parse(File.ReadLines(file).First(l => l.StartsWith(key, StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    // ------------------------------------------------------------------ helpers

    private static void Check(JsonObject execution, string expected)
    {
        var text = execution["result"]?["text/plain"]?.GetValue<string>();
        if (text != expected)
        {
            throw new InvalidOperationException($"expected {expected}, got {execution["summary"]}");
        }
    }

    private static void Check(Execution execution, string expected)
    {
        if (execution.Status != ExecutionStatus.Ok || execution.Result?["text/plain"].GetString() != expected)
        {
            throw new InvalidOperationException($"expected {expected}, got {execution.Summary}");
        }
    }

    private static void CheckPng(JsonObject execution, byte[] magic)
    {
        foreach (var output in execution["outputs"]!.AsArray())
        {
            if (output?["type"]?.GetValue<string>() == "display_data" && output["data"]?["image/png"] is JsonNode png)
            {
                if (!Convert.FromBase64String(png.GetValue<string>()).AsSpan(0, 8).SequenceEqual(magic))
                {
                    throw new InvalidOperationException("not a PNG");
                }
                return;
            }
        }
        throw new InvalidOperationException($"no PNG in the response: {execution["summary"]}");
    }

    public static JsonObject StatsNode(List<double> samples)
    {
        var s = Measurements.Stats(samples);
        var node = new JsonObject { ["n"] = samples.Count };
        foreach (var (k, v) in s)
        {
            node[k + "_ms"] = v;
        }
        return node;
    }

    private static JsonObject Machine() => new()
    {
        ["cores"] = Environment.ProcessorCount,
        ["memory_gib"] = Math.Round(Field("/proc/meminfo", "MemTotal:") / 1024.0 / 1024.0, 1),
        ["kernel"] = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
        ["os"] = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"') ?? "",
        ["cpu"] = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "",
        ["load_average_start"] = LoadAverage(),
    };

    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static string Now() => DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture);

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static string Str(int i) => i.ToString(CultureInfo.InvariantCulture);

    /// <summary>The real server on Kestrel at 127.0.0.1, with a client that checks every answer.</summary>
    private sealed class BenchServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _state;

        private BenchServer(WebApplication app, string state, BenchClient client)
        {
            _app = app;
            _state = state;
            Client = client;
            Pool = app.Services.GetRequiredService<SandboxPool>();
            Sessions = app.Services.GetRequiredService<SessionService>();
            JsonOptions = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        }

        public BenchClient Client { get; }
        public SandboxPool Pool { get; }
        public SessionService Sessions { get; }
        public JsonSerializerOptions JsonOptions { get; }
        public List<string> Created => Client.Created;

        public static async Task<BenchServer> StartAsync(Options o, int? poolSize)
        {
            var state = Path.Combine("/tmp", "vivarium-bench-compare-" + Guid.NewGuid().ToString("N")[..8]);
            var settings = new Dictionary<string, string>
            {
                ["Vivarium:Sandbox:StateDirectory"] = state,
                ["Vivarium:Auth:Keys:0:Key"] = Key,
                ["Vivarium:Auth:Keys:0:Tenant"] = Tenant,
                ["Vivarium:Server:ExecutionsPerMinute"] = "1000000",
                // The burst and the throughput test hold 50 sessions for one tenant.
                ["Vivarium:Sessions:MaxSessionsPerTenant"] = "128",
                ["Vivarium:Sessions:MaxSessions"] = "128",
            };
            foreach (var (k, v) in o.Extra)
            {
                settings[k] = v;
            }
            if (poolSize is int size)
            {
                settings["Vivarium:Pool:Size"] = size.ToString(CultureInfo.InvariantCulture);
            }
            var args = new List<string> { "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning" };
            args.AddRange(settings.Select(kv => $"--{kv.Key}={kv.Value}"));
            var app = VivariumServer.Build([.. args]);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(3) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
            var server = new BenchServer(app, state, new BenchClient(http));
            await server.Pool.Initialized;
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
            try
            {
                Directory.Delete(_state, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed class BenchClient(HttpClient http) : IDisposable
    {
        public List<string> Created { get; } = [];

        public async Task<string> CreateAsync()
        {
            using var response = await http.PostAsync("/v1/sessions", null);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"POST /v1/sessions: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
            var id = JsonNode.Parse(await response.Content.ReadAsStreamAsync())!["id"]!.GetValue<string>();
            lock (Created)
            {
                Created.Add(id);
            }
            return id;
        }

        public async Task<JsonObject> ExecuteAsync(string session, string code)
        {
            using var response = await http.PostAsJsonAsync($"/v1/sessions/{session}/execute", new { code });
            var body = JsonNode.Parse(await response.Content.ReadAsStreamAsync())!.AsObject();
            if (!response.IsSuccessStatusCode || body["status"]?.GetValue<string>() != "ok")
            {
                throw new InvalidOperationException($"execute failed: {body.ToJsonString()[..Math.Min(2000, body.ToJsonString().Length)]}");
            }
            return body;
        }

        public async Task DeleteAsync(string session)
        {
            using var response = await http.DeleteAsync($"/v1/sessions/{session}");
            lock (Created)
            {
                Created.Remove(session);
            }
        }

        public void Dispose() => http.Dispose();
    }
}
