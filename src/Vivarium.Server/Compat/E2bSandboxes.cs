using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Vivarium.Server.Auth;

namespace Vivarium.Server.Compat;

/// <summary>
/// What E2B knows about a sandbox that the engine does not: its access token, the template it
/// was asked for, its extra code contexts. The sandbox id is the id of its primary Vivarium
/// session, so a sandbox can also be driven through REST v1 and vice versa.
/// </summary>
internal sealed class E2bSandbox(string id, Tenant tenant, string accessToken, string templateId)
{
    /// <summary>The sandbox id, which is the primary session's id.</summary>
    public string Id { get; } = id;

    /// <summary>The owner, as resolved from the API key that created or connected it.</summary>
    public Tenant Tenant { get; } = tenant;

    /// <summary>Sent by the SDK as X-Access-Token (envd) and E2B-Traffic-Access-Token (code interpreter).</summary>
    public string AccessToken { get; } = accessToken;

    /// <summary>The template the client asked for (echoed back; there is one environment).</summary>
    public string TemplateId { get; } = templateId;

    /// <summary>Extra contexts (each its own session) by context id, which is that session's id.</summary>
    public ConcurrentDictionary<string, byte> Contexts { get; } = new(StringComparer.Ordinal);

    public bool Accepts(string? presented) =>
        presented is not null &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(AccessToken));
}

/// <summary>
/// The E2B sandboxes of this server. The engine's sessions are the truth: every lookup checks
/// them first, so a session that was reaped or deleted through REST v1 makes its sandbox
/// disappear here too, and a periodic sweep ends the contexts of a sandbox that is gone. The
/// only life this registry gives is E2B's rule that a sandbox and its contexts live as one.
/// </summary>
internal sealed class E2bSandboxes(SessionService sessions, Engine.SessionOptions options, TimeProvider time)
{
    private readonly SessionService _sessions = sessions;

    /// <summary>Metadata key marking a session that is an extra context of a sandbox (so sandbox listings skip it).</summary>
    public const string ContextOfKey = "e2b_context_of";

    private readonly ConcurrentDictionary<string, E2bSandbox> _sandboxes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RunningExecution> _running = new(StringComparer.Ordinal);

    public SessionService Sessions => _sessions;

    /// <summary>Registers a session as a sandbox (or returns the existing registration), with a fresh random token.</summary>
    public E2bSandbox Register(Session session, Tenant tenant, string templateId)
    {
        return _sandboxes.GetOrAdd(session.Id, id => new E2bSandbox(id, tenant, NewToken(), templateId));
    }

    /// <summary>The live sandbox with this id, or null (an ended one is forgotten on the way).</summary>
    public E2bSandbox? Find(string? id)
    {
        if (id is null || !_sandboxes.TryGetValue(id, out var sandbox))
        {
            return null;
        }
        if (_sessions.TryGet(sandbox.Tenant.Id, sandbox.Id) is null)
        {
            _ = ForgetAsync(sandbox);
            return null;
        }
        return sandbox;
    }

    /// <summary>The registration of a session, if it has one (connect reuses its token).</summary>
    public E2bSandbox? Registration(string id) => _sandboxes.TryGetValue(id, out var sandbox) ? sandbox : null;

    /// <summary>The sandbox's primary session.</summary>
    /// <exception cref="VivariumException">session_not_found when it has ended.</exception>
    public Session Primary(E2bSandbox sandbox) => _sessions.Get(sandbox.Tenant.Id, sandbox.Id);

    /// <summary>The session behind a context id of this sandbox (its own id is the default context), or null.</summary>
    public Session? Context(E2bSandbox sandbox, string contextId)
    {
        if (contextId == sandbox.Id)
        {
            return _sessions.TryGet(sandbox.Tenant.Id, sandbox.Id);
        }
        if (!sandbox.Contexts.ContainsKey(contextId))
        {
            return null;
        }
        var session = _sessions.TryGet(sandbox.Tenant.Id, contextId);
        if (session is null)
        {
            sandbox.Contexts.TryRemove(contextId, out _);
        }
        return session;
    }

    /// <summary>Live extra contexts of a sandbox, oldest first.</summary>
    public IReadOnlyList<Session> Contexts(E2bSandbox sandbox) =>
        sandbox.Contexts.Keys.Select(id => Context(sandbox, id)).OfType<Session>().OrderBy(s => s.CreatedAt).ToList();

    /// <summary>
    /// The idle timeout of a sandbox's extra contexts: the sandbox's, plus two sweeps. The sweep
    /// keeps them alive while the sandbox lives and ends them with it; the margin only matters
    /// if the sweep stopped, so that they still end soon after the sandbox would have.
    /// </summary>
    public TimeSpan ContextIdleTimeout(TimeSpan sandboxIdleTimeout)
    {
        var timeout = sandboxIdleTimeout + 2 * options.ReapInterval;
        return timeout < options.MaxIdleTimeout ? timeout : options.MaxIdleTimeout;
    }

