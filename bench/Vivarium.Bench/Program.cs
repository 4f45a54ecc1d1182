using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Pool;
using Vivarium.Engine.Sessions;
using Vivarium.Bench;

// Measures the engine directly, no HTTP in front, so the figures compare with the peers'
// in docs (Jupyter kernel, fresh process, Pyodide), which were taken the same way.
//
//   dotnet run -c Release --project bench/Vivarium.Bench -- engine [--runs N] [--no-start] [--json PATH]
//   dotnet run -c Release --project bench/Vivarium.Bench -- http   [--runs N] [--json PATH]

if (args.Length > 0 && args[0] == "compare")
{
    return await Vivarium.Bench.CompareBenchmark.RunAsync(args[1..]);
}
if (args.Length > 0 && args[0] == "http")
{
    return await Vivarium.Bench.HttpBenchmark.RunAsync(args[1..]);
}
if (args.Length == 0 || args[0] != "engine")
{
    Console.Error.WriteLine("usage: Vivarium.Bench engine|http [--runs N] [--json PATH] | compare [see bench/run]");
    return 2;
}
int runs = 100;
string? jsonPath = null;
bool noStart = false;
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs" when i + 1 < args.Length:
            runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--json" when i + 1 < args.Length:
            jsonPath = args[++i];
            break;
        case "--no-start":
            noStart = true;
            break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'");
            return 2;
    }
}

var stateDirectory = Path.Combine("/tmp", "vivarium-bench-" + Guid.NewGuid().ToString("N")[..8]);
var builder = Host.CreateApplicationBuilder();
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["Vivarium:Sandbox:StateDirectory"] = stateDirectory,
    ["Vivarium:Pool:Size"] = "2",
});
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddVivariumEngine();
using var host = builder.Build();
await host.StartAsync();
var pool = host.Services.GetRequiredService<SandboxPool>();
var sessions = host.Services.GetRequiredService<SessionService>();
await pool.Initialized;

try
{
    Console.WriteLine($"Vivarium engine benchmark: {runs} runs each, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

    // (a) A session from the warm pool. The pool is refilled before each sample (untimed), so
    // every sample is a pool hit, which is what a client of a server at rest sees.
    // The same sample, carried on to the first `1+1`, is the peers' W1 ("new environment →
    // result of 1+1"): the first cell of a fresh interpreter.
    var create = new List<double>();
    var createAndFirst = new List<double>();
    for (int i = 0; i < (noStart ? 0 : runs); i++)
    {
        await Measurements.WaitForFullPoolAsync(pool);
        var clock = Stopwatch.StartNew();
        var session = await sessions.CreateAsync("bench", null, CancellationToken.None);
        create.Add(clock.Elapsed.TotalMilliseconds);
        var first = await session.ExecuteAsync(new ExecuteRequest("1+1"), CancellationToken.None);
        createAndFirst.Add(clock.Elapsed.TotalMilliseconds);
        Check(first);
        await sessions.DeleteAsync("bench", session.Id);
    }
    if (!noStart)
    {
        Measurements.Report("session from the warm pool", create);
        Measurements.Report("W1  warm pool → result of `1+1`", createAndFirst);
    }

    // (b) `1+1` in a started session: the engine's round trip (frames, the runner's cell,
    // output shaping, summary). Three seconds of warm-up cells first: a server that has run
    // for a while has its hot paths JIT-compiled to optimised code.
    await Measurements.WaitForFullPoolAsync(pool);
    var warm = await sessions.CreateAsync("bench", null, CancellationToken.None);
    await Measurements.WaitForFullPoolAsync(pool);
    for (var warming = Stopwatch.StartNew(); warming.Elapsed < TimeSpan.FromSeconds(3);)
    {
        await warm.ExecuteAsync(new ExecuteRequest("1+1"), CancellationToken.None);
    }
    var roundTrip = new List<double>();
    for (int i = 0; i < runs; i++)
    {
        var clock = Stopwatch.StartNew();
        var execution = await warm.ExecuteAsync(new ExecuteRequest("1+1"), CancellationToken.None);
        roundTrip.Add(clock.Elapsed.TotalMilliseconds);
        Check(execution);
    }
    await sessions.DeleteAsync("bench", warm.Id);
    Measurements.Report("W2  `1+1` in a started session", roundTrip);

    if (jsonPath is not null)
    {
        var results = new Dictionary<string, object>
        {
            ["runs"] = runs,
            ["one_plus_one_ms"] = Measurements.Stats(roundTrip),
        };
        if (!noStart)
        {
            results["session_from_pool_ms"] = Measurements.Stats(create);
            results["session_from_pool_then_one_plus_one_ms"] = Measurements.Stats(createAndFirst);
        }
        await Measurements.WriteJsonAsync(jsonPath, results);
    }
    return 0;
}
finally
{
    await host.StopAsync();
    Directory.Delete(stateDirectory, recursive: true);
}

static void Check(Execution execution)
{
    if (execution.Status != ExecutionStatus.Ok || execution.Result?["text/plain"].GetString() != "2")
    {
        throw new InvalidOperationException($"1+1 did not give 2: {execution.Summary}");
    }
}
