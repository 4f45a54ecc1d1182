using System.Diagnostics.Metrics;
using Vivarium.Engine.Executions;

namespace Vivarium.Engine;

/// <summary>
/// The engine's instruments (meter <c>Vivarium.Engine</c>), exported by the server as
/// Prometheus metrics through OpenTelemetry.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    /// <summary>The meter name to subscribe to.</summary>
    public const string MeterName = "Vivarium.Engine";

    private readonly Meter _meter;
    private readonly Counter<long> _executions;
    private readonly Histogram<double> _executionDuration;
    private readonly Histogram<double> _sessionCreateDuration;
    private readonly Counter<long> _sandboxStarts;

    /// <summary>Creates the instruments on a meter from the factory.</summary>
    public EngineMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _executions = _meter.CreateCounter<long>("vivarium.executions", "{execution}", "Executions by final status");
        _executionDuration = _meter.CreateHistogram<double>("vivarium.execution.duration", "s", "Wall time of executions",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        _sessionCreateDuration = _meter.CreateHistogram<double>("vivarium.session.create.duration", "s", "Time to create a session",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _sandboxStarts = _meter.CreateCounter<long>("vivarium.sandbox.starts", "{sandbox}", "Sandboxes started, by purpose and outcome");
    }

    /// <summary>Registers the gauges that read live state.</summary>
    public void ObserveState(Func<int> sessions, Func<int> poolAvailable, Func<int> poolTarget)
    {
        _meter.CreateObservableGauge("vivarium.sessions", sessions, "{session}", "Live sessions");
        _meter.CreateObservableGauge("vivarium.pool.available", poolAvailable, "{sandbox}", "Warm sandboxes waiting in the pool");
        _meter.CreateObservableGauge("vivarium.pool.target", poolTarget, "{sandbox}", "Configured pool size");
    }

    internal void ExecutionFinished(ExecutionStatus status, TimeSpan duration)
    {
        var tag = new KeyValuePair<string, object?>("status", status.ToString().ToLowerInvariant());
        _executions.Add(1, tag);
        _executionDuration.Record(duration.TotalSeconds, tag);
    }

    internal void SessionCreated(TimeSpan duration, bool fromPool) =>
        _sessionCreateDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("source", fromPool ? "pool" : "cold"));

    internal void SandboxStarted(string purpose, bool succeeded) =>
        _sandboxStarts.Add(1, new("purpose", purpose), new("outcome", succeeded ? "ok" : "failed"));

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
