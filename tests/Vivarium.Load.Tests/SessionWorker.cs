using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Vivarium.Load.Tests;

/// <summary>A session's request failed because the server was being restarted: expected, the worker starts over.</summary>
internal sealed class EpochEnded : Exception;

/// <summary>A property broke in this session (already recorded); the worker abandons it and starts a new one.</summary>
internal sealed class LifeBroken : Exception;

/// <summary>One session as a worker sees it, with what the harness knows of it on the host.</summary>
internal sealed class Life(LoadApi api, int epoch, string id, string worker)
{
    public LoadApi Api { get; } = api;
    public int Epoch { get; } = epoch;
    public string Id { get; } = id;
    public string Where { get; } = $"{worker} {id[..12]}";
    public string? Workspace { get; set; }
    /// <summary>Every sandbox cgroup this session has had: all must be gone once it ends.</summary>
    public HashSet<string> Cgroups { get; } = new(StringComparer.Ordinal);
    /// <summary>Uploads the server acknowledged: path → SHA-256 of the bytes.</summary>
    public Dictionary<string, string> Uploads { get; } = new(StringComparer.Ordinal);
    /// <summary>True after W3's setter ran in the current interpreter.</summary>
    public bool StateSet { get; set; }
    /// <summary>The fault injector's kills of this workspace already accounted for.</summary>
    public long KillsSeen { get; set; }
    public bool IdleEnding { get; init; }
    /// <summary>Faults injected into this session that have no verdict yet.</summary>
    public List<string> PendingFaults { get; } = [];
}

