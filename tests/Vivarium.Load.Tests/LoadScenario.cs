using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Vivarium.Load.Tests;

/// <summary>
/// The whole run: a real server as a child process, session workers and a flood worker for a
/// fixed duration while faults are injected, then the checks that need a quiet server (the pool
/// back to its size, nothing left on the host but the pool, back-pressure at the session limit,
/// memory), then a graceful stop after which nothing of the server may remain.
/// </summary>
public sealed class LoadScenario : IAsyncDisposable
{
    /// <summary>Idle timeout of the sessions that end by it.</summary>
    public const int IdleTimeoutSeconds = 3;
    /// <summary>How often the server looks for idle sessions.</summary>
    public static readonly TimeSpan ReapInterval = TimeSpan.FromSeconds(1);
    /// <summary>How long a create waits for a sandbox start slot before sandbox_unavailable.</summary>
    public static readonly TimeSpan AcquireTimeout = TimeSpan.FromSeconds(3);
    /// <summary>After an interrupt, how long before the sandbox is killed.</summary>
    // The server's default: on a busy 2-core machine an interrupt can take over a second to land.
    public static readonly TimeSpan InterruptGrace = TimeSpan.FromSeconds(3);
    /// <summary>On SIGTERM, how long running code may go on.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReadyBound = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan HostCleanBound = TimeSpan.FromSeconds(15);

    private readonly string _apiKey = "load-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, long> _kills = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _landed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _epochExecutions = new();
    private readonly List<RssSample> _rss = [];
    private readonly List<LoadApi> _retiredApis = [];
    private readonly List<string> _serverProblems = [];
    private readonly StringBuilder _timeline = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TaskCompletionSource _serverCrashed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ServerProcess? _server;
    private LoadApi? _api;
    private int _epoch;
    private volatile bool _down = true;
    private TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TimeSpan _loadTime;
    private long _loadSessions;
    private long _loadExecutions;
    private string _memory = "(not measured)";

