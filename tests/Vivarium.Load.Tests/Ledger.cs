using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Vivarium.Load.Tests;

/// <summary>An execution whose end the client saw: the audit log must hold it, with this status.</summary>
/// <param name="CodeSha256">The hash the server stores (each code holds a unique token, so it identifies the execution).</param>
/// <param name="SessionId">The session it ran in.</param>
/// <param name="Status">The status the client was told (null: the client hung up, any final status will do).</param>
/// <param name="Epoch">Which server process ran it.</param>
/// <param name="SeenAt">When the client saw it end.</param>
/// <param name="What">For messages: which operation it was.</param>
public sealed record AuditExpectation(string CodeSha256, string SessionId, string? Status, int Epoch, DateTimeOffset SeenAt, string What);

/// <summary>
/// Everything the run observed, shared by the workers: counts, latencies, faults injected and
/// survived, what the audit log must hold, and every violation of the properties under test.
/// </summary>
public sealed class Ledger
{
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<double>> _latencies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _faultsInjected = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _faultsSurvived = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _faultsCut = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<AuditExpectation> _audit = new();
    private readonly ConcurrentQueue<string> _checks = new();
    private long _executions;
    private long _sessions;

    /// <summary>Executions that completed (any status).</summary>
    public long Executions => Interlocked.Read(ref _executions);

    /// <summary>Sessions created.</summary>
    public long Sessions => Interlocked.Read(ref _sessions);

    /// <summary>Every violation so far, in order.</summary>
    public IReadOnlyList<string> Violations => [.. _violations];

    /// <summary>Records a broken property. The run goes on, so one run finds as much as it can.</summary>
    public void Violation(string where, string what) => _violations.Enqueue($"[{DateTime.UtcNow:HH:mm:ss.fff}] {where}: {what}");

    /// <summary>Counts something that happened.</summary>
    public void Count(string what, long by = 1) => _counts.AddOrUpdate(what, by, (_, n) => n + by);

    /// <summary>A passed check worth listing in the report (leak checks, recoveries).</summary>
    public void Checked(string what) => _checks.Enqueue(what);

    /// <summary>The passed checks, in order.</summary>
    public IReadOnlyList<string> Checks => [.. _checks];

    /// <summary>How many times something happened.</summary>
    public long CountOf(string what) => _counts.TryGetValue(what, out long n) ? n : 0;

    /// <summary>All counts.</summary>
    public IReadOnlyDictionary<string, long> Counts => new SortedDictionary<string, long>(_counts, StringComparer.Ordinal);

    /// <summary>Records a latency, in milliseconds, under a name ("execute W4_pandas").</summary>
    public void Latency(string what, TimeSpan elapsed) =>
        _latencies.GetOrAdd(what, _ => new ConcurrentQueue<double>()).Enqueue(elapsed.TotalMilliseconds);

    /// <summary>Latency samples by name.</summary>
    public IReadOnlyDictionary<string, double[]> Latencies =>
        _latencies.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal);

    /// <summary>Counts an execution whose end the client saw.</summary>
    public void ExecutionCompleted() => Interlocked.Increment(ref _executions);

    /// <summary>Counts a session the server created.</summary>
    public void SessionCreated() => Interlocked.Increment(ref _sessions);

    /// <summary>A fault was injected.</summary>
    public void Injected(string fault) => _faultsInjected.AddOrUpdate(fault, 1, (_, n) => n + 1);

    /// <summary>The system came through a fault with the properties intact.</summary>
    public void Survived(string fault, long by = 1) => _faultsSurvived.AddOrUpdate(fault, by, (_, n) => n + by);

    /// <summary>A server restart ended the session, or a random kill overtook the fault, before it could be judged.</summary>
    public void CutShort(string fault, long by = 1) => _faultsCut.AddOrUpdate(fault, by, (_, n) => n + by);

    /// <summary>Faults by kind: injected, survived, cut short by a server restart (the rest are violations).</summary>
    public IReadOnlyList<(string Fault, long Injected, long Survived, long CutShort)> Faults =>
        _faultsInjected.Keys.Union(_faultsSurvived.Keys).Order(StringComparer.Ordinal)
            .Select(k => (k, _faultsInjected.GetValueOrDefault(k), _faultsSurvived.GetValueOrDefault(k), _faultsCut.GetValueOrDefault(k)))
            .ToList();

    /// <summary>Remembers an execution the audit log must hold.</summary>
    public void ExpectAudited(string code, string sessionId, string? status, int epoch, string what) =>
        _audit.Enqueue(new AuditExpectation(Sha256(code), sessionId, status, epoch, DateTimeOffset.UtcNow, what));

    /// <summary>The executions the audit log must hold, for one server process.</summary>
    public IReadOnlyList<AuditExpectation> AuditExpectations(int epoch) => [.. _audit.Where(a => a.Epoch == epoch)];

    /// <summary>The hash the server's audit log stores for a code.</summary>
    public static string Sha256(string code) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));
}
