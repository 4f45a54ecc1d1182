using Vivarium.Sandbox.Bubblewrap;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Tests.Bubblewrap;

/// <summary>How a sandbox's end is decided, without a cgroup (no OOM record): see the engine tests for a real OOM.</summary>
public sealed class SandboxExitRecorderTests
{
    private static SandboxExitRecorder WithoutCgroup() => new(new SandboxCgroup(CgroupMode.None, []));

    [Fact]
    public async Task Conclude_WithoutKill_IsRunnerExitedWithTheCode()
    {
        var recorder = WithoutCgroup();

        var exit = await recorder.ConcludeAsync(-9);

        Assert.Equal(SandboxExitReason.RunnerExited, exit.Reason);
        Assert.Equal("the interpreter exited (code -9)", exit.Detail);
        Assert.Same(exit, await recorder.Exited);
    }

    [Fact]
    public async Task RecordKill_FirstReasonWins()
    {
        var recorder = WithoutCgroup();

        recorder.RecordKill(SandboxExitReason.KilledAfterTimeout);
        recorder.RecordKill(SandboxExitReason.Disposed);
        var exit = await recorder.ConcludeAsync(-9);

        Assert.Equal(SandboxExitReason.KilledAfterTimeout, exit.Reason);
    }

    [Theory]
    [InlineData(null, SandboxExitReason.OutOfMemory)]
    [InlineData(SandboxExitReason.RunnerExited, SandboxExitReason.OutOfMemory)]
    [InlineData(SandboxExitReason.KilledAfterTimeout, SandboxExitReason.KilledAfterTimeout)]
    [InlineData(SandboxExitReason.Disposed, SandboxExitReason.Disposed)]
    public void Decide_OomBeatsOnlyTheRunnersOwnExit(SandboxExitReason? killReason, SandboxExitReason expected) =>
        Assert.Equal(expected, SandboxExitRecorder.Decide(oomKilled: true, killReason));

    [Fact]
    public void ReasonFor_ClosedChannel_NamesAViolation()
    {
        Assert.Equal(SandboxExitReason.ProtocolViolation, SandboxExitRecorder.ReasonFor(new RunnerChannelClosed(true, "bad frame")));
        Assert.Equal(SandboxExitReason.RunnerExited, SandboxExitRecorder.ReasonFor(new RunnerChannelClosed(false, "the runner exited")));
    }
}
