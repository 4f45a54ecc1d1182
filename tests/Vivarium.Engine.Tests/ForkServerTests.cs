using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Vivarium.Sandbox;
using Vivarium.Sandbox.Bubblewrap;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Engine.Tests;

/// <summary>A real backend in fork-server mode, with its own state directory and a canary in the test process's environment.</summary>
public sealed class ForkServerFixture : IAsyncLifetime
{
    public const string CanaryName = "VIVARIUM_FORKSERVER_CANARY";

    public string StateDirectory { get; } = Path.Combine("/tmp", "vivarium-forkserver-tests-" + Guid.NewGuid().ToString("N")[..8]);
    public string CanaryValue { get; } = "canary-" + Guid.NewGuid().ToString("N");
    public BubblewrapBackend Backend { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(CanaryName, CanaryValue);
        Backend = new BubblewrapBackend(
            Options.Create(new BubblewrapOptions { StateDirectory = StateDirectory, Mode = BubblewrapOptions.ForkServerMode, MaxProcesses = 64 }),
            NullLogger<BubblewrapBackend>.Instance);
        await Backend.InitializeAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await Backend.DisposeAsync();
        Environment.SetEnvironmentVariable(CanaryName, null);
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>What the zygote itself must guarantee, beyond what the Engine and Security suites check in either mode.</summary>
/// <remarks>In the Engine collection, so its sandboxes never compete for the two cores with the engine's timed tests.</remarks>
[Collection("Engine")]
public sealed class ForkServerTests(ForkServerFixture fixture) : IClassFixture<ForkServerFixture>
{
    [Fact]
    public void Zygote_Environment_HoldsNoneOfTheServersVariables()
    {
        Assert.Equal("fork-server", fixture.Backend.Name);
        int zygote = fixture.Backend.ZygoteProcessId ?? throw new InvalidOperationException("no zygote");
        var environ = File.ReadAllText($"/proc/{zygote}/environ");
        var names = environ.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(v => v.Split('=')[0]).ToList();

        Assert.DoesNotContain(fixture.CanaryValue, environ, StringComparison.Ordinal);
        Assert.DoesNotContain(ForkServerFixture.CanaryName, names);
        Assert.DoesNotContain(names, n => n.StartsWith("DOTNET", StringComparison.Ordinal) || n.StartsWith("ASPNETCORE", StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.StateDirectory, environ, StringComparison.Ordinal);
        var allowed = BubblewrapCommand.SandboxEnvironment(new Dictionary<string, string>()).Select(p => p.Key)
            .Concat(["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]).ToHashSet();
        Assert.All(names, n => Assert.Contains(n, allowed));
    }

    [Fact]
    public async Task TwoSandboxes_SeeNeitherEachOthersFilesNorProcesses()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();

        await RunAsync(a.Sandbox, "import subprocess\nopen('secret-a.txt', 'w').write('a')\nsleeper = subprocess.Popen(['sleep', '300'])");
        var seen = await RunAsync(b.Sandbox, """
            import os
            procs = sorted(open(f'/proc/{p}/cmdline').read().replace('\0', ' ').strip() for p in os.listdir('/proc') if p.isdigit())
            print(len(procs), os.listdir('/home/user'), 'sleep 300' in procs, os.getuid())
            """);

        Assert.Equal("2 [] False 1000", seen.Trim());
        Assert.NotEqual(a.Sandbox.Workspace.HostUid, b.Sandbox.Workspace.HostUid);
    }

    [Fact]
    public async Task Sandbox_CannotReachTheControlChannelNorTheRunnerSocket()
    {
        await using var a = await StartAsync();
        int zygote = fixture.Backend.ZygoteProcessId!.Value;
        var socketPath = Path.Combine(fixture.StateDirectory, "forkserver", "runner.sock");
        Assert.True(File.Exists(socketPath), "the listener's socket is missing on the host");
        // The zygote's control pipes, as the host sees them: no sandbox process may hold one.
        var zygotePipes = Directory.EnumerateFileSystemEntries($"/proc/{zygote}/fd").Select(fd => new FileInfo(fd).LinkTarget).Where(t => t is not null && t.StartsWith("pipe:", StringComparison.Ordinal)).ToHashSet();

        var output = await RunAsync(a.Sandbox, $$"""
            import os, socket
            def attempt(what, f):
                try:
                    f()
                    print(what, 'SUCCEEDED')
                except OSError as e:
                    print(what, type(e).__name__)
            attempt('connect', lambda: socket.socket(socket.AF_UNIX).connect('{{socketPath}}'))
            attempt('connect through /proc/1/root', lambda: socket.socket(socket.AF_UNIX).connect('/proc/1/root{{socketPath}}'))
            targets = set()
            for p in [p for p in os.listdir('/proc') if p.isdigit()]:
                for fd in os.listdir(f'/proc/{p}/fd'):
                    try:
                        targets.add(os.readlink(f'/proc/{p}/fd/{fd}'))
                    except OSError:
                        pass
            print('TARGETS', ' '.join(sorted(targets)))
            """);

        Assert.Contains("connect FileNotFoundError", output, StringComparison.Ordinal);
        Assert.Contains("connect through /proc/1/root FileNotFoundError", output, StringComparison.Ordinal);
        Assert.DoesNotContain("SUCCEEDED", output, StringComparison.Ordinal);
        var targets = output.Split('\n').Single(l => l.StartsWith("TARGETS", StringComparison.Ordinal)).Split(' ').Skip(1);
        Assert.DoesNotContain(targets, zygotePipes.Contains);
    }

    [Fact]
    public async Task ShellBuiltBeforeTheFork_PointsAtTheSandboxsOwnDirectories_AndIsNotShared()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();

        // IPython computed these from the zygote's process (its runtime directory on the host):
        // each sandbox must see its own, as a shell built inside it would.
        var paths = await RunAsync(a.Sandbox, """
            import os
            ip = get_ipython()
            print(ip.ipython_dir, ip.profile_dir.location, os.path.isdir(ip.profile_dir.location), ip.db.root,
                  ip.home_dir, ip.starting_dir, [str(d) for d in _dh], ip.execution_count)
            """);
        Assert.Equal("/tmp/.ipython /tmp/.ipython/profile_default True /tmp/.ipython/profile_default/db /home/user /home/user ['/home/user'] 1",
            paths.Trim());
        Assert.DoesNotContain(fixture.StateDirectory, paths, StringComparison.Ordinal);

        // The shell is one copy per sandbox: what one changes, the other never sees.
        await RunAsync(a.Sandbox, "get_ipython().user_ns['planted'] = 1\nget_ipython().db['planted'] = 1\n%config PlainTextFormatter.max_width = 7");
        var other = await RunAsync(b.Sandbox, "ip = get_ipython()\nprint('planted' in ip.user_ns, 'planted' in ip.db, ip.display_formatter.formatters['text/plain'].max_width)");
        Assert.Equal("False False 79", other.Trim());
    }

    [Fact]
    public async Task ZygoteKilled_ItsSandboxesEnd_AndTheNextStartGetsANewZygote()
    {
        var before = await StartAsync();
        int oldZygote = fixture.Backend.ZygoteProcessId!.Value;

        Process.GetProcessById(oldZygote).Kill();

        var exit = await before.Sandbox.Exited.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(SandboxExitReason.RunnerExited, exit.Reason);
        await before.DisposeAsync();
        await using var after = await StartAsync();
        Assert.Equal("2", (await RunAsync(after.Sandbox, "print(1+1)")).Trim());
        Assert.NotEqual(oldZygote, fixture.Backend.ZygoteProcessId);
    }

    private async Task<Lease> StartAsync()
    {
        var workspace = await fixture.Backend.CreateWorkspaceAsync(CancellationToken.None);
        try
        {
            var sandbox = await fixture.Backend.StartAsync(workspace, new SandboxLimits(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            return new Lease(fixture.Backend, sandbox);
        }
        catch
        {
            await fixture.Backend.DeleteWorkspaceAsync(workspace, CancellationToken.None);
            throw;
        }
    }

    private static async Task<string> RunAsync(ISandbox sandbox, string code)
    {
        var stdout = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var message in sandbox.Runner.ExecuteAsync("exe_" + Guid.NewGuid().ToString("N"), code, timeout.Token))
        {
            switch (message)
            {
                case StreamMessage { Name: "stdout" } s:
                    stdout.Append(s.Text);
                    break;
                case ErrorMessage e:
                    throw new InvalidOperationException($"{e.Name}: {e.Value}");
                case ExecuteReplyMessage:
                    return stdout.ToString();
            }
        }
        throw new InvalidOperationException("no reply");
    }

    private sealed class Lease(BubblewrapBackend backend, ISandbox sandbox) : IAsyncDisposable
    {
        public ISandbox Sandbox => sandbox;

        public async ValueTask DisposeAsync()
        {
            await sandbox.DisposeAsync();
            await backend.DeleteWorkspaceAsync(sandbox.Workspace, CancellationToken.None);
        }
    }
}
