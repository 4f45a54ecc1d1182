using System.IO.Pipes;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox;

namespace Vivarium.Engine.Tests;

/// <summary>What a sandbox cannot reach: the network, other sessions, the server's environment.</summary>
[Collection("Engine")]
public sealed class IsolationTests(EngineFixture engine)
{
    [Fact]
    public async Task Workspace_IsItsOwnLoopMountedFilesystem_OwnedByItsUid_AndReleasedOnDelete()
    {
        var a = await engine.Backend.CreateWorkspaceAsync(CancellationToken.None);
        var b = await engine.Backend.CreateWorkspaceAsync(CancellationToken.None);
        bool aDeleted = false;
        try
        {
            // Each a copy of one empty filesystem, mounted with the loop system calls: its own
            // device, nosuid and nodev, its root given to its own uid, empty (no lost+found).
            var mounts = File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')).ToList();
            var ma = mounts.Single(m => m[1] == a.HostPath);
            var mb = mounts.Single(m => m[1] == b.HostPath);
            Assert.StartsWith("/dev/loop", ma[0], StringComparison.Ordinal);
            Assert.NotEqual(ma[0], mb[0]);
            Assert.Equal("ext4", ma[2]);
            Assert.Contains("nosuid", ma[3].Split(','));
            Assert.Contains("nodev", ma[3].Split(','));
            Assert.Empty(Directory.EnumerateFileSystemEntries(a.HostPath));
            Assert.Equal(a.HostUid, OwnerOf(a.HostPath));
            Assert.Equal(b.HostUid, OwnerOf(b.HostPath));

            File.WriteAllText(Path.Combine(a.HostPath, "only-in-a"), "a");
            Assert.Empty(Directory.EnumerateFileSystemEntries(b.HostPath));

            await engine.Backend.DeleteWorkspaceAsync(a, CancellationToken.None);
            aDeleted = true; // its uid may already be another workspace's: never released twice
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mounts"), l => l.Split(' ')[1] == a.HostPath);
            // Autoclear: unmounting released the loop device (lazily, once the kernel lets go).
            var backing = $"/sys/block/{ma[0]["/dev/".Length..]}/loop/backing_file";
            for (var deadline = DateTime.UtcNow.AddSeconds(5); File.Exists(backing) && File.ReadAllText(backing).Contains(a.Id, StringComparison.Ordinal) && DateTime.UtcNow < deadline;)
            {
                await Task.Delay(20);
            }
            Assert.False(File.Exists(backing) && File.ReadAllText(backing).Contains(a.Id, StringComparison.Ordinal), "the loop device still holds the deleted workspace's image");
        }
        finally
        {
            if (!aDeleted)
            {
                await engine.Backend.DeleteWorkspaceAsync(a, CancellationToken.None);
            }
            await engine.Backend.DeleteWorkspaceAsync(b, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Workspaces_CreatedConcurrently_EachGetItsOwnLoopDevice()
    {
        // A burst of creates: each asks the kernel for a free loop device at the same moment.
        var workspaces = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => engine.Backend.CreateWorkspaceAsync(CancellationToken.None)));
        try
        {
            var mounts = File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')).ToList();
            var devices = workspaces.Select(w => mounts.Single(m => m[1] == w.HostPath)[0]).ToList();
            Assert.Equal(workspaces.Length, devices.Distinct().Count());
        }
        finally
        {
            foreach (var workspace in workspaces)
            {
                await engine.Backend.DeleteWorkspaceAsync(workspace, CancellationToken.None);
            }
        }
    }

    private static int OwnerOf(string path)
    {
        var status = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/bin/stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var text = status.StandardOutput.ReadToEnd();
        status.WaitForExit();
        return int.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Socket_ConnectToOutsideAddress_FailsUnreachable()
    {
        await using var lease = await engine.NewSessionAsync();

        // 192.0.2.1 is TEST-NET-1 (RFC 5737): no real host, should isolation ever break.
        var stdout = await lease.RunOkAsync("""
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect(('192.0.2.1', 53))
                print('CONNECTED')
            except OSError as e:
                print(type(e).__name__, e.errno)
            print(sorted(name for _, name in socket.if_nameindex()))
            """);

        Assert.DoesNotContain("CONNECTED", stdout);
        // ENETUNREACH: there is no interface but loopback, so nothing can leave.
        Assert.Contains("OSError 101", stdout);
        Assert.Contains("['lo']", stdout);
    }

    [Fact]
    public async Task Socket_ConnectToHostLoopbackPort_IsRefusedInsideTheSandbox()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var lease = await engine.NewSessionAsync();

        var stdout = await lease.RunOkAsync($$"""
            import socket
            try:
                socket.create_connection(('127.0.0.1', {{port}}), timeout=3)
                print('CONNECTED')
            except OSError as e:
                print(type(e).__name__)
            """);

        Assert.Equal("ConnectionRefusedError\n", stdout);
        Assert.False(listener.Pending(), "the host's listener saw a connection from the sandbox");
    }

    [Fact]
    public async Task Dns_LookupOfPublicName_Fails()
    {
        await using var lease = await engine.NewSessionAsync();

        var stdout = await lease.RunOkAsync("""
            import socket
            try:
                print(socket.getaddrinfo('example.com', 80))
            except socket.gaierror as e:
                print('gaierror')
            """);

        Assert.Equal("gaierror\n", stdout);
    }

    [Fact]
    public async Task Session_CannotReadAnotherSessionsFiles()
    {
        await using var a = await engine.NewSessionAsync();
        await using var b = await engine.NewSessionAsync();
        var secret = "secret-" + Guid.NewGuid().ToString("N");
        await a.RunOkAsync($"open('{secret}.txt', 'w').write('{secret}')");
        var hostPath = Path.Combine(a.Session.Workspace.HostPath, secret + ".txt");
        Assert.True(File.Exists(hostPath), "the secret is where the test looks for it");

        var stdout = await b.RunOkAsync($$"""
            import os
            found = []
            for top in ['/home', '/tmp', '/var', '/srv', '/opt', '/root', '/mnt', '/media', '/run', '/work', '/etc']:
                for root, dirs, files in os.walk(top):
                    found += [os.path.join(root, f) for f in files if '{{secret}}' in f]
            print('found', found)
            for path in [{{JsonSerializer.Serialize(hostPath)}}, {{JsonSerializer.Serialize(a.Session.Workspace.HostPath)}}]:
                try:
                    print('listed' if os.path.isdir(path) and os.listdir(path) is not None else open(path).read())
                except OSError as e:
                    print(type(e).__name__)
            """);

        Assert.Equal("found []\nFileNotFoundError\nFileNotFoundError\n", stdout);
    }

    [Fact]
    public async Task Session_CannotSeeAnotherSessionsProcesses()
    {
        await using var a = await engine.NewSessionAsync();
        await using var b = await engine.NewSessionAsync();
        await a.RunOkAsync("import subprocess\nsleeper = subprocess.Popen(['/bin/sleep', '4242'])");

        var stdout = await b.RunOkAsync("""
            import os
            pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
            cmdlines = [open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\0', b' ').decode() for p in pids]
            print(len(pids))
            print('4242' in ' '.join(cmdlines))
            print(os.getpid() in pids)
            """);

        var lines = stdout.Split('\n');
        Assert.True(int.Parse(lines[0], System.Globalization.CultureInfo.InvariantCulture) <= 3, $"session B sees {lines[0]} processes");
        Assert.Equal("False", lines[1]);
        Assert.Equal("True", lines[2]);
        var own = await a.RunAsync("sleeper.poll() is None");
        Assert.Equal("True", own.Result!["text/plain"].GetString());
    }

    [Theory]
    [InlineData("b'{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"\\xff\\xfe\"}'")]
    [InlineData("b'{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"\\\\ud800\"}'")]
    [InlineData("b'[]'")]
    public async Task Execute_CodeForgesABadFrame_SandboxIsReplacedAndTheHostUnharmed(string payload)
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.RunOkAsync("open('kept.txt', 'w').write('x')");

        // User code shares the runner's process: it can find the protocol's write end (the one
        // write-only pipe besides fds 1 and 2 with bubblewrap, the one socket in fork-server
        // mode) and write whatever it likes there.
        var execution = await lease.RunAsync($$"""
            import os, struct
            def write_only(fd):
                return int(open(f'/proc/self/fdinfo/{fd}').read().split('flags:')[1].split()[0], 8) & 3 == 1
            def target(fd):
                return os.readlink(f'/proc/self/fd/{fd}') if os.path.exists(f'/proc/self/fd/{fd}') else ''
            fds = [int(fd) for fd in os.listdir('/proc/self/fd') if int(fd) > 2]
            channel = [fd for fd in fds if 'pipe:' in target(fd) and write_only(fd)] or [fd for fd in fds if 'socket:' in target(fd)]
            assert len(set(target(fd) for fd in channel)) == 1, channel
            forged = {{payload}}
            os.write(channel[0], struct.pack('>I', len(forged)) + forged)
            import time
            time.sleep(30)
            """, TimeSpan.FromSeconds(20));

        Assert.True(execution.Status == ExecutionStatus.Crashed, $"{execution.Status}: {execution.Summary}");
        Assert.Contains("protocol", execution.Error!.Value);
        var after = await lease.RunAsync("open('kept.txt').read()");
        Assert.Equal("'x'", after.Result!["text/plain"].GetString());
    }

