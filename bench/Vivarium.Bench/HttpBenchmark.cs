using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Vivarium.Engine.Pool;
using Vivarium.Server;

namespace Vivarium.Bench;

/// <summary>
/// The same measures as the engine benchmark, but as a client sees them: the real server on
/// Kestrel at 127.0.0.1, HTTP/1.1 with keep-alive, JSON in and out.
/// </summary>
internal static class HttpBenchmark
{
    private const string Key = "bench-key";

    public static async Task<int> RunAsync(string[] args)
    {
        int runs = 100;
        string? jsonPath = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length:
                    runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--json" when i + 1 < args.Length:
                    jsonPath = args[++i];
                    break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'");
                    return 2;
            }
        }
        var state = Path.Combine("/tmp", "vivarium-bench-http-" + Guid.NewGuid().ToString("N")[..8]);
        await using var app = VivariumServer.Build([
            "--urls", "http://127.0.0.1:0",
            $"--Vivarium:Sandbox:StateDirectory={state}",
            "--Vivarium:Pool:Size=2",
            $"--Vivarium:Auth:Keys:0:Key={Key}",
            "--Vivarium:Server:ExecutionsPerMinute=1000000",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var pool = app.Services.GetRequiredService<SandboxPool>();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
            Console.WriteLine($"Vivarium HTTP benchmark: {runs} runs each, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

            // W1 over HTTP: POST /v1/sessions, then execute `1+1`. The pool is refilled before
            // each sample (untimed), as for a server at rest.
            var create = new List<double>();
            var createAndFirst = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                await Measurements.WaitForFullPoolAsync(pool);
                var clock = Stopwatch.StartNew();
                var id = await CreateAsync(http);
                create.Add(clock.Elapsed.TotalMilliseconds);
                await OnePlusOneAsync(http, id);
                createAndFirst.Add(clock.Elapsed.TotalMilliseconds);
                await http.DeleteAsync($"/v1/sessions/{id}");
            }
            Measurements.Report("POST /v1/sessions", create);
            Measurements.Report("W1  POST /v1/sessions + `1+1`", createAndFirst);

            await Measurements.WaitForFullPoolAsync(pool);
            var session = await CreateAsync(http);
            for (int i = 0; i < 5; i++)
            {
                await OnePlusOneAsync(http, session);
            }
            var roundTrip = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                var clock = Stopwatch.StartNew();
                await OnePlusOneAsync(http, session);
                roundTrip.Add(clock.Elapsed.TotalMilliseconds);
            }
            Measurements.Report("W2  `1+1` in a started session", roundTrip);

            if (jsonPath is not null)
            {
                await Measurements.WriteJsonAsync(jsonPath, new Dictionary<string, object>
                {
                    ["runs"] = runs,
                    ["create_session_ms"] = Measurements.Stats(create),
                    ["create_session_then_one_plus_one_ms"] = Measurements.Stats(createAndFirst),
                    ["one_plus_one_ms"] = Measurements.Stats(roundTrip),
                });
            }
            return 0;
        }
        finally
        {
            await app.StopAsync();
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task<string> CreateAsync(HttpClient http)
    {
        using var response = await http.PostAsync("/v1/sessions", null);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
        return body.RootElement.GetProperty("id").GetString()!;
    }

    private static async Task OnePlusOneAsync(HttpClient http, string session)
    {
        using var response = await http.PostAsJsonAsync($"/v1/sessions/{session}/execute", new { code = "1+1" });
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
        if (body.RootElement.GetProperty("result").GetProperty("text/plain").GetString() != "2")
        {
            throw new InvalidOperationException("1+1 did not give 2");
        }
    }
}
