using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;

namespace Vivarium.Engine.Tests;

/// <summary>Limits checked before code runs, restart, and the end of a session.</summary>
[Collection("Engine")]
public sealed class SessionLifecycleTests(EngineFixture engine)
{
    [Fact]
    public async Task Start_CodeOverTheSizeLimit_ThrowsPayloadTooLarge()
    {
        await using var lease = await engine.NewSessionAsync();
        var code = "#" + new string('x', 1024 * 1024);

        var error = Assert.Throws<VivariumException>(() => lease.Session.Start(new ExecuteRequest(code), CancellationToken.None));

        Assert.Equal(ErrorCodes.PayloadTooLarge, error.Code);
        Assert.Equal(SessionStatus.Ready, lease.Session.Status);
        Assert.Equal(0, lease.Session.ExecutionCount);
    }

    [Fact]
    public async Task Start_TimeoutOutOfRange_ThrowsInvalidRequest()
    {
        await using var lease = await engine.NewSessionAsync();

        foreach (var timeout in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(-1), TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1) })
        {
            var error = Assert.Throws<VivariumException>(() => lease.Session.Start(new ExecuteRequest("1", timeout), CancellationToken.None));
            Assert.Equal(ErrorCodes.InvalidRequest, error.Code);
        }
        Assert.Equal(0, lease.Session.ExecutionCount);
    }

    [Fact]
    public async Task Restart_KeepsFilesAndClearsVariables()
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.RunOkAsync("forgotten = 1\nopen('remembered.txt', 'w').write('still here')");

        await lease.Session.RestartAsync(CancellationToken.None).WaitAsync(TestBounds.SessionCreate);
        var execution = await lease.RunAsync("print(open('remembered.txt').read())\nforgotten");

        Assert.Equal(ExecutionStatus.Error, execution.Status);
        Assert.Equal("NameError", execution.Error!.Name);
        Assert.Equal("still here\n", execution.Stdout);
        Assert.Equal(1, execution.ExecutionCount);
    }

    [Fact]
    public async Task CreateAsync_WithEnvironment_VisibleToCodeAndKeptOverRestart()
    {
        await using var lease = await engine.NewSessionAsync(new SessionCreateOptions
        {
            Environment = new Dictionary<string, string> { ["GREETING"] = "it's \"quoted\"; $(not run)" },
        });

        var before = await lease.RunOkAsync("import os\nprint(os.environ['GREETING'])");
        await lease.Session.RestartAsync(CancellationToken.None).WaitAsync(TestBounds.SessionCreate);
        var after = await lease.RunOkAsync("import os\nprint(os.environ['GREETING'])");

        Assert.Equal("it's \"quoted\"; $(not run)\n", before);
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task CreateAsync_WithLowerMemoryLimit_AppliesIt()
    {
        await using var lease = await engine.NewSessionAsync(new SessionCreateOptions
        {
            Limits = new Sandbox.SandboxLimits { MemoryBytes = 256L * 1024 * 1024 },
        });

        var execution = await lease.RunAsync("x = bytearray(400 * 1024**2)", TimeSpan.FromSeconds(30));

        Assert.True(execution.Status is ExecutionStatus.Crashed or ExecutionStatus.Error, $"400 MB fit under a 256 MB limit: {execution.Summary}");
    }

    [Fact]
    public async Task Delete_EndsSessionAndRemovesWorkspace()
    {
        var lease = await engine.NewSessionAsync();
        var session = lease.Session;
        await lease.RunOkAsync("open('f.txt', 'w').write('x')");
        var workspace = session.Workspace.HostPath;
        Assert.True(Directory.Exists(workspace));

        await engine.Sessions.DeleteAsync(session.TenantId, session.Id);

        Assert.Equal(SessionStatus.Ended, session.Status);
        Assert.False(Directory.Exists(workspace));
        Assert.Null(engine.Sessions.TryGet(session.TenantId, session.Id));
        var error = Assert.Throws<VivariumException>(() => session.Start(new ExecuteRequest("1"), CancellationToken.None));
        Assert.Equal(ErrorCodes.SessionNotFound, error.Code);
        var files = await Assert.ThrowsAsync<VivariumException>(() => session.ListFilesAsync(CancellationToken.None));
        Assert.Equal(ErrorCodes.SessionNotFound, files.Code);
    }

    [Fact]
    public async Task Get_OtherTenantsSession_IsNotFound()
    {
        await using var lease = await engine.NewSessionAsync();

        var error = Assert.Throws<VivariumException>(() => engine.Sessions.Get("someone-else", lease.Session.Id));

        Assert.Equal(ErrorCodes.SessionNotFound, error.Code);
        Assert.Empty(engine.Sessions.List("someone-else"));
        Assert.Same(lease.Session, Assert.Single(engine.Sessions.List(lease.Session.TenantId)));
    }

    [Fact]
    public async Task IdleSession_PastItsTimeout_IsEndedAndItsWorkspaceDeleted()
    {
        var lease = await engine.NewSessionAsync(new SessionCreateOptions { IdleTimeout = TimeSpan.FromSeconds(1) });
        var session = lease.Session;
        var workspace = session.Workspace.HostPath;
        Assert.True(Directory.Exists(workspace));

        // The reaper runs every 200 ms; poll its effect, bounded by a deadline.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while ((engine.Sessions.TryGet(session.TenantId, session.Id) is not null || Directory.Exists(workspace)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Null(engine.Sessions.TryGet(session.TenantId, session.Id));
        Assert.Equal(SessionStatus.Ended, session.Status);
        Assert.False(Directory.Exists(workspace), "the expired session's workspace is still on disk");
    }
}