/// <summary>
/// Lives through sessions one after another: creates one, runs a random mix of workloads,
/// streams, uploads and faults against it, checks every answer (status, exactly its own
/// token, files kept), then ends it by delete or idle timeout and checks that nothing of it
/// is left on the host. In flood mode it only runs trivial executions, as fast as it can, to
/// push the execution count that the memory check needs.
/// </summary>
internal sealed partial class SessionWorker(LoadScenario scenario, string name, int seed, bool flood, string floodLabel = "execute flood (1+1)")
{
    public const string Marker = "marker.txt";
    private static readonly TimeSpan RequestBound = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RefusalBound = TimeSpan.FromSeconds(5);
    private readonly Random _random = new(seed);
    private Ledger L => scenario.Ledger;
    private HostProbe Probe => scenario.Probe;

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await scenario.WaitUpAsync(stop);
                var life = await CreateAsync(stop);
                if (life is null)
                {
                    continue;
                }
                try
                {
                    await LiveAsync(life, stop);
                }
                catch (EpochEnded)
                {
                    CutShort(life);
                }
                catch (LifeBroken)
                {
                    await TryDeleteAsync(life);
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or System.Text.Json.JsonException or FormatException or IndexOutOfRangeException)
                {
                    // An answer of the wrong shape (a missing field, not JSON): a broken contract.
                    L.Violation(life.Where, $"an answer did not have the documented shape: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                    await TryDeleteAsync(life);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (EpochEnded)
            {
                L.Count("sessions cut short by a server restart");
            }
            catch (LifeBroken)
            {
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // A session's life
    // ------------------------------------------------------------------------------------

    private async Task<Life?> CreateAsync(CancellationToken stop)
    {
        if (scenario.Current() is not { } current)
        {
            return null; // a restart began: wait for the next server
        }
        var (api, epoch) = current;
        bool idle = !flood && _random.NextDouble() < 0.2;
        object body = idle
            ? new { idle_timeout_seconds = LoadScenario.IdleTimeoutSeconds, metadata = new Dictionary<string, string> { ["worker"] = name } }
            : new { metadata = new Dictionary<string, string> { ["worker"] = name } };
        var reply = await api.PostJsonAsync("/v1/sessions", body, RequestBound);
        if (reply.Status == 201)
        {
            L.SessionCreated();
            L.Latency("create session", reply.Elapsed);
            var life = new Life(api, epoch, reply.Json.GetProperty("id").GetString()!, name) { IdleEnding = idle };
            await AdoptAsync(life);
            return life;
        }
        CheckRefusal(reply, $"{name} create", epoch);
        // Back-pressure says "try later": back off a little before asking again.
        await Task.Delay(TimeSpan.FromMilliseconds(200 + _random.Next(400)), stop);
        return null;
    }

    /// <summary>
    /// Checks a refused create: only session_limit_reached or sandbox_unavailable, as problem+json,
    /// and quickly. No answer at all is expected only while the server is being restarted.
    /// </summary>
    internal void CheckRefusal(Reply reply, string where, int epoch)
    {
        if (reply.Hung)
        {
            L.Violation(where, $"a create hung: {reply}");
            return;
        }
        if (reply.Failed)
        {
            if (!scenario.IsExcused(epoch))
            {
                L.Violation(where, $"a create got no answer while the server was up: {reply}");
            }
            return;
        }
        switch (reply.Status, reply.ProblemCode)
        {
            case (429, "session_limit_reached"):
                L.Count("creates refused: session_limit_reached");
                L.Latency("refusal session_limit_reached", reply.Elapsed);
                if (reply.Elapsed > RefusalBound)
                {
                    L.Violation(where, $"session_limit_reached took {reply.Elapsed.TotalSeconds:0.0} s (bound {RefusalBound.TotalSeconds:0} s): back-pressure must answer at once");
                }
                return;
            case (503, "sandbox_unavailable"):
                L.Count("creates refused: sandbox_unavailable");
                L.Latency("refusal sandbox_unavailable", reply.Elapsed);
                // It waits for a start slot for AcquireTimeout, then must answer.
                var bound = LoadScenario.AcquireTimeout + TimeSpan.FromSeconds(2);
                if (reply.Elapsed > bound)
                {
                    L.Violation(where, $"sandbox_unavailable took {reply.Elapsed.TotalSeconds:0.0} s (bound {bound.TotalSeconds:0} s): the create queued instead of refusing");
                }
                return;
            case (404, "session_not_found") when scenario.IsExcused(epoch):
                return; // a one-shot whose session ended with the server
            default:
                L.Violation(where, $"a create ended with an undocumented answer: {reply}");
                return;
        }
    }

    /// <summary>Writes the marker (the session's id) and finds the session's workspace and sandbox on the host through it.</summary>
    private async Task AdoptAsync(Life life)
    {
        await FileWithRetryAsync(life, "upload marker", () => life.Api.SendAsync(HttpMethod.Put, $"/v1/sessions/{life.Id}/files/{Marker}",
            new ByteArrayContent(Encoding.UTF8.GetBytes(life.Id)), RequestBound), 201);
        life.Workspace = Probe.FindWorkspace(Marker, life.Id);
        if (life.Workspace is null)
        {
            Fail(life, "adopt", "the uploaded marker is in no workspace on the host: an acknowledged upload is missing");
        }
        NoteSandbox(life);
    }

    private void NoteSandbox(Life life)
    {
        if (Probe.SandboxOn(life.Workspace!) is { } sandbox)
        {
            life.Cgroups.Add(sandbox.Cgroup);
        }
    }

    private async Task LiveAsync(Life life, CancellationToken stop)
    {
        // Long lives: every session costs a sandbox start (about a second of CPU), the budget that runs out first.
        int operations = flood ? int.MaxValue : life.IdleEnding ? 2 + _random.Next(3) : 10 + _random.Next(12);
        for (int i = 0; i < operations && !stop.IsCancellationRequested; i++)
        {
            if (flood)
            {
                await FloodOnceAsync(life);
            }
            else if (life.IdleEnding)
            {
                await (_random.Next(3) == 0 ? UploadAsync(life) : WorkloadAsync(life));
            }
            else
            {
                var (operation, mandatory) = PickOperation();
                bool again = true;
                try
                {
                    await RunOperationAsync(operation, life);
                    L.Count("operation " + operation);
                    again = false;
                }
                catch (LifeBroken)
                {
                    again = false; // a violation: recorded, not retried
                    throw;
                }
                finally
                {
                    if (mandatory)
                    {
                        scenario.MandatoryEnded(operation, again); // cut by a restart: someone does it again
                    }
                }
            }
            await AccountForKillsAsync(life);
        }
        if (life.IdleEnding)
        {
            await EndByIdleTimeoutAsync(life);
        }
        else
        {
            await AccountForKillsAsync(life);
            await VerifyUploadsAsync(life);
            await EndByDeleteAsync(life);
        }
    }

    private Task RunOperationAsync(string name, Life life) =>
        Operations.TryGetValue(name, out var operation)
            ? operation(this, life)
            : RunWorkloadAsync(life, Workloads.Stateless.Single(w => "workload " + w.Name == name));

    /// <summary>Every operation a session worker knows, by name.</summary>
    internal static readonly IReadOnlyDictionary<string, Func<SessionWorker, Life, Task>> Operations = new Dictionary<string, Func<SessionWorker, Life, Task>>(StringComparer.Ordinal)
    {
        ["workload (random)"] = (w, life) => w.WorkloadAsync(life),
        ["SSE stream"] = (w, life) => w.StreamAsync(life),
        ["upload, download, hash inside"] = (w, life) => w.UploadAsync(life),
        ["crash: os._exit(1)"] = (w, life) => w.CrashFromInsideAsync(life, exit: true),
        ["crash: os.kill(os.getpid(), 9)"] = (w, life) => w.CrashFromInsideAsync(life, exit: false),
        ["SIGKILL mid-execution"] = (w, life) => w.HostKillMidExecutionAsync(life),
        ["timeout + session_busy"] = (w, life) => w.TimeoutAsync(life),
        ["timeout ignoring the interrupt"] = (w, life) => w.StubbornTimeoutAsync(life),
        ["disconnect mid-stream"] = (w, life) => w.DisconnectAsync(life),
        ["slow reader"] = (w, life) => w.SlowReaderAsync(life),
        ["restart interpreter"] = (w, life) => w.RestartInterpreterAsync(life),
        ["one-shot /v1/execute"] = (w, life) => w.OneShotAsync(life),
        ["download of a FIFO"] = (w, life) => w.DownloadFifoAsync(life),
        ["W3_state set+get"] = async (w, life) =>
        {
            await w.RunWorkloadAsync(life, Workloads.StateSet);
            await w.RunWorkloadAsync(life, Workloads.StateGet);
        },
    };

    /// <summary>Operation names that every run must complete at least once: all of them, and each stateless workload.</summary>
    internal static IEnumerable<string> MandatoryOperations() =>
        Operations.Keys.Where(k => k != "workload (random)").Concat(Workloads.Stateless.Select(w => "workload " + w.Name));

    /// <summary>First whatever the run has not done yet, then a weighted random mix (sandbox-costly faults rarer).</summary>
    private (string Name, bool Mandatory) PickOperation()
    {
        if (scenario.TakeMandatory() is { } mandatory)
        {
            return (mandatory, true);
        }
        int roll = _random.Next(100);
        return (roll switch
        {
            < 40 => "workload (random)",
            < 50 => "SSE stream",
            < 62 => "upload, download, hash inside",
            < 64 => "crash: os._exit(1)",
            < 66 => "crash: os.kill(os.getpid(), 9)",
            < 70 => "SIGKILL mid-execution",
            < 77 => "timeout + session_busy",
            < 79 => "timeout ignoring the interrupt",
            < 86 => "disconnect mid-stream",
            < 92 => "slow reader",
            < 95 => "restart interpreter",
            < 97 => "download of a FIFO",
            _ => "one-shot /v1/execute",
        }, false);
    }

    // ------------------------------------------------------------------------------------
    // Operations
    // ------------------------------------------------------------------------------------

    private async Task WorkloadAsync(Life life)
    {
        Workload workload = _random.Next(4) == 0
            ? (life.StateSet ? Workloads.StateGet : Workloads.StateSet)
            : Workloads.Stateless[_random.Next(Workloads.Stateless.Count)];
        await RunWorkloadAsync(life, workload);
    }

    private async Task RunWorkloadAsync(Life life, Workload workload)
    {
        var token = NewToken();
        var code = $"print('{token}')\n{workload.Code}";
        var (execution, reply) = await ExecuteAsync(life, workload.Name, code, null);
        var status = execution.GetProperty("status").GetString();
        if (status != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, workload.Name, $"status {status}, expected ok: {Summary(execution)}");
        }
        L.Latency("execute " + workload.Name, reply.Elapsed);
        ExpectStdout(life, workload.Name, execution, token + "\n" + workload.ExpectedStdout);
        if (workload.ExpectedResult is { } expected)
        {
            var result = execution.GetProperty("result");
            var text = result.ValueKind == JsonValueKind.Object && result.TryGetProperty("text/plain", out var t) ? t.GetString() : null;
            if (text != expected)
            {
                Fail(life, workload.Name, $"result {text ?? "(none)"}, expected {expected}");
            }
        }
        if (workload.ExpectsPng && !HasPng(execution))
        {
            Fail(life, workload.Name, "no image/png with the PNG signature among the outputs");
        }
        if (workload == Workloads.StateSet)
        {
            life.StateSet = true;
        }
    }

    private async Task FloodOnceAsync(Life life)
    {
        var token = NewToken();
        var code = $"print('{token}')\n1+1";
        var (execution, reply) = await ExecuteAsync(life, "flood", code, null);
        if (execution.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, "flood", $"status {execution.GetProperty("status")}: {Summary(execution)}");
        }
        L.Latency(floodLabel, reply.Elapsed);
        ExpectStdout(life, "flood", execution, token + "\n");
    }

    private async Task StreamAsync(Life life)
    {
        var token = NewToken();
        var code = $"for i in range(4):\n    print('{token}', i, flush=True)";
        var expected = string.Concat(Enumerable.Range(0, 4).Select(i => $"{token} {i}\n"));
        var stream = await OpenStreamAsync(life, () => life.Api.StreamAsync(life.Id, code, null, RequestBound));
        var done = RequireDone(life, "stream", stream, code);
        if (done.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, "stream", $"status {done.GetProperty("status")}: {Summary(done)}");
        }
        L.Latency("execute SSE stream", stream.Head.Elapsed);
        var streamed = string.Concat(stream.Events.Where(e => e.Name == "stream").Select(e => e.Json.GetProperty("text").GetString()));
        if (streamed != expected)
        {
            Fail(life, "stream", $"the stream events carried {Reply.Clip(streamed, 200)}, expected {expected}");
        }
        ExpectStdout(life, "stream", done, expected);
    }