    [Fact]
    public async Task Sandbox_DescriptorInheritedByTheServer_DoesNotReachIt()
    {
        // An inheritable pipe has no FD_CLOEXEC, like a descriptor the server got from its parent.
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
        var fd = (int)pipe.ClientSafePipeHandle.DangerousGetHandle();
        var inode = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
        Assert.StartsWith("pipe:", inode);
        // Custom limits skip the pool, so this sandbox starts now, after the pipe exists.
        await using var lease = await engine.NewSessionAsync(new SessionCreateOptions { Limits = new SandboxLimits { MaxProcesses = 63 } });

        var stdout = await lease.RunOkAsync("""
            import os
            targets = {}
            for fd in os.listdir('/proc/self/fd'):
                try:
                    targets[int(fd)] = os.readlink(f'/proc/self/fd/{fd}')
                except OSError:
                    pass
            print(sorted(set(t for t in targets.values() if t.startswith(('pipe:', 'socket:')))))
            """);

        Assert.DoesNotContain(inode!, stdout, StringComparison.Ordinal);
        // The runner's own: the protocol's two ends (two pipes with bubblewrap, one socket in
        // fork-server mode) and the stdout and stderr pipes.
        Assert.Equal(EngineFixture.Mode == "fork-server" ? 2 : 3, stdout.Count(c => c == ','));
    }

