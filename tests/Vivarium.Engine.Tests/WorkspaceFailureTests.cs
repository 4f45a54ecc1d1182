using Vivarium.Engine.Sessions;
using Vivarium.Sandbox;

namespace Vivarium.Engine.Tests;

/// <summary>A host that cannot make a workspace says so as sandbox_unavailable (a 503 a client may retry), not as an internal error.</summary>
[Collection("Engine")]
public sealed class WorkspaceFailureTests(EngineFixture engine)
{
    [Fact]
    public async Task CreateSession_WhenNoWorkspaceCanBeMade_ThrowsSandboxUnavailable()
    {
        // No refill in flight: only this test's create meets the broken directory.
        await TestBounds.PollAsync(() => engine.Pool.Available == engine.Pool.TargetSize, "the pool did not fill");
        var workspaces = Path.Combine(engine.StateDirectory, "workspaces");
        var aside = workspaces + ".aside";
        // A file where the workspaces' directory should be: every new workspace fails, as on a
        // full or broken disk. The warm sandboxes' own workspaces move aside with it, mounted.
        Directory.Move(workspaces, aside);
        await File.WriteAllTextAsync(workspaces, "not a directory");
        try
        {
            // Custom limits bypass the warm pool: the workspace is made on demand.
            var options = new SessionCreateOptions { Limits = new SandboxLimits { MaxProcesses = 32 } };
            var error = await Assert.ThrowsAsync<VivariumException>(() => engine.Sessions.CreateAsync("tenant-broken-disk", options, CancellationToken.None).WaitAsync(TestBounds.SessionCreate));

            Assert.Equal(ErrorCodes.SandboxUnavailable, error.Code);
            Assert.Contains("workspace", error.Message, StringComparison.Ordinal);
            Assert.Empty(engine.Sessions.List("tenant-broken-disk"));
        }
        finally
        {
            File.Delete(workspaces);
            Directory.Move(aside, workspaces);
        }
    }
}
