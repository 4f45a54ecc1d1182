using System.Diagnostics;

namespace Vivarium.Security.Tests;

/// <summary>
/// Watches the memory of this process (the server runs in it) while a case runs: the working
/// set every 20 ms, and the live managed heap (after a full collection) every 250 ms. The live
/// heap is what the server really holds; the working set also counts garbage the GC has not
/// collected yet (large strings sit on the large-object heap until a gen-2 collection), so its
/// peak is reported but the checks use the live peak and the working set after a collection.
/// </summary>
public sealed class WorkingSetSampler : IAsyncDisposable
{
    private const long Mb = 1024 * 1024;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _workingSetLoop;
    private readonly Task _liveLoop;
    private long _peak;
    private long _livePeak;
    private bool _disposed;

    public WorkingSetSampler()
    {
        Trim();
        using var self = Process.GetCurrentProcess();
        Before = self.WorkingSet64;
        LiveBefore = GC.GetTotalMemory(forceFullCollection: true);
        _peak = Before;
        _livePeak = LiveBefore;
        _workingSetLoop = Task.Run(WorkingSetLoopAsync);
        _liveLoop = Task.Run(LiveLoopAsync);
    }

    public long Before { get; }
    public long LiveBefore { get; }
    public long After { get; private set; }
    public long Peak => Interlocked.Read(ref _peak);
    public long LivePeak => Interlocked.Read(ref _livePeak);

    /// <summary>How far the live heap rose at its highest: what the server held at once.</summary>
    public long LiveGrowthMb => (LivePeak - LiveBefore) / Mb;

    /// <summary>Working set after the case and a full collection, against before.</summary>
    public long RetainedMb => (After - Before) / Mb;

    public string Describe() =>
        $"server live heap {LiveBefore / Mb} MB → peak {LivePeak / Mb} MB (+{LiveGrowthMb} MB); working set {Before / Mb} MB → after {After / Mb} MB ({RetainedMb:+#;-#;0} MB; peak {Peak / Mb} MB with uncollected garbage)";

    private static void Trim()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private async Task WorkingSetLoopAsync()
    {
        using var self = Process.GetCurrentProcess();
        while (!_stop.IsCancellationRequested)
        {
            self.Refresh();
            Raise(ref _peak, self.WorkingSet64);
            await Pause(20);
        }
    }

    private async Task LiveLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Raise(ref _livePeak, GC.GetTotalMemory(forceFullCollection: true));
            await Pause(250);
        }
    }

    private async Task Pause(int milliseconds)
    {
        try
        {
            await Task.Delay(milliseconds, _stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Raise(ref long peak, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref peak)) && Interlocked.CompareExchange(ref peak, value, current) != current)
        {
        }
    }

    /// <summary>Stops sampling and measures the working set after a full collection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await _stop.CancelAsync();
        await Task.WhenAll(_workingSetLoop, _liveLoop);
        Raise(ref _livePeak, GC.GetTotalMemory(forceFullCollection: false));
        Trim();
        using var self = Process.GetCurrentProcess();
        After = self.WorkingSet64;
        _stop.Dispose();
    }
}