    private async Task UploadAsync(Life life)
    {
        var token = NewToken();
        int size = _random.Next(5) switch
        {
            0 => 0,
            1 => 1 + _random.Next(100),
            2 => 64 * 1024,
            _ => _random.Next(1, 400_000),
        };
        var bytes = new byte[size];
        _random.NextBytes(bytes);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        string path;
        if (_random.Next(3) == 0)
        {
            // Multipart, into a directory.
            path = $"mp/{token[..10]}.bin";
            var reply = await FileWithRetryAsync(life, "multipart upload", () => life.Api.SendAsync(HttpMethod.Post, $"/v1/sessions/{life.Id}/files", CloneForm(bytes, token), RequestBound), 201);
            var file = reply.Json.GetProperty("files")[0];
            if (file.GetProperty("path").GetString() != path || file.GetProperty("size").GetInt64() != size)
            {
                Fail(life, "multipart upload", $"acknowledged {file}, expected {path} of {size} bytes");
            }
        }
        else
        {
            path = $"up/{token[..10]}.bin";
            var reply = await FileWithRetryAsync(life, "upload", () => life.Api.SendAsync(HttpMethod.Put, $"/v1/sessions/{life.Id}/files/{path}", new ByteArrayContent(bytes), RequestBound), 201);
            L.Latency("upload", reply.Elapsed);
            if (reply.Json.GetProperty("path").GetString() != path || reply.Json.GetProperty("size").GetInt64() != size)
            {
                Fail(life, "upload", $"acknowledged {reply.Body}, expected {path} of {size} bytes");
            }
        }
        life.Uploads[path] = hash;
        L.Count("uploads acknowledged");

        // Download and compare, then read it from inside the sandbox too.
        await ExpectFileAsync(life, path, hash);
        var code = $"import hashlib\nprint('{token}', hashlib.sha256(open('{path}', 'rb').read()).hexdigest())";
        var (execution, _) = await ExecuteAsync(life, "hash upload", code, null);
        if (execution.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, "hash upload", $"status {execution.GetProperty("status")}: {Summary(execution)}");
        }
        ExpectStdout(life, "hash upload", execution, $"{token} {hash}\n");
    }

    private static MultipartFormDataContent CloneForm(byte[] bytes, string token)
    {
        var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(bytes);
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(part, "file", $"{token[..10]}.bin");
        form.Add(new StringContent("mp/"), "path");
        return form;
    }

    private async Task ExpectFileAsync(Life life, string path, string hash)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (reply, bytes) = await life.Api.DownloadAsync($"/v1/sessions/{life.Id}/files/{path}", RequestBound);
            if (await ShouldRetryForCapacityAsync(life, $"download {path}", reply, clock))
            {
                continue;
            }
            Require(life, $"download {path}", reply, 200);
            L.Latency("download", reply.Elapsed);
            var actual = Convert.ToHexStringLower(SHA256.HashData(bytes!));
            if (actual != hash)
            {
                Fail(life, $"download {path}", $"the bytes differ from what was uploaded and acknowledged ({bytes!.Length} bytes, sha256 {actual[..12]}…, expected {hash[..12]}…)");
            }
            return;
        }
    }

    private async Task VerifyUploadsAsync(Life life)
    {
        if (life.Uploads.Count == 0)
        {
            return;
        }
        var reply = await FileWithRetryAsync(life, "list files", () => life.Api.GetAsync($"/v1/sessions/{life.Id}/files", RequestBound), 200);
        var listed = reply.Json.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()).ToHashSet(StringComparer.Ordinal);
        foreach (var (path, hash) in life.Uploads)
        {
            if (!listed.Contains(path))
            {
                Fail(life, "list files", $"{path} was acknowledged but is not in the workspace any more");
            }
            await ExpectFileAsync(life, path, hash);
        }
        L.Count("acknowledged uploads downloaded and compared at the session's end", life.Uploads.Count);
    }

    private async Task CrashFromInsideAsync(Life life, bool exit)
    {
        var fault = exit ? "runner crash: os._exit(1)" : "runner crash: os.kill(os.getpid(), 9)";
        var token = NewToken();
        var code = exit
            ? $"print('{token}', flush=True)\nimport os\nos._exit(1)"
            : $"print('{token}', flush=True)\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)";
        var before = Probe.SandboxOn(life.Workspace!);
        Inject(life, fault);
        var (execution, _) = await ExecuteAsync(life, fault, code, null, ownTokenRequired: false);
        ExpectCrashed(life, fault, execution, exit ? "exited (code 1)" : "exited");
        life.StateSet = false;
        await RecoverAsync(life, fault, before);
    }

    private async Task HostKillMidExecutionAsync(Life life)
    {
        const string fault = "SIGKILL of a session's sandbox mid-execution (host)";
        var token = NewToken();
        var code = $"print('{token}', flush=True)\nimport time\ntime.sleep(60)";
        var before = Probe.SandboxOn(life.Workspace!);
        SandboxOnHost? killed = null;
        var stream = await OpenStreamAsync(life, () => life.Api.StreamAsync(life.Id, code, null, RequestBound, e =>
        {
            if (killed is null && e.Name == "stream")
            {
                killed = Probe.KillSandbox(life.Workspace!);
                Inject(life, fault);
            }
            return Task.FromResult(true);
        }));
        var done = RequireDone(life, fault, stream, code, ownTokenRequired: true);
        if (killed is null)
        {
            Fail(life, fault, $"no sandbox to kill was found on the host for workspace {life.Workspace} (status {done.GetProperty("status")})");
        }
        ExpectCrashed(life, fault, done, "");
        life.StateSet = false;
        await RecoverAsync(life, fault, killed ?? before);
    }

    private void ExpectCrashed(Life life, string what, JsonElement execution, string detail)
    {
        var status = execution.GetProperty("status").GetString();
        var error = execution.GetProperty("error");
        var name = error.ValueKind == JsonValueKind.Object ? error.GetProperty("name").GetString() : null;
        var value = error.ValueKind == JsonValueKind.Object ? error.GetProperty("value").GetString() ?? "" : "";
        var summary = execution.GetProperty("summary").GetString() ?? "";
        if (status == "crashed" && scenario.IsExcused(life.Epoch))
        {
            // A restart's SIGTERM ended the sandbox first ("the sandbox was shut down"): the
            // fault's own outcome can no longer be judged.
            throw new EpochEnded();
        }
        bool injectorToo = scenario.KillsOf(life.Workspace!) > life.KillsSeen; // then the reason may be the injector's kill
        if (status != "crashed" || name != "SandboxCrashed" || value.Length < 10 || (!injectorToo && !value.Contains(detail, StringComparison.Ordinal)) ||
            !summary.StartsWith("The sandbox crashed", StringComparison.Ordinal))
        {
            Fail(life, what, $"expected status crashed with a SandboxCrashed error saying '{detail}', got {status} / {name}: {value} / summary {Reply.Clip(summary, 200)}");
        }
    }

    /// <summary>After a crash: the old sandbox is gone from the host, and the session works again on the same files.</summary>
    private async Task RecoverAsync(Life life, string fault, SandboxOnHost? old)
    {
        var token = NewToken();
        var code = $"print('{token}')\nopen('{Marker}').read()";
        var (execution, _) = await ExecuteAsync(life, fault + " → next execution", code, null);
        if (old is null && execution.GetProperty("status").GetString() == "crashed")
        {
            // A kill from outside between two requests: this execution may still meet the dying
            // sandbox, and rightly reports it crashed. The one after must work.
            L.Count("first execution after a kill between requests reported crashed (the sandbox was dying)");
            token = NewToken();
            code = $"print('{token}')\nopen('{Marker}').read()";
            (execution, _) = await ExecuteAsync(life, fault + " → execution after the crashed one", code, null);
        }
        if (execution.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, fault, $"the session did not work again after the crash: {Summary(execution)}");
        }
        var result = execution.GetProperty("result").GetProperty("text/plain").GetString();
        if (result != $"'{life.Id}'")
        {
            Fail(life, fault, $"the workspace did not survive the crash: marker.txt read {result}");
        }
        if (life.Uploads.Count > 0)
        {
            var (path, hash) = life.Uploads.ElementAt(_random.Next(life.Uploads.Count));
            await ExpectFileAsync(life, path, hash);
        }
        if (old is not null)
        {
            await ExpectGoneAsync(life, fault, () =>
                Probe.SandboxCgroups().Contains(old.Cgroup) ? $"the dead sandbox's cgroup {old.Cgroup} is still there" :
                HostProbe.AnyAlive(old.Pids) ? $"processes of the dead sandbox are alive: {string.Join(", ", old.Pids)}" : null);
        }
        NoteSandbox(life);
        Survive(life, fault);
    }

    private async Task TimeoutAsync(Life life)
    {
        const string fault = "execution timeout (interrupted, state kept)";
        var token = NewToken();
        var code = $"print('{token}', flush=True)\nwhile True:\n    pass";
        Reply? busy = null;
        string? busyCode = null;
        Inject(life, fault);
        var stream = await OpenStreamAsync(life, () => life.Api.StreamAsync(life.Id, code, 1, RequestBound, async e =>
        {
            if (busy is null && e.Name == "stream")
            {
                // Running for sure now: a second execution must be refused, not queued.
                busyCode = $"print('{NewToken()}')";
                busy = await life.Api.ExecuteAsync(life.Id, busyCode, null, RequestBound);
            }
            return true;
        }));
        var done = RequireDone(life, fault, stream, code, ownTokenRequired: true);
        var status = done.GetProperty("status").GetString();
        if (status != "timeout")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, fault, $"status {status}, expected timeout: {Summary(done)}");
        }
        if (busy is not null)
        {
            if (busy.Status == 409 && busy.ProblemCode == "session_busy")
            {
                L.Count("second execution refused with session_busy");
            }
            else if (busy.Status == 200)
            {
                // The 1 s timeout ended the first one before the second arrived: it ran, legitimately.
                L.Count("second execution arrived after the timeout (ran)");
                CheckTokens(life, "busy", busy.Body, TokenIn(busyCode!));
                L.ExpectAudited(busyCode!, life.Id, busy.Json.GetProperty("status").GetString(), life.Epoch, "busy check");
                L.ExecutionCompleted();
                scenario.ExecutionDone(life.Epoch);
            }
            else if (!(busy.Failed && scenario.IsExcused(life.Epoch)) && !await ExcusedByKillAsync(life))
            {
                Fail(life, "busy", $"a second execution during a running one got {busy}, expected 409 session_busy");
            }
        }
        if (life.StateSet)
        {
            await RunWorkloadAsync(life, Workloads.StateGet); // the interrupt kept the interpreter
        }
        Survive(life, fault);
    }

    private async Task StubbornTimeoutAsync(Life life)
    {
        const string fault = "execution timeout ignoring the interrupt (killed)";
        var token = NewToken();
        var code = $"print('{token}', flush=True)\nwhile True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass";
        var before = Probe.SandboxOn(life.Workspace!);
        Inject(life, fault);
        var (execution, reply) = await ExecuteAsync(life, fault, code, 1);
        var status = execution.GetProperty("status").GetString();
        if (status == "timeout")
        {
            // The interrupt landed outside the try: a plain timeout, which is also right.
            Survive(life, fault);
            return;
        }
        ExpectCrashed(life, fault, execution, "did not stop");
        var bound = TimeSpan.FromSeconds(1) + LoadScenario.InterruptGrace + TimeSpan.FromSeconds(20);
        if (reply.Elapsed > bound)
        {
            Fail(life, fault, $"took {reply.Elapsed.TotalSeconds:0.0} s to end (bound {bound.TotalSeconds:0} s)");
        }
        life.StateSet = false;
        await RecoverAsync(life, fault, before);
    }

    private async Task DisconnectAsync(Life life)
    {
        const string fault = "client disconnected mid-stream";
        var token = NewToken();
        var code = $"print('{token}', flush=True)\nimport time\ntime.sleep(30)";
        Inject(life, fault);
        var stream = await OpenStreamAsync(life, () => life.Api.StreamAsync(life.Id, code, null, RequestBound, e => Task.FromResult(e.Name != "stream")));
        if (!stream.ClosedByClient)
        {
            if (stream.Transport is not null && scenario.IsExcused(life.Epoch))
            {
                throw new EpochEnded();
            }
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, fault, $"the stream ended before the client hung up: {stream.Head} / {stream.Events.Count} events / {stream.Transport?.Message}");
        }
        CheckTokens(life, fault, stream.Raw, token);
        // The server interrupts the code once the client is gone: the session becomes ready again.
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var reply = await life.Api.GetAsync($"/v1/sessions/{life.Id}", RequestBound);
            Require(life, "get session", reply, 200);
            if (reply.Json.GetProperty("status").GetString() == "ready")
            {
                break;
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(20))
            {
                Fail(life, fault, "the session stayed busy 20 s after its client hung up: the code was not interrupted");
            }
            await Task.Delay(50);
        }
        L.Latency("interrupt after a hang-up", clock.Elapsed);
        // Interrupted, unless the fault injector killed the sandbox meanwhile (then it crashed),
        // or the interrupt did not land within the grace period on this busy machine: then the
        // engine kills the sandbox, as it promises, and the execution is recorded crashed.
        bool killed = scenario.KillsOf(life.Workspace!) > life.KillsSeen;
        bool graceRanOut = clock.Elapsed >= LoadScenario.InterruptGrace;
        if (graceRanOut)
        {
            L.Count("hang-ups whose interrupt did not land within the grace (the sandbox was killed, or only just interrupted)");
            life.StateSet = false;
        }
        L.ExpectAudited(code, life.Id, killed || graceRanOut ? null : "interrupted", life.Epoch, fault);
        L.ExecutionCompleted();
        scenario.ExecutionDone(life.Epoch);
        if (life.StateSet)
        {
            await RunWorkloadAsync(life, Workloads.StateGet);
        }
        else
        {
            await RunWorkloadAsync(life, Workloads.Stateless[1]);
        }
        Survive(life, fault);
    }

    private async Task SlowReaderAsync(Life life)
    {
        const string fault = "slow reader (2 KiB every 15 ms)";
        var token = NewToken();
        // About 1.2 MB of output: the server streams only the head, so a slow client is never sent it all.
        var code = $"print('{token}', flush=True)\nimport sys\nfor i in range(3000):\n    sys.stdout.write('%05d ' % i + 'y' * 400 + '\\n')";
        Inject(life, fault);
        var stream = await OpenStreamAsync(life, () => life.Api.StreamAsync(life.Id, code, null, RequestBound, null, readChunk: 2048, readPause: TimeSpan.FromMilliseconds(15)));
        var done = RequireDone(life, fault, stream, code, ownTokenRequired: true);
        if (done.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, fault, $"status {done.GetProperty("status")}: {Summary(done)}");
        }
        var stdout = done.GetProperty("stdout").GetString() ?? "";
        if (!stdout.StartsWith(token + "\n", StringComparison.Ordinal) || !done.GetProperty("stdout_truncated").GetBoolean() || !stdout.Contains("02999 ", StringComparison.Ordinal))
        {
            Fail(life, fault, $"expected the head (with the token) and the tail (line 02999) of a truncated stdout; truncated={done.GetProperty("stdout_truncated")}, {stdout.Length} chars");
        }
        Survive(life, fault);
    }

    private async Task RestartInterpreterAsync(Life life)
    {
        var before = Probe.SandboxOn(life.Workspace!);
        var reply = await FileWithRetryAsync(life, "restart", () => life.Api.SendAsync(HttpMethod.Post, $"/v1/sessions/{life.Id}/restart", null, RequestBound), 200);
        L.Latency("restart interpreter", reply.Elapsed);
        life.StateSet = false;
        var token = NewToken();
        var code = $"print('{token}')\nprint(open('{Marker}').read())\n'x' in dir()";
        var (execution, _) = await ExecuteAsync(life, "after restart", code, null);
        if (execution.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, "after restart", Summary(execution));
        }
        ExpectStdout(life, "after restart", execution, $"{token}\n{life.Id}\n");
        if (execution.GetProperty("result").GetProperty("text/plain").GetString() != "False")
        {
            Fail(life, "after restart", "variables survived a restart: it did not give a fresh interpreter");
        }
        foreach (var (path, hash) in life.Uploads)
        {
            await ExpectFileAsync(life, path, hash);
        }
        if (before is not null)
        {
            await ExpectGoneAsync(life, "restart", () => Probe.SandboxCgroups().Contains(before.Cgroup) ? $"the old interpreter's cgroup {before.Cgroup} is still there" : null);
        }
        NoteSandbox(life);
        L.Count("interpreter restarts (files kept)");
    }

    /// <summary>
    /// A file that is not a regular file (here a FIFO made by the code): downloading it must be
    /// refused at once, not wait for a writer with the session's control thread.
    /// </summary>
    private async Task DownloadFifoAsync(Life life)
    {
        var token = NewToken();
        var name = $"fifo-{token[..10]}";
        var (execution, _) = await ExecuteAsync(life, "make a FIFO", $"print('{token}')\nimport os\nos.mkfifo('{name}')", null);
        if (execution.GetProperty("status").GetString() != "ok")
        {
            if (await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, "make a FIFO", Summary(execution));
        }
        var (reply, _) = await life.Api.DownloadAsync($"/v1/sessions/{life.Id}/files/{name}", TimeSpan.FromSeconds(20));
        if (reply.Failed && scenario.IsExcused(life.Epoch))
        {
            throw new EpochEnded();
        }
        if (reply.Status != 400 || reply.ProblemCode != "invalid_path")
        {
            if (reply.Status == 503 && await ExcusedByKillAsync(life))
            {
                return;
            }
            Fail(life, "download of a FIFO", $"expected 400 invalid_path at once, got {reply}");
        }
        if (life.StateSet)
        {
            await RunWorkloadAsync(life, Workloads.StateGet); // the session was not wedged
        }
        else
        {
            await RunWorkloadAsync(life, Workloads.Stateless[1]);
        }
    }

    /// <summary>POST /v1/execute: a session of its own that ends with the request; its output must be its own.</summary>
    private async Task OneShotAsync(Life life)
    {
        var token = NewToken();
        var code = $"print('{token}')\nopen('out.txt', 'w').write(open('in.txt').read().upper())\n6 * 7";
        var reply = await life.Api.PostJsonAsync("/v1/execute", new
        {
            code,
            files = new[] { new { path = "in.txt", content_base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(token)) } },
        }, RequestBound);
        if (reply.Status is 429 or 503)
        {
            CheckRefusal(reply, $"{life.Where} one-shot", life.Epoch);
            return;
        }
        Require(life, "one-shot", reply, 200);
        L.Latency("execute one-shot", reply.Elapsed);
        var execution = reply.Json.GetProperty("execution");
        CheckTokens(life, "one-shot", reply.Body, token);
        if (execution.GetProperty("status").GetString() != "ok")
        {
            Fail(life, "one-shot", Summary(execution));
        }
        var files = reply.Json.GetProperty("files").EnumerateArray().ToList();
        var output = files.FirstOrDefault(f => f.GetProperty("path").GetString() == "out.txt");
        var upper = token.ToUpperInvariant();
        if (output.ValueKind != JsonValueKind.Object || !string.Equals(Encoding.UTF8.GetString(Convert.FromBase64String(output.GetProperty("content_base64").GetString()!)), upper, StringComparison.Ordinal))
        {
            Fail(life, "one-shot", "out.txt did not come back with the upper-cased input");
        }
        L.ExpectAudited(code, execution.GetProperty("session_id").GetString()!, "ok", life.Epoch, "one-shot");
        L.ExecutionCompleted();
        scenario.ExecutionDone(life.Epoch);
        L.Count("one-shot executions");
    }

    // ------------------------------------------------------------------------------------
    // Ends
    // ------------------------------------------------------------------------------------

    private async Task EndByDeleteAsync(Life life)
    {
        var reply = await life.Api.DeleteAsync($"/v1/sessions/{life.Id}", RequestBound);
        Require(life, "delete", reply, 204);
        L.Latency("delete session", reply.Elapsed);
        await ExpectNothingLeftAsync(life, "delete");
        L.Count("sessions ended by delete, nothing left");
        CountKillsBeforeTheEnd(life);
        var again = await life.Api.GetAsync($"/v1/sessions/{life.Id}", RequestBound);
        if (!(again.Status == 404 && again.ProblemCode == "session_not_found") && !(again.Failed && scenario.IsExcused(life.Epoch)))
        {
            L.Violation(life.Where, $"a deleted session still answers: {again}");
        }
    }

    private async Task EndByIdleTimeoutAsync(Life life)
    {
        var clock = Stopwatch.StartNew();
        var bound = TimeSpan.FromSeconds(LoadScenario.IdleTimeoutSeconds) + LoadScenario.ReapInterval + TimeSpan.FromSeconds(20);
        while (true)
        {
            var reply = await life.Api.GetAsync($"/v1/sessions/{life.Id}", RequestBound);
            if (reply.Status == 404 && reply.ProblemCode == "session_not_found")
            {
                break;
            }
            Require(life, "get idle session", reply, 200);
            if (clock.Elapsed > bound)
            {
                Fail(life, "idle timeout", $"the session still exists {clock.Elapsed.TotalSeconds:0} s after its {LoadScenario.IdleTimeoutSeconds} s idle timeout");
            }
            await Task.Delay(200);
        }
        L.Latency("idle session reaped after", clock.Elapsed);
        await ExpectNothingLeftAsync(life, "idle timeout");
        L.Count("sessions ended by idle timeout, nothing left");
        CountKillsBeforeTheEnd(life);
    }

    /// <summary>A random kill after the session's last request: its end, with nothing left behind, is what survived it.</summary>
    private void CountKillsBeforeTheEnd(Life life)
    {
        long kills = scenario.KillsOf(life.Workspace!);
        if (kills > life.KillsSeen)
        {
            L.Survived(RandomKill, kills - life.KillsSeen);
            life.KillsSeen = kills;
        }
    }

    private async Task TryDeleteAsync(Life life)
    {
        try
        {
            await life.Api.DeleteAsync($"/v1/sessions/{life.Id}", TimeSpan.FromSeconds(30));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Best effort after a violation; the final leak check sees what is left.
        }
    }

    /// <summary>The session's workspace, mount, processes and every cgroup it had are gone from the host.</summary>
    private Task ExpectNothingLeftAsync(Life life, string how)
    {
        var workspace = life.Workspace!;
        return ExpectGoneAsync(life, $"leak after {how}", () =>
        {
            if (Directory.Exists(workspace))
            {
                return $"the workspace {workspace} is still on disk";
            }
            if (Probe.Mounts().Contains(workspace))
            {
                return $"the workspace's volume is still mounted at {workspace}";
            }
            if (Probe.SandboxProcesses(workspace) is { Count: > 0 } pids)
            {
                return $"sandbox processes of the session are alive: {string.Join(", ", pids)}";
            }
            var cgroups = Probe.SandboxCgroups();
            if (life.Cgroups.FirstOrDefault(cgroups.Contains) is { } cgroup)
            {
                return $"the session's cgroup {cgroup} is still there";
            }
            return null;
        });
    }

    /// <summary>Polls a host condition (null = clean) with a deadline; host cleanup may trail the answer by a moment.</summary>
    private async Task ExpectGoneAsync(Life life, string what, Func<string?> leftover)
    {
        var clock = Stopwatch.StartNew();
        while (leftover() is { } problem)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(15))
            {
                L.Violation(life.Where, $"{what}: {problem} (15 s later)");
                return;
            }
            await Task.Delay(50);
        }
    }

    // ------------------------------------------------------------------------------------
    // Checks shared by the operations
    // ------------------------------------------------------------------------------------

    /// <summary>Runs code as one JSON request; checks the answer's status, its tokens, and records it for the audit check.</summary>
    private async Task<(JsonElement Execution, Reply Reply)> ExecuteAsync(Life life, string what, string code, double? timeout, bool ownTokenRequired = true)
    {
        var clock = Stopwatch.StartNew();
        Reply reply;
        do
        {
            reply = await life.Api.ExecuteAsync(life.Id, code, timeout, RequestBound);
        }
        while (await ShouldRetryForCapacityAsync(life, what, reply, clock));
        Require(life, what, reply, 200);
        var execution = reply.Json;
        // A crash may lose what was printed just before it; any other end must carry the token.
        bool crashed = execution.GetProperty("status").GetString() == "crashed";
        CheckTokens(life, what, reply.Body, ownTokenRequired && !crashed ? TokenIn(code) : null, TokenIn(code));
        L.ExpectAudited(code, life.Id, execution.GetProperty("status").GetString(), life.Epoch, what);
        L.ExecutionCompleted();
        scenario.ExecutionDone(life.Epoch);
        return (execution, reply);
    }

    private JsonElement RequireDone(Life life, string what, StreamResult stream, string code, bool ownTokenRequired = true)
    {
        if (stream.Head.Failed || (stream.Transport is not null && stream.Done is null))
        {
            if (scenario.IsExcused(life.Epoch))
            {
                throw new EpochEnded();
            }
            Fail(life, what, $"the stream broke: {stream.Head} {stream.Transport?.Message} after {stream.Events.Count} events");
        }
        if (stream.Head.Status != 200 || stream.Head.ContentType != "text/event-stream")
        {
            Require(life, what, stream.Head, 200);
            Fail(life, what, $"expected an event stream, got {stream.Head}");
        }
        if (stream.Done is not { } done)
        {
            Fail(life, what, $"the stream ended without a 'done' event after {stream.Events.Count} events");
            throw new LifeBroken(); // (Fail throws; this tells the compiler 'done' is assigned below)
        }
        if (stream.Events[^1].Name != "done")
        {
            Fail(life, what, "events came after 'done'");
        }
        bool crashed = done.GetProperty("status").GetString() == "crashed";
        CheckTokens(life, what, stream.Raw, ownTokenRequired && !crashed ? TokenIn(code) : null, TokenIn(code));
        L.ExpectAudited(code, life.Id, done.GetProperty("status").GetString(), life.Epoch, what);
        L.ExecutionCompleted();
        scenario.ExecutionDone(life.Epoch);
        return done;
    }

    /// <summary>
    /// Every answer must carry exactly its own token: never another request's. <paramref name="required"/>
    /// must appear; <paramref name="allowed"/> may (a crash can lose what was printed just before it).
    /// </summary>
    private void CheckTokens(Life life, string what, string raw, string? required, string? allowed = null)
    {
        allowed ??= required;
        foreach (Match match in TokenPattern().Matches(raw))
        {
            if (match.Value != allowed)
            {
                L.Violation(life.Where, $"{what}: the answer carries another request's token {match.Value} (its own is {allowed}): output was misattributed");
                throw new LifeBroken();
            }
        }
        if (required is not null && !raw.Contains(required, StringComparison.Ordinal))
        {
            Fail(life, what, $"its own token {required} is missing from the answer: {Reply.Clip(raw, 300)}");
        }
    }

    private void ExpectStdout(Life life, string what, JsonElement execution, string expected)
    {
        var stdout = execution.GetProperty("stdout").GetString();
        if (stdout != expected)
        {
            Fail(life, what, $"stdout {Reply.Clip(stdout ?? "(null)", 200)}, expected {Reply.Clip(expected, 200)}");
        }
    }

    /// <summary>
    /// Checks an answer's status. No answer at all, or session_not_found, is expected only when
    /// the server was being restarted since the session began (the session then ends here).
    /// </summary>
    private void Require(Life life, string what, Reply reply, int status)
    {
        if (reply.Status == status)
        {
            return;
        }
        if ((reply.Failed && !reply.Hung) || reply.ProblemCode is "session_not_found" or "sandbox_unavailable")
        {
            if (scenario.IsExcused(life.Epoch))
            {
                throw new EpochEnded();
            }
        }
        if (reply.Hung)
        {
            Fail(life, what, $"the server hung: {reply}");
        }
        if (reply.Failed)
        {
            Fail(life, what, $"no answer while the server was up: {reply}");
        }
        if (reply.Status >= 400 && reply.ContentType != "application/problem+json")
        {
            Fail(life, what, $"an error without problem+json: {reply}");
        }
        Fail(life, what, $"expected {status}, got {reply}");
    }

    /// <summary>A file request (or a restart), retried while the server answers sandbox_unavailable (see <see cref="ShouldRetryForCapacityAsync"/>).</summary>
    private async Task<Reply> FileWithRetryAsync(Life life, string what, Func<Task<Reply>> send, int status)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var reply = await send();
            if (await ShouldRetryForCapacityAsync(life, what, reply, clock))
            {
                continue;
            }
            Require(life, what, reply, status);
            return reply;
        }
    }

    /// <summary>Opens an event stream, retried while it is refused with sandbox_unavailable.</summary>
    private async Task<StreamResult> OpenStreamAsync(Life life, Func<Task<StreamResult>> open)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var stream = await open();
            if (!await ShouldRetryForCapacityAsync(life, "event stream", stream.Head, clock))
            {
                return stream;
            }
        }
    }

    /// <summary>
    /// sandbox_unavailable is the documented answer when a request needs a new sandbox (after a
    /// crash or a kill) and none can be started in time because the host is at capacity, or when
    /// the sandbox went away during a file request. It says "try again": the session must work
    /// again once there is room, within <see cref="CapacityPatience"/>.
    /// </summary>
    private async Task<bool> ShouldRetryForCapacityAsync(Life life, string what, Reply reply, Stopwatch clock)
    {
        if (reply.Status != 503 || reply.ProblemCode != "sandbox_unavailable" || scenario.IsExcused(life.Epoch))
        {
            return false;
        }
        L.Count("requests answered sandbox_unavailable (a new sandbox was needed; retried)");
        if (clock.Elapsed > CapacityPatience)
        {
            Fail(life, what, $"still sandbox_unavailable after {clock.Elapsed.TotalSeconds:0} s of retrying: the session did not work again ({reply})");
        }
        await Task.Delay(TimeSpan.FromMilliseconds(300 + _random.Next(700))); // back-off, as a client told to try again would
        return true;
    }

    private static readonly TimeSpan CapacityPatience = TimeSpan.FromSeconds(90);

    /// <summary>
    /// True when the fault injector killed this session's sandbox since the last look: a crash,
    /// a lost variable or a refused file request is then the fault's doing, not a bug.
    /// </summary>
    private async Task<bool> ExcusedByKillAsync(Life life)
    {
        if (life.Workspace is null || scenario.KillsOf(life.Workspace) <= life.KillsSeen)
        {
            return false;
        }
        lock (life.PendingFaults)
        {
            // The random kill overtook the operation's own fault: that one cannot be judged.
            foreach (var fault in life.PendingFaults)
            {
                L.CutShort(fault);
            }
            life.PendingFaults.Clear();
        }
        await AccountForKillsAsync(life);
        return true;
    }

    /// <summary>After an injected kill of this session's sandbox: it must work again, on the same files.</summary>
    private async Task AccountForKillsAsync(Life life)
    {
        if (life.Workspace is null)
        {
            return;
        }
        long kills = scenario.LandedKillsOf(life.Workspace);
        if (kills <= life.KillsSeen)
        {
            return;
        }
        long unaccounted = kills - life.KillsSeen;
        life.KillsSeen = kills;
        life.StateSet = false;
        await RecoverAsync(life, RandomKill, null);
        if (unaccounted > 1)
        {
            L.Survived(RandomKill, unaccounted - 1); // several kills between two looks: one recovery survived them all
        }
    }

    private void Inject(Life life, string fault)
    {
        L.Injected(fault);
        lock (life.PendingFaults)
        {
            life.PendingFaults.Add(fault);
        }
    }

    private const string RandomKill = "random SIGKILL of a session's sandbox (host)";

    /// <summary>Counts a fault as survived, unless it was already counted as cut short (a random kill overtook it).</summary>
    private void Survive(Life life, string fault)
    {
        bool pending;
        lock (life.PendingFaults)
        {
            pending = life.PendingFaults.Remove(fault);
        }
        if (pending || fault == RandomKill) // the injector's kills are not tracked per session
        {
            L.Survived(fault);
        }
    }

    /// <summary>A restart ended the session before its faults were judged: they count as cut short, not survived.</summary>
    private void CutShort(Life life)
    {
        L.Count("sessions cut short by a server restart");
        lock (life.PendingFaults)
        {
            foreach (var fault in life.PendingFaults)
            {
                L.CutShort(fault);
            }
            life.PendingFaults.Clear();
        }
        if (life.Workspace is not null && scenario.KillsOf(life.Workspace) is var kills && kills > life.KillsSeen)
        {
            L.CutShort(RandomKill, kills - life.KillsSeen);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(Life life, string what, string message)
    {
        L.Violation(life.Where, $"{what}: {message}");
        throw new LifeBroken();
    }

    private static bool HasPng(JsonElement execution) =>
        execution.GetProperty("outputs").EnumerateArray().Any(o =>
            o.GetProperty("type").GetString() == "display_data" &&
            o.GetProperty("data").TryGetProperty("image/png", out var png) &&
            Convert.FromBase64String(png.GetString()!).AsSpan().StartsWith(PngSignature));

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

    private static string Summary(JsonElement execution) =>
        Reply.Clip(execution.TryGetProperty("summary", out var s) ? s.GetString() ?? "" : execution.ToString(), 400);

    /// <summary>A token no other request prints: "LT" and 32 hex digits.</summary>
    private static string NewToken() => "LT" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private static string? TokenIn(string code) => TokenPattern().Match(code) is { Success: true } m ? m.Value : null;

    [GeneratedRegex("LT[0-9a-f]{32}")]
    private static partial Regex TokenPattern();
}
