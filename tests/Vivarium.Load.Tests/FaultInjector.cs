using System.Diagnostics;
using System.Text.Json;

namespace Vivarium.Load.Tests;

/// <summary>
/// Faults that come from outside any one session, on a schedule spread over the run: random
/// SIGKILLs of sandboxes (warm ones in the pool and sessions' ones alike), a burst of session
/// creates larger than the pool and the free session slots, and two server restarts (SIGTERM,
/// then SIGKILL), early enough that the last server process serves most of the executions the
/// memory check looks at.
/// </summary>
internal sealed class FaultInjector(LoadScenario scenario, int seed)
{
    private readonly Random _random = new(seed);
    private Ledger L => scenario.Ledger;

    /// <summary>Kills of warm pool sandboxes: they count as survived once the pool is back to its size.</summary>
    public long PoolKills { get; private set; }

    public async Task RunAsync(TimeSpan duration, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        // Restarts first, so the last server process serves most of the run (the memory check
        // looks at it); then the burst, against that last server. Each waits for the one before
        // to finish and for some load in between, however slow the machine is.
        var scheduled = new Queue<(double Fraction, string What, Func<Task> Act)>(
        [
            (0.15, "SIGTERM", () => scenario.RestartAsync(kill: false)),
            (0.35, "SIGKILL", () => scenario.RestartAsync(kill: true)),
            (0.55, "burst", BurstAsync),
        ]);
        var gap = duration * 0.2; // load on each server before the next restart, whatever the machine's speed
        var nextScheduled = duration * scheduled.Peek().Fraction;
        var nextKill = Jitter(scenario.Settings.KillInterval);
        while (!stop.IsCancellationRequested)
        {
            bool isScheduled = scheduled.Count > 0 && nextScheduled <= nextKill;
            var next = isScheduled ? nextScheduled : nextKill;
            if (next >= duration)
            {
                return;
            }
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stop); // the schedule, not a synchronisation
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            if (isScheduled)
            {
                var item = scheduled.Dequeue();
                try
                {
                    await item.Act();
                }
                catch (LoadAbortedException e)
                {
                    L.Violation("fault injector", $"{item.What}: {e.Message}");
                    throw;
                }
                if (scheduled.Count > 0)
                {
                    var at = duration * scheduled.Peek().Fraction;
                    nextScheduled = at > clock.Elapsed + gap ? at : clock.Elapsed + gap;
                }
            }
            else
            {
                KillRandomSandbox();
                nextKill = clock.Elapsed + Jitter(scenario.Settings.KillInterval);
            }
        }
    }

    private TimeSpan Jitter(TimeSpan mean) => mean * (0.5 + _random.NextDouble());

    /// <summary>SIGKILLs every process of one random running sandbox, registering the kill first so its session knows.</summary>
    private void KillRandomSandbox()
    {
        if (scenario.IsDown)
        {
            return;
        }
        // Mostly sessions' sandboxes (what a client would suffer), sometimes a warm one in the pool.
        var all = scenario.Probe.Workspaces().ToList();
        var sessions = all.Where(w => HostProbe.HasMarker(w, SessionWorker.Marker)).ToList();
        var candidates = sessions.Count > 0 && _random.Next(4) != 0 ? sessions : all;
        while (candidates.Count > 0)
        {
            var workspace = candidates[_random.Next(candidates.Count)];
            candidates.Remove(workspace);
            bool session = HostProbe.HasMarker(workspace, SessionWorker.Marker);
            if (scenario.Probe.SandboxOn(workspace) is null)
            {
                continue; // between sandboxes (being replaced): pick another
            }
            // Registered (and counted) before the kill, so the session that suffers it knows;
            // a sandbox that ended in between was still the one the session had.
            scenario.RecordKill(workspace);
            scenario.Probe.KillSandbox(workspace);
            scenario.KillLanded(workspace);
            if (session)
            {
                L.Injected("random SIGKILL of a session's sandbox (host)");
            }
            else
            {
                L.Injected("random SIGKILL of a warm pool sandbox (host)");
                PoolKills++;
            }
            return;
        }
    }

    /// <summary>
    /// More creates at once than the pool holds and than there are free session slots: each must
    /// be answered (201, or a quick session_limit_reached / sandbox_unavailable), none may queue.
    /// </summary>
    private async Task BurstAsync()
    {
        const string fault = "burst of session creates beyond the pool and the session limit";
        if (scenario.Current() is not { } current)
        {
            return;
        }
        var (api, epoch) = current;
        int size = scenario.Settings.MaxSessions + scenario.Settings.PoolSize + 2;
        L.Injected(fault);
        var replies = await Task.WhenAll(Enumerable.Range(0, size).Select(_ =>
            api.PostJsonAsync("/v1/sessions", new { metadata = new Dictionary<string, string> { ["worker"] = "burst" } }, TimeSpan.FromSeconds(60))));
        var checker = new SessionWorker(scenario, "burst", seed, flood: false);
        int created = 0, refused = 0;
        foreach (var reply in replies)
        {
            if (reply.Status == 201)
            {
                created++;
                L.SessionCreated();
                L.Latency("create session (burst)", reply.Elapsed);
                var id = reply.Json.GetProperty("id").GetString();
                var deleted = await api.DeleteAsync($"/v1/sessions/{id}", TimeSpan.FromSeconds(60));
                if (deleted.Status != 204 && !scenario.IsExcused(epoch))
                {
                    L.Violation("burst", $"deleting a burst session answered {deleted}");
                }
            }
            else
            {
                refused++;
                checker.CheckRefusal(reply, "burst create", epoch);
            }
        }
        L.Count($"burst: {size} creates at once → {created} created, {refused} refused");
        if (refused == 0 && !scenario.IsExcused(epoch))
        {
            L.Violation("burst", $"{size} creates at once with MaxSessions={scenario.Settings.MaxSessions}: none was refused, so the limit did not hold");
        }
        L.Survived(fault);
    }

    /// <summary>Reads /readyz as JSON, with its status code.</summary>
    public static async Task<(int Status, JsonElement Body)> ReadinessAsync(LoadApi api)
    {
        var reply = await api.GetAsync("/readyz", TimeSpan.FromSeconds(30));
        return (reply.Status, reply.Failed ? default : reply.Json);
    }
}