    /// <summary>Prepares a run on a fresh state directory under /tmp.</summary>
    public LoadScenario(LoadSettings settings)
    {
        Settings = settings;
        StateDirectory = Path.Combine("/tmp", "vivarium-load-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));
        Probe = new HostProbe(StateDirectory);
    }

    /// <summary>The run's size.</summary>
    public LoadSettings Settings { get; }

    /// <summary>What the run observed.</summary>
    public Ledger Ledger { get; } = new();

    /// <summary>The host, as seen for this server's state directory.</summary>
    public HostProbe Probe { get; }

    /// <summary>The server's state directory, kept across its restarts.</summary>
    public string StateDirectory { get; }

    /// <summary>Which server process is current: 0 for the first, +1 at the start of each restart.</summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>True while a server is stopping or starting.</summary>
    public bool IsDown => _down;

    /// <summary>The client of the current server (only meaningful while it is up).</summary>
    public LoadApi Api => Volatile.Read(ref _api)!;

    /// <summary>
    /// True when a failure of something begun in <paramref name="epoch"/> may be the restart's
    /// doing. Sessions capture their epoch while the server is up, and a restart bumps the epoch
    /// before it signals the server, so every request a restart breaks is excused, and no other.
    /// </summary>
    public bool IsExcused(int epoch) => epoch != Epoch || _down;

    /// <summary>Waits until a server is up.</summary>
    public Task WaitUpAsync(CancellationToken cancellationToken)
    {
        Task up;
        lock (_gate)
        {
            up = _up.Task;
        }
        return up.WaitAsync(cancellationToken);
    }

    /// <summary>The current client and epoch, captured together; null while a restart is under way.</summary>
    public (LoadApi Api, int Epoch)? Current()
    {
        lock (_gate)
        {
            return _down ? null : (_api!, _epoch);
        }
    }

    private readonly ConcurrentQueue<string> _mandatory = new();

    private int _mandatoryInFlight;

    /// <summary>An operation no worker has done yet in this run, if any is left.</summary>
    public string? TakeMandatory()
    {
        if (!_mandatory.TryDequeue(out var name))
        {
            return null;
        }
        Interlocked.Increment(ref _mandatoryInFlight);
        return name;
    }

    /// <summary>A mandatory operation ended: done, or (<paramref name="again"/>) cut by a restart and put back.</summary>
    public void MandatoryEnded(string name, bool again)
    {
        if (again)
        {
            _mandatory.Enqueue(name);
        }
        Interlocked.Decrement(ref _mandatoryInFlight);
    }

    /// <summary>How many times the fault injector has killed the sandbox on a workspace.</summary>
    public long KillsOf(string workspace) => _kills.TryGetValue(workspace, out long n) ? n : 0;

    /// <summary>Registers a kill before it happens, so the session that suffers it can tell.</summary>
    public void RecordKill(string workspace) => _kills.AddOrUpdate(workspace, 1, (_, n) => n + 1);

    /// <summary>
    /// How many of those kills have landed. A session checks its recovery only for these: one
    /// that looked between the registration and the signal would otherwise count the kill as
    /// recovered from, then meet it on its next execution with no excuse left.
    /// </summary>
    public long LandedKillsOf(string workspace) => _landed.TryGetValue(workspace, out long n) ? n : 0;

    /// <summary>Registers that a kill registered with <see cref="RecordKill"/> was sent.</summary>
    public void KillLanded(string workspace) => _landed.AddOrUpdate(workspace, 1, (_, n) => n + 1);

    /// <summary>Counts an execution of a server process, for the memory check.</summary>
    public void ExecutionDone(int epoch) => _epochExecutions.AddOrUpdate(epoch, 1, (_, n) => n + 1);

    // ------------------------------------------------------------------------------------
    // The run
    // ------------------------------------------------------------------------------------

    /// <summary>Runs everything; the violations are in <see cref="Ledger"/>.</summary>
    /// <exception cref="LoadAbortedException">The run could not go on (a server that would not start, or hung).</exception>
    public async Task RunAsync()
    {
        var run = RunPhasesAsync();
        if (await Task.WhenAny(run, Task.Delay(Settings.HardLimit)) != run)
        {
            throw new LoadAbortedException($"the scenario did not finish within {Settings.HardLimit.TotalSeconds:0} s: something hung. Timeline:\n{_timeline}");
        }
        await run;
    }

    private async Task RunPhasesAsync()
    {
        Workloads.Load();
        foreach (var operation in SessionWorker.MandatoryOperations())
        {
            _mandatory.Enqueue(operation);
        }
        Note($"workloads from {Workloads.Source}; state directory {StateDirectory}; seed {Settings.Seed}");
        await StartServerAsync();

        // :: Load with faults
        using var stop = new CancellationTokenSource();
        var sampler = SampleAsync(stop.Token);
        var workers = Enumerable.Range(0, Settings.Workers)
            .Select(i => Task.Run(() => new SessionWorker(this, $"w{i}", Settings.Seed + i, flood: false).RunAsync(stop.Token)))
            .Append(Task.Run(() => new SessionWorker(this, "flood", Settings.Seed + 100, flood: true).RunAsync(stop.Token)))
            .ToList();
        var injector = new FaultInjector(this, Settings.Seed + 200);
        var injecting = Task.Run(() => injector.RunAsync(Settings.Duration, stop.Token));
        var load = Stopwatch.StartNew();
        Note($"load: {Settings.Workers} session workers and a flood worker for {Settings.Duration.TotalSeconds:0} s");
        var injectorFailed = injecting.ContinueWith(t => t.IsFaulted ? t : Task.Delay(Timeout.Infinite), TaskScheduler.Default).Unwrap();
        await Task.WhenAny(Task.Delay(Settings.Duration), _serverCrashed.Task, injectorFailed);
        // On a slow (shared) machine the duration may pass before every operation and fault has
        // been done once: go on until they have, within a bound, rather than check less.
        var extension = Stopwatch.StartNew();
        while (!_mandatory.IsEmpty || _mandatoryInFlight > 0)
        {
            if (extension.Elapsed > Settings.Duration * 1.5 || _serverCrashed.Task.IsCompleted || injecting.IsFaulted)
            {
                break;
            }
            await Task.Delay(200);
        }
        if (extension.Elapsed > TimeSpan.FromSeconds(1))
        {
            Note($"load extended by {extension.Elapsed.TotalSeconds:0.0} s until every operation had been done once");
        }
        await stop.CancelAsync();
        await injecting; // a failed restart ends the run here, with its message
        if (_serverCrashed.Task.IsCompleted)
        {
            throw new LoadAbortedException("the server crashed (exited without being asked to):\n" + _server!.LogTail(60));
        }
        var finishing = Task.WhenAll(workers);
        if (await Task.WhenAny(finishing, Task.Delay(TimeSpan.FromSeconds(120))) != finishing)
        {
            Ledger.Violation("load", "the workers did not finish their last operations within 120 s of the end: a request hung");
        }
        _loadTime = load.Elapsed;
        foreach (var operation in SessionWorker.MandatoryOperations().Where(o => Ledger.CountOf("operation " + o) == 0))
        {
            Ledger.Violation("coverage", $"no worker completed '{operation}' during the load: the run did not check it (the machine may be too slow for {Settings.Duration.TotalSeconds:0} s)");
        }
        _loadSessions = Ledger.Sessions;
        _loadExecutions = Ledger.Executions;
        Note($"load ended after {_loadTime.TotalSeconds:0.0} s: {Ledger.Sessions} sessions, {Ledger.Executions} executions");

        // :: Quiet server: the pool is back, and the host holds nothing but the pool
        await ExpectNoSessionsAsync("after the load");
        await ExpectPoolRecoveredAsync(injector.PoolKills);
        await KillWarmSandboxAsync();

        // :: Back-pressure at the session limit
        await BackPressureAsync();
        await ExpectPoolRecoveredAsync(0);

        // :: Memory: enough executions on this one server process to judge its RSS, then a graceful stop that must leave nothing
        await DriveForMemoryAsync();
        await ExpectNoSessionsAsync("after the memory phase");
        RecordRss();
        CheckMemory();
        await stop.CancelAsync();
        await sampler;
        await LeaveAnOrphanedExecutionAsync();
        await StopServerAsync(kill: false, "final SIGTERM", Epoch);
    }

    private async Task StartServerAsync()
    {
        var server = ServerProcess.Start(StateDirectory, _apiKey, ServerSettings());
        _server = server;
        await server.WaitReadyAsync(ReadyBound, CancellationToken.None);
        var api = new LoadApi(server.Address, _apiKey);
        lock (_gate)
        {
            _api = api;
            _down = false;
            _up.TrySetResult();
        }
        RecordRss();
        Note($"server {Epoch} (pid {server.Pid}) ready at {server.Address}, RSS {Mb(server.ResidentBytes())}");
    }

    private IEnumerable<string> ServerSettings() =>
    [
        $"--Vivarium:Pool:Size={Settings.PoolSize}",
        "--Vivarium:Pool:MaxConcurrentStarts=2",
        $"--Vivarium:Pool:AcquireTimeout={AcquireTimeout:c}",
        $"--Vivarium:Sessions:MaxSessions={Settings.MaxSessions}",
        $"--Vivarium:Sessions:MaxSessionsPerTenant={Settings.MaxSessions}",
        $"--Vivarium:Sessions:ReapInterval={ReapInterval:c}",
        $"--Vivarium:Sessions:ShutdownGrace={ShutdownGrace:c}",
        $"--Vivarium:Execution:InterruptGrace={InterruptGrace:c}",
        "--Vivarium:Sandbox:MemoryLimitBytes=536870912",
        "--Vivarium:Server:ExecutionsPerMinute=1000000",
        "--Logging:LogLevel:Default=Warning",
    ];

    /// <summary>
    /// Stops the current server (SIGTERM or SIGKILL) and starts a new one on the same state
    /// directory, checking on the way what each kind of stop must leave behind.
    /// </summary>
    internal async Task RestartAsync(bool kill)
    {
        var fault = kill ? "server SIGKILL, then a restart on the same state directory" : "server SIGTERM, then a restart on the same state directory";
        Ledger.Injected(fault);
        lock (_gate)
        {
            _down = true;
            _up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _epoch++;
        }
        var before = Probe.Snapshot();
        await StopServerAsync(kill, kill ? "SIGKILL mid-load" : "SIGTERM mid-load", Epoch - 1);
        lock (_gate)
        {
            _retiredApis.Add(_api!);
        }
        await StartServerAsync();
        if (kill)
        {
            // The crashed server could not clean up; the next start must have.
            var after = Probe.Snapshot();
            var leftWorkspaces = before.Workspaces.Intersect(after.Workspaces).ToList();
            var leftCgroups = before.Cgroups.Intersect(after.Cgroups).ToList();
            var leftMounts = before.Mounts.Intersect(after.Mounts).ToList();
            if (leftWorkspaces.Count + leftCgroups.Count + leftMounts.Count > 0)
            {
                Ledger.Violation("restart after SIGKILL", $"the next start did not clean what the crashed server left: workspaces [{string.Join(", ", leftWorkspaces)}], cgroups [{string.Join(", ", leftCgroups)}], mounts [{string.Join(", ", leftMounts)}]");
            }
            else
            {
                Ledger.Checked($"after a server SIGKILL, the next start removed all it left: {before.Workspaces.Count} workspaces, {before.Cgroups.Count} cgroups, {before.Mounts.Count} mounts");
            }
        }
        Ledger.Survived(fault);
    }

    private async Task StopServerAsync(bool kill, string why, int epoch)
    {
        var server = _server!;
        if (!kill)
        {
            lock (_gate)
            {
                _down = true;
            }
        }
        var killedAt = DateTimeOffset.UtcNow;
        var took = await server.StopAsync(kill, kill ? TimeSpan.FromSeconds(20) : ShutdownGrace + TimeSpan.FromSeconds(45));
        Note($"{why}: server {epoch} exited with code {server.ExitCode} after {took.TotalSeconds:0.0} s");
        lock (_serverProblems)
        {
            _serverProblems.AddRange(server.Problems.Select(p => $"server {epoch}: {p}"));
        }
        if (kill)
        {
            // Sandboxes die with the server (--die-with-parent); cgroups, mounts and workspaces
            // stay for the next start to sweep.
            await PollHostAsync($"after {why}", HostCleanBound, () =>
                Probe.SandboxProcesses() is { Count: > 0 } pids ? $"sandbox processes outlived the server: {string.Join(", ", pids)}" : null);
            var left = Probe.Snapshot();
            Ledger.Checked($"{why}: no sandbox process outlived the server; left for the next start: {left.Cgroups.Count} cgroups, {left.Mounts.Count} mounts, {left.Workspaces.Count} workspaces");
        }
        else
        {
            if (server.ExitCode != 0)
            {
                Ledger.Violation(why, $"the server exited with code {server.ExitCode} after SIGTERM:\n{server.LogTail(30)}");
            }
            bool clean = await PollHostAsync($"after {why}", HostCleanBound, () =>
            {
                var snapshot = Probe.Snapshot();
                return snapshot.IsEmpty && snapshot.ParentCgroups.Count == 0 ? null : $"left behind: {snapshot}";
            });
            if (clean)
            {
                Ledger.Checked($"{why}: nothing left (no sandbox process, no cgroup under {Probe.InstanceName}, no mount, no workspace)");
            }
        }
        await CheckAuditAsync(epoch, kill ? killedAt : null, why);
    }

    // ------------------------------------------------------------------------------------
    // Checks on a quiet server
    // ------------------------------------------------------------------------------------

    private async Task ExpectNoSessionsAsync(string when)
    {
        var reply = await Api.GetAsync("/v1/sessions", TimeSpan.FromSeconds(30));
        var sessions = reply.Failed ? [] : reply.Json.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToList();
        if (reply.Status != 200 || sessions.Count > 0)
        {
            Ledger.Violation(when, $"the workers ended all their sessions, yet the server lists {reply}");
        }
    }

    /// <summary>The pool is back to its size, and the host holds exactly the pool's sandboxes.</summary>
    private async Task ExpectPoolRecoveredAsync(long poolKills)
    {
        int size = Settings.PoolSize;
        string? last = null;
        var clock = Stopwatch.StartNew();
        bool ok = await PollAsync("pool recovery", TimeSpan.FromSeconds(60), async () =>
        {
            var (status, body) = await FaultInjector.ReadinessAsync(Api);
            if (status != 200)
            {
                return last = $"/readyz answers {status}: {body}";
            }
            int available = body.GetProperty("pool_available").GetInt32();
            var host = Probe.Snapshot();
            if (available != size || host.Cgroups.Count != size || host.Workspaces.Count != size || host.Mounts.Count != size)
            {
                return last = $"/readyz says pool_available {available} of {size}; the host holds {host}";
            }
            return null;
        });
        if (ok)
        {
            Ledger.Checked($"pool back to its size ({size}) {clock.Elapsed.TotalSeconds:0.0} s after the load, and the host holds only the pool's {size} sandboxes");
            if (poolKills > 0)
            {
                Ledger.Survived("random SIGKILL of a warm pool sandbox (host)", poolKills);
            }
        }
    }

    /// <summary>
    /// A warm sandbox dies while it waits in the pool (OOM killer, an operator): with no client
    /// around to notice, the pool itself must drop it and start another, and /readyz must not
    /// count it meanwhile.
    /// </summary>
    private async Task KillWarmSandboxAsync()
    {
        const string fault = "SIGKILL of a warm pool sandbox on a quiet server (host)";
        var warm = Probe.Workspaces().FirstOrDefault(w => !HostProbe.HasMarker(w, SessionWorker.Marker) && Probe.SandboxOn(w) is not null);
        if (warm is null)
        {
            Ledger.Violation(fault, "no warm sandbox found on the host");
            return;
        }
        Ledger.Injected(fault);
        var killed = Probe.KillSandbox(warm)!;
        var clock = Stopwatch.StartNew();
        int size = Settings.PoolSize;
        bool ok = await PollAsync(fault, TimeSpan.FromSeconds(30), async () =>
        {
            var (status, body) = await FaultInjector.ReadinessAsync(Api);
            int available = status == 200 ? body.GetProperty("pool_available").GetInt32() : -1;
            var host = Probe.Snapshot();
            return !Directory.Exists(warm) && available == size && host.Cgroups.Count == size && host.Workspaces.Count == size
                ? null
                : $"the pool did not replace the dead warm sandbox {killed.Cgroup}: /readyz {status} pool_available {available} of {size}; its workspace {(Directory.Exists(warm) ? "is still there" : "is gone")}; the host holds {host}";
        });
        if (ok)
        {
            Ledger.Checked($"a warm sandbox killed in the pool was dropped and replaced within {clock.Elapsed.TotalSeconds:0.0} s, without a client");
            Ledger.Survived(fault);
        }
    }

    /// <summary>
    /// Fills the server to its session limit, then checks that more creates are refused at once
    /// with session_limit_reached and that /readyz says not_ready with the reason.
    /// </summary>
    private async Task BackPressureAsync()
    {
        const string fault = "creates at the session limit (back-pressure)";
        Ledger.Injected(fault);
        var held = new List<string>();
        var checker = new SessionWorker(this, "capacity", Settings.Seed, flood: false);
        var violationsBefore = Ledger.Violations.Count;
        for (int attempt = 0; held.Count < Settings.MaxSessions && attempt < Settings.MaxSessions * 6; attempt++)
        {
            var reply = await Api.PostJsonAsync("/v1/sessions", new { }, TimeSpan.FromSeconds(60));
            if (reply.Status == 201)
            {
                held.Add(reply.Json.GetProperty("id").GetString()!);
                Ledger.SessionCreated();
            }
            else
            {
                checker.CheckRefusal(reply, "filling to the limit", Epoch);
                if (reply.ProblemCode == "session_limit_reached")
                {
                    Ledger.Violation("back-pressure", $"session_limit_reached with only {held.Count} of {Settings.MaxSessions} sessions held");
                    break;
                }
            }
        }
        if (held.Count < Settings.MaxSessions)
        {
            Ledger.Violation("back-pressure", $"could hold only {held.Count} of {Settings.MaxSessions} sessions");
        }

        var refusals = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Api.PostJsonAsync("/v1/sessions", new { }, TimeSpan.FromSeconds(60))));
        foreach (var refusal in refusals)
        {
            if (refusal.Status != 429 || refusal.ProblemCode != "session_limit_reached")
            {
                Ledger.Violation("back-pressure", $"a create beyond the limit got {refusal}, expected 429 session_limit_reached");
                if (refusal.Status == 201)
                {
                    held.Add(refusal.Json.GetProperty("id").GetString()!);
                }
            }
            else
            {
                checker.CheckRefusal(refusal, "beyond the limit", Epoch);
            }
        }
        var slowest = refusals.Max(r => r.Elapsed);
        var (status, body) = await FaultInjector.ReadinessAsync(Api);
        var reason = status == 503 && body.ValueKind == System.Text.Json.JsonValueKind.Object ? body.GetProperty("reason").GetString() : null;
        if (status != 503 || body.GetProperty("status").GetString() != "not_ready" || reason is null || !reason.Contains("sessions", StringComparison.Ordinal))
        {
            Ledger.Violation("back-pressure", $"at the session limit /readyz answered {status} {body}; expected 503 not_ready with the reason");
        }
        foreach (var id in held)
        {
            var deleted = await Api.DeleteAsync($"/v1/sessions/{id}", TimeSpan.FromSeconds(60));
            if (deleted.Status != 204)
            {
                Ledger.Violation("back-pressure", $"deleting {id} answered {deleted}");
            }
        }
        bool ready = await PollAsync("readiness after the limit", TimeSpan.FromSeconds(30), async () =>
            await FaultInjector.ReadinessAsync(Api) is (200, _) ? null : "/readyz still not ready once sessions were freed");
        if (Ledger.Violations.Count == violationsBefore && ready)
        {
            Ledger.Checked($"at the limit of {Settings.MaxSessions} sessions: 4 more creates refused with session_limit_reached within {slowest.TotalMilliseconds:0} ms; /readyz said not_ready (\"{reason}\"), and ready again once they were deleted");
            Ledger.Survived(fault);
        }
    }

    /// <summary>Every execution the client saw end of is in the audit log (SQLite, read while the server is stopped).</summary>
    private async Task CheckAuditAsync(int epoch, DateTimeOffset? killedAt, string why)
    {
        var expected = Ledger.AuditExpectations(epoch);
        var path = Path.Combine(StateDirectory, "audit.db");
        var recorded = new Dictionary<string, (string Session, string Status)>(StringComparer.Ordinal);
        // Read-write although only read: a server SIGKILLed in the middle of writing a batch
        // leaves a hot journal, which SQLite must roll back before anyone reads (as the next
        // start would), and a read-only connection cannot (SQLITE_READONLY).
        await using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString()))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT code_sha256, session_id, status FROM executions";
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                recorded[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2));
            }
        }
        var missing = new List<AuditExpectation>();
        var wrong = new List<string>();
        int atRisk = 0;
        foreach (var e in expected)
        {
            if (!recorded.TryGetValue(e.CodeSha256, out var row))
            {
                // A SIGKILL may take the last instant's records with it (they are written in
                // batches right after each execution); anything older must be there.
                if (killedAt is { } at && e.SeenAt > at - TimeSpan.FromSeconds(1))
                {
                    atRisk++;
                }
                else
                {
                    missing.Add(e);
                }
            }
            else if (row.Session != e.SessionId || (e.Status is not null && row.Status != e.Status))
            {
                wrong.Add($"{e.What}: recorded {row.Status} in {row.Session}, the client saw {e.Status} in {e.SessionId}");
            }
        }
        if (missing.Count > 0)
        {
            Ledger.Violation($"audit after {why}", $"{missing.Count} of {expected.Count} executions whose end the client saw are not in audit.db, e.g. " +
                string.Join("; ", missing.Take(5).Select(m => $"{m.What} ({m.Status ?? "hung up"}) in {m.SessionId} at {m.SeenAt:HH:mm:ss.fff}")));
        }
        if (wrong.Count > 0)
        {
            Ledger.Violation($"audit after {why}", $"{wrong.Count} records disagree with what the client saw, e.g. {string.Join("; ", wrong.Take(5))}");
        }
        if (missing.Count == 0 && wrong.Count == 0)
        {
            long orphans = expected.Count(e => e.What == "execution ended by the shutdown (client gone)");
            if (orphans > 0)
            {
                Ledger.Survived("execution ended by the shutdown (client gone)", orphans);
            }
            var byStatus = string.Join(", ", expected.GroupBy(e => e.Status ?? "hung up").OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}"));
            Ledger.Checked($"audit log after {why}: all {expected.Count - atRisk} executions of server {epoch} recorded with their status ({byStatus})" +
                (atRisk > 0 ? $"; {atRisk} that ended within 1 s of the SIGKILL not required" : ""));
        }
    }

    /// <summary>
    /// Right before the final SIGTERM: an execution whose client hung up and whose code
    /// swallows the interrupt, so that the shutdown (or the kill after the interrupt grace,
    /// whichever comes first) ends it with no request left for the server to wait for. Its
    /// record must still reach the audit log.
    /// </summary>
    private async Task LeaveAnOrphanedExecutionAsync()
    {
        const string what = "execution ended by the shutdown (client gone)";
        var created = await Api.PostJsonAsync("/v1/sessions", new { }, TimeSpan.FromSeconds(60));
        if (created.Status != 201)
        {
            Ledger.Violation(what, $"could not create its session: {created}");
            return;
        }
        var id = created.Json.GetProperty("id").GetString()!;
        // SIGINT ignored before the line the client waits for: a try/except around the sleep
        // left a window (the interrupt landing before the try) in which the cell ended as
        // interrupted, and the record rightly said so (3-4 times in 30 when driven through the engine).
        var code = $"# {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}\nimport signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('orphan', flush=True)\nwhile True:\n    time.sleep(100)";
        var stream = await Api.StreamAsync(id, code, null, TimeSpan.FromSeconds(60), e => Task.FromResult(e.Name != "stream"));
        if (!stream.ClosedByClient)
        {
            Ledger.Violation(what, $"the stream ended before the client hung up: {stream.Head}");
            return;
        }
        Ledger.Injected(what);
        Ledger.ExpectAudited(code, id, "crashed", Epoch, what);
    }

    /// <summary>
    /// Trivial executions on two sessions, as fast as the server answers, until the last server
    /// process has served <see cref="LoadSettings.MinMeasuredExecutions"/> (bounded in time).
    /// </summary>
    private async Task DriveForMemoryAsync()
    {
        int epoch = Epoch;
        long target = Settings.MinMeasuredExecutions;
        if (_epochExecutions.GetValueOrDefault(epoch) >= target)
        {
            return;
        }
        var clock = Stopwatch.StartNew();
        using var enough = new CancellationTokenSource();
        var drivers = Enumerable.Range(0, 2)
            .Select(i => Task.Run(() => new SessionWorker(this, $"memory{i}", Settings.Seed + 300 + i, flood: true, floodLabel: "memory phase (1+1)").RunAsync(enough.Token)))
            .ToList();
        while (_epochExecutions.GetValueOrDefault(epoch) < target && clock.Elapsed < Settings.MemoryPhaseLimit && drivers.Any(d => !d.IsCompleted))
        {
            await Task.Delay(100);
        }
        await enough.CancelAsync();
        await Task.WhenAll(drivers).WaitAsync(TimeSpan.FromSeconds(90));
        Note($"memory phase: {_epochExecutions.GetValueOrDefault(epoch)} executions on server {epoch} after {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private void CheckMemory()
    {
        int epoch = Epoch;
        List<RssSample> samples;
        lock (_rss)
        {
            samples = [.. _rss.Where(s => s.Epoch == epoch)];
        }
        if (samples.Count < 2)
        {
            Ledger.Violation("memory", "too few RSS samples of the last server process");
            return;
        }
        var start = samples[0];
        var warm = samples.FirstOrDefault(s => s.Executions >= Settings.WarmupExecutions) ?? samples[^1];
        var end = samples[^1];
        long measured = end.Executions - warm.Executions;
        long growth = end.Rss - warm.Rss;
        long bound = Settings.RssGrowthAllowanceBytes + (long)(warm.Rss * Settings.RssGrowthFraction);
        var after = samples.Where(s => s.Executions >= warm.Executions).ToList();
        double slope = Slope(after); // bytes per execution
        _memory = $"server {epoch} RSS: {Mb(start.Rss)} at start, {Mb(warm.Rss)} after {warm.Executions} executions (warm-up), {Mb(end.Rss)} after {end.Executions}; " +
                  $"growth {Mb(growth)} over {measured} executions (bound {Mb(bound)}); trend {slope * 1000 / 1024:0.0} KiB per 1000 executions";
        Note(_memory);
        if (end.Executions < Settings.MinMeasuredExecutions)
        {
            Ledger.Violation("memory", $"the last server process served only {end.Executions} executions; the memory check needs at least {Settings.MinMeasuredExecutions}");
        }
        if (growth > bound)
        {
            Ledger.Violation("memory", $"the server's RSS grew by {Mb(growth)} over {measured} executions after warm-up, more than the bound of {Mb(bound)}: {_memory}");
        }
        else
        {
            Ledger.Checked("memory flat: " + _memory);
        }
    }

    private static double Slope(List<RssSample> samples)
    {
        if (samples.Count < 3)
        {
            return 0;
        }
        double meanX = samples.Average(s => (double)s.Executions), meanY = samples.Average(s => (double)s.Rss);
        double sxy = samples.Sum(s => (s.Executions - meanX) * (s.Rss - meanY)), sxx = samples.Sum(s => Math.Pow(s.Executions - meanX, 2));
        return sxx == 0 ? 0 : sxy / sxx;
    }

    // ------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------

    private async Task SampleAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var server = _server;
                if (server is not null && server.HasExited && !server.StopRequested)
                {
                    Ledger.Violation("server", $"the server process exited with code {server.ExitCode} without being asked to: it crashed\n{server.LogTail(40)}");
                    _serverCrashed.TrySetResult();
                    return;
                }
                if (!_down)
                {
                    RecordRss();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void RecordRss()
    {
        var server = _server;
        if (server?.ResidentBytes() is { } rss)
        {
            lock (_rss)
            {
                _rss.Add(new RssSample(_clock.Elapsed, Epoch, _epochExecutions.GetValueOrDefault(Epoch), rss));
            }
        }
    }

    /// <summary>Polls a condition (null = fine) until it holds or the bound passes; records a violation then.</summary>
    private Task<bool> PollHostAsync(string what, TimeSpan bound, Func<string?> problem) =>
        PollAsync(what, bound, () => Task.FromResult(problem()));

    /// <summary>Polls a condition (null = fine) until it holds or the bound passes; records a violation then.</summary>
    private async Task<bool> PollAsync(string what, TimeSpan bound, Func<Task<string?>> problem)
    {
        var clock = Stopwatch.StartNew();
        while (await problem() is { } current)
        {
            if (clock.Elapsed > bound)
            {
                Ledger.Violation(what, $"{current} ({bound.TotalSeconds:0} s later)");
                return false;
            }
            await Task.Delay(100);
        }
        return true;
    }

    private void Note(string what)
    {
        lock (_timeline)
        {
            _timeline.Append(CultureInfo.InvariantCulture, $"  {_clock.Elapsed.TotalSeconds,6:0.0} s  {what}\n");
        }
    }

    private static string Mb(long? bytes) => bytes is { } b ? $"{b / 1024.0 / 1024.0:0.0} MiB" : "?";

    // ------------------------------------------------------------------------------------
    // The report
    // ------------------------------------------------------------------------------------

    /// <summary>What the run did and saw, for people.</summary>
    public string Report()
    {
        var s = new StringBuilder();
        var load = _loadTime > TimeSpan.Zero ? _loadTime : _clock.Elapsed;
        s.AppendLine(CultureInfo.InvariantCulture, $"Vivarium load and fault run: {Settings.Name}, seed {Settings.Seed} (VIVARIUM_LOAD_SEED replays the choices)");
        s.AppendLine(CultureInfo.InvariantCulture, $"  {Settings.Workers} session workers + 1 flood worker, pool {Settings.PoolSize}, MaxSessions {Settings.MaxSessions}, sandbox memory 512 MiB, load {load.TotalSeconds:0.0} s");
        long sessions = _loadTime > TimeSpan.Zero ? _loadSessions : Ledger.Sessions, executions0 = _loadTime > TimeSpan.Zero ? _loadExecutions : Ledger.Executions;
        s.AppendLine(CultureInfo.InvariantCulture, $"Held under load and faults: {sessions / load.TotalSeconds:0.00} sessions/s and {executions0 / load.TotalSeconds:0.0} executions/s ({sessions} sessions, {executions0} executions in {load.TotalSeconds:0.0} s); whole run: {Ledger.Sessions} sessions, {Ledger.Executions} executions");
        var latencies = Ledger.Latencies;
        var executions = latencies.Where(kv => kv.Key.StartsWith("execute ", StringComparison.Ordinal)).SelectMany(kv => kv.Value).ToArray();
        s.AppendLine(CultureInfo.InvariantCulture, $"Latency under load: executions p50 {Percentile(executions, 0.5):0} ms, p99 {Percentile(executions, 0.99):0} ms (n={executions.Length})");
        foreach (var (name, values) in latencies)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"  {name,-42} p50 {Percentile(values, 0.5),8:0} ms  p99 {Percentile(values, 0.99),8:0} ms  max {values.DefaultIfEmpty().Max(),8:0} ms  n={values.Length}");
        }
        s.AppendLine("Faults: injected / survived / cut short (by a server restart, or overtaken by a random kill) before they could be judged:");
        foreach (var (fault, injected, survived, cut) in Ledger.Faults)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"  {fault,-66} {injected,5} / {survived,5} / {cut,3}");
        }
        s.AppendLine("Checks passed:");
        foreach (var check in Ledger.Checks)
        {
            s.AppendLine("  " + check);
        }
        s.AppendLine("Memory: " + _memory);
        s.AppendLine("Counts:");
        foreach (var (what, n) in Ledger.Counts)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"  {what}: {n}");
        }
        lock (_serverProblems)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"Server log errors (fail/crit): {_serverProblems.Count}");
            foreach (var problem in _serverProblems.Take(20))
            {
                s.AppendLine("  " + problem.Replace("\n", "\n    ", StringComparison.Ordinal));
            }
        }
        s.AppendLine("Timeline:");
        lock (_timeline)
        {
            s.Append(_timeline);
        }
        var violations = Ledger.Violations;
        s.AppendLine(CultureInfo.InvariantCulture, $"Violations: {violations.Count}");
        foreach (var violation in violations.Take(60))
        {
            s.AppendLine("  " + violation);
        }
        return s.ToString();
    }

    /// <summary>Errors the server logged; each one is a violation unless the run explains it.</summary>
    public IReadOnlyList<string> ServerProblems
    {
        get
        {
            lock (_serverProblems)
            {
                return [.. _serverProblems];
            }
        }
    }

    private static double Percentile(double[] values, double q)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Kills the server if the run failed half-way, removes what it left, and the state directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_server is { HasExited: false } server)
        {
            await ((Task)server.StopAsync(kill: true, TimeSpan.FromSeconds(20))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _server?.Dispose();
        foreach (var api in _retiredApis.Append(_api).OfType<LoadApi>())
        {
            api.Dispose();
        }
        ForceCleanHost();
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>After a failed run: what a crashed server would leave for its next start, removed by hand.</summary>
    private void ForceCleanHost()
    {
        foreach (var pid in Probe.SandboxProcesses())
        {
            ServerProcess.Kill(pid, ServerProcess.SigKill);
        }
        foreach (var mount in Probe.Mounts())
        {
            using var umount = Process.Start(new ProcessStartInfo("/usr/bin/umount", ["-l", mount]) { UseShellExecute = false });
            umount?.WaitForExit();
        }
        foreach (var parent in Probe.InstanceCgroupDirectories())
        {
            foreach (var child in Directory.EnumerateDirectories(parent))
            {
                var procs = Path.Combine(child, "cgroup.procs");
                if (File.Exists(procs))
                {
                    foreach (var line in File.ReadAllLines(procs))
                    {
                        ServerProcess.Kill(int.Parse(line, CultureInfo.InvariantCulture), ServerProcess.SigKill);
                    }
                }
                TryRemoveDirectory(child);
            }
            TryRemoveDirectory(parent);
        }
    }

    private static void TryRemoveDirectory(string path)
    {
        for (int attempt = 0; attempt < 50 && Directory.Exists(path); attempt++)
        {
            try
            {
                Directory.Delete(path);
            }
            catch (IOException)
            {
                Thread.Sleep(20); // EBUSY while the killed tasks are reaped
            }
        }
    }

    private sealed record RssSample(TimeSpan At, int Epoch, long Executions, long Rss);
}