    [Fact]
    public async Task Sandbox_Environment_HoldsNoneOfTheServersVariables()
    {
        Assert.Equal(engine.CanaryValue, Environment.GetEnvironmentVariable(EngineFixture.CanaryName));
        await using var lease = await engine.NewSessionAsync();

        var execution = await lease.RunAsync("""
            import os, json, glob
            environs = {}
            for path in glob.glob('/proc/[0-9]*/environ'):
                try:
                    environs[path] = open(path, 'rb').read().decode('utf-8', 'replace')
                except OSError as e:
                    environs[path] = type(e).__name__
            print(json.dumps({'env': dict(os.environ), 'proc': environs}))
            """);

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        var text = execution.Stdout;
        Assert.DoesNotContain(engine.CanaryValue, text);
        Assert.DoesNotContain(EngineFixture.CanaryName, text);
        Assert.DoesNotContain("DOTNET", text);
        Assert.DoesNotContain("pyenv", text);
        using var doc = JsonDocument.Parse(text);
        var env = doc.RootElement.GetProperty("env").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal("/home/user", env["HOME"]);
        Assert.Equal("/usr/local/bin:/usr/bin:/bin", env["PATH"]);
        var allowed = new HashSet<string>
        {
            "HOME", "PATH", "LANG", "PYTHONDONTWRITEBYTECODE", "MPLCONFIGDIR", "MPLBACKEND", "XDG_CACHE_HOME",
            "IPYTHONDIR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
            // Set by bwrap (--chdir), Python or IPython themselves once running.
            "PWD", "TERM", "CLICOLOR", "PAGER", "GIT_PAGER",
        };
        Assert.DoesNotContain(env.Keys, k => !allowed.Contains(k));
        // bwrap (pid 1) was started with an empty environment; the start-up shell adds only PWD.
        // In fork-server mode pid 1 is a fork of the zygote, whose environment (at exec) was
        // the sandbox's own allow-list.
        var pid1 = doc.RootElement.GetProperty("proc").GetProperty("/proc/1/environ").GetString()!;
        var pid1Names = pid1.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(v => v.Split('=')[0]);
        Assert.True(pid1 == "PermissionError" || pid1Names.All(n => n == "PWD" || (EngineFixture.Mode == "fork-server" && allowed.Contains(n))),
            $"pid 1's environment: {pid1.Replace('\0', ' ')}");
        Assert.DoesNotContain(engine.StateDirectory, pid1);
    }
}