    /// <summary>Any request for a sandbox, in any of its contexts, is activity of the sandbox.</summary>
    public void KeepAlive(E2bSandbox sandbox)
    {
        if (_sessions.TryGet(sandbox.Tenant.Id, sandbox.Id) is { } primary)
        {
            KeepAlive(primary);
        }
    }

    /// <summary>
    /// One pass over the sandboxes, run every reap interval: an ended sandbox loses its contexts;
    /// a context running code keeps the sandbox alive (E2B's timeout is the sandbox's, not a
    /// context's; every request for a context already counts, see <see cref="KeepAlive(E2bSandbox)"/>);
    /// contexts never end before their sandbox.
    /// </summary>
    public async Task SweepAsync()
    {
        foreach (var sandbox in _sandboxes.Values)
        {
            if (_sessions.TryGet(sandbox.Tenant.Id, sandbox.Id) is not { } primary)
            {
                await ForgetAsync(sandbox);
                continue;
            }
            var contexts = Contexts(sandbox);
            if (contexts.Any(c => c.Status == SessionStatus.Busy))
            {
                KeepAlive(primary);
            }
            foreach (var context in contexts)
            {
                KeepAlive(context);
            }
        }
    }

    /// <summary>Runs <see cref="SweepAsync"/> every reap interval until the host stops.</summary>
    public async Task RunSweepsAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.ReapInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await SweepAsync();
                }
                catch (Exception e) when (e is VivariumException or ObjectDisposedException)
                {
                    // A session ended under the sweep; the next pass sees the new state.
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: the engine ends every session anyway.
        }
    }

    /// <summary>
    /// Counts as activity without changing anything else: the engine's idle clock restarts when
    /// the idle timeout is set, so setting it to itself is a touch.
    /// </summary>
    private static void KeepAlive(Session session)
    {
        try
        {
            session.SetIdleTimeout(session.Settings.IdleTimeout);
        }
        catch (VivariumException e) when (e.Code == ErrorCodes.SessionNotFound)
        {
            // It ended meanwhile: nothing to keep.
        }
    }

    /// <summary>Ends the sandbox's sessions (contexts first) and forgets it.</summary>
    public async Task KillAsync(E2bSandbox sandbox)
    {
        await ForgetAsync(sandbox);
        await DeleteQuietlyAsync(sandbox.Tenant.Id, sandbox.Id);
    }

    /// <summary>Ends one extra context.</summary>
    public async Task RemoveContextAsync(E2bSandbox sandbox, string contextId)
    {
        sandbox.Contexts.TryRemove(contextId, out _);
        await DeleteQuietlyAsync(sandbox.Tenant.Id, contextId);
    }

    /// <summary>
    /// Starts code, waiting while the session runs something else: E2B queues executions per
    /// context, and its SDK aborts a timed-out request without waiting for the kernel, so the
    /// next runCode routinely arrives while the interrupted one is still unwinding.
    /// </summary>
    /// <exception cref="VivariumException">anything but session_busy; OperationCanceledException when the client leaves.</exception>
    public async Task<RunningExecution> StartQueuedAsync(Session session, ExecuteRequest request, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var running = session.Start(request, cancellationToken);
                _running[session.Id] = running;
                _ = running.Completion.ContinueWith(
                    _ => _running.TryRemove(new KeyValuePair<string, RunningExecution>(session.Id, running)),
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return running;
            }
            catch (VivariumException e) when (e.Code == ErrorCodes.SessionBusy)
            {
                if (_running.TryGetValue(session.Id, out var ahead) && !ahead.Completion.IsCompleted)
                {
                    await ((Task)ahead.Completion).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    // The turn is released just before Completion is set; give it a moment.
                    await Task.Yield();
                }
                else
                {
                    // Busy with something started elsewhere (REST v1): poll, backing off.
                    await Task.Delay(delay, cancellationToken);
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 200));
                }
            }
        }
    }

    private async Task ForgetAsync(E2bSandbox sandbox)
    {
        if (!_sandboxes.TryRemove(new KeyValuePair<string, E2bSandbox>(sandbox.Id, sandbox)))
        {
            return;
        }
        foreach (var contextId in sandbox.Contexts.Keys.ToList())
        {
            await RemoveContextAsync(sandbox, contextId);
        }
    }

    private async Task DeleteQuietlyAsync(string tenantId, string sessionId)
    {
        try
        {
            await _sessions.DeleteAsync(tenantId, sessionId);
        }
        catch (VivariumException e) when (e.Code == ErrorCodes.SessionNotFound)
        {
            // Already ended (reaped, or deleted through REST v1): the goal is reached.
        }
    }

    private static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
