using System.Diagnostics;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Xunit.Abstractions;

namespace Vivarium.Engine.Tests;

/// <summary>The idle timeout counts time without requests: a session serving one is never idle.</summary>
[Collection("Engine")]
public sealed class IdleWhileServingTests(EngineFixture engine, ITestOutputHelper output)
{
    [Fact]
    public async Task FileRequest_LongerThanTheIdleTimeout_DoesNotEndTheSession()
    {
        await using var lease = await engine.NewSessionAsync(new SessionCreateOptions { IdleTimeout = TimeSpan.FromMilliseconds(600) });
        var session = lease.Session;
        // After a crash the replacement interpreter starts in the background; the file request
        // below waits for it, which takes longer than the 600 ms idle timeout (a start imports
        // numpy, pandas and matplotlib). The reaper looks every 200 ms meanwhile.
        var crash = await lease.RunAsync("import os\nos._exit(1)");
        Assert.Equal(ExecutionStatus.Crashed, crash.Status);
        var clock = Stopwatch.StartNew();

        var written = await session.WriteFileAsync("kept.txt", "still here"u8.ToArray(), CancellationToken.None).WaitAsync(TestBounds.Execution);

        output.WriteLine($"the upload waited {clock.Elapsed.TotalMilliseconds:0} ms for the replacement interpreter");
        Assert.Equal(10, written.Size);
        Assert.NotNull(engine.Sessions.TryGet(session.TenantId, session.Id));
        Assert.Equal("still here", System.Text.Encoding.UTF8.GetString(await session.ReadFileAsync("kept.txt", CancellationToken.None)));
    }
}
