using System.Diagnostics;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox;
using Xunit.Abstractions;

namespace Vivarium.Engine.Tests;

/// <summary>Hostile code that exhausts memory or processes: contained to its own sandbox.</summary>
[Collection("Engine")]
public sealed class ResourceLimitTests(EngineFixture engine, ITestOutputHelper output)
{
    [Theory]
    [InlineData("x = bytearray(2 * 1024**3)")]
    [InlineData("hog = []\nwhile True:\n    hog.append(bytearray(16 * 1024**2))")]
    public async Task Execute_MemoryBomb_IsContainedToItsSandbox(string code)
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.RunOkAsync("open('survives.txt', 'w').write('yes')");
        var clock = Stopwatch.StartNew();

        var execution = await lease.RunAsync(code, TimeSpan.FromSeconds(30));
        output.WriteLine($"{execution.Status} after {clock.Elapsed.TotalSeconds:0.00} s: {execution.Summary}");

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"the memory bomb took {clock.Elapsed} to end");
        if (execution.Status == ExecutionStatus.Error)
        {
            Assert.Equal("MemoryError", execution.Error!.Name);
        }
        else
        {
            Assert.Equal(ExecutionStatus.Crashed, execution.Status);
            Assert.Equal("OutOfMemory", execution.Error!.Name);
            Assert.Contains("memory", execution.Summary);
        }

        await using var other = await engine.NewSessionAsync();
        var two = await other.RunAsync("1+1");
        Assert.Equal("2", two.Result!["text/plain"].GetString());
        var again = await lease.RunAsync("open('survives.txt').read()");
        Assert.Equal("'yes'", again.Result!["text/plain"].GetString());
    }

    private const string ForkBomb = "import os\nwhile True:\n    os.fork()";

    // Live processes: a child that exited but was never waited for (a zombie) uses no CPU.
    private const string CountProcesses =
        "import os\nlen([p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'])";

    [Fact]
    public async Task Execute_ForkBomb_IsContainedToItsSandbox()
    {
        await using var lease = await engine.NewSessionAsync();
        var clock = Stopwatch.StartNew();

        var execution = await lease.RunAsync(ForkBomb, TimeSpan.FromSeconds(20));
        output.WriteLine($"{execution.Status} after {clock.Elapsed.TotalSeconds:0.00} s: {execution.Summary}");

        // 64 copies of an interpreter with pandas loaded may exhaust 768 MiB before the
        // process limit: either ending is contained, and says so.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"the fork bomb took {clock.Elapsed} to end");
        if (execution.Status == ExecutionStatus.Error)
        {
            Assert.Equal("BlockingIOError", execution.Error!.Name);
        }
        else
        {
            Assert.Equal(ExecutionStatus.Crashed, execution.Status);
            Assert.Equal("OutOfMemory", execution.Error!.Name);
        }

        await using var other = await engine.NewSessionAsync();
        var two = await other.RunAsync("1+1");
        Assert.Equal("2", two.Result!["text/plain"].GetString());

        clock.Restart();
        var next = await lease.RunAsync(CountProcesses, TimeSpan.FromSeconds(20));
        output.WriteLine($"the next execution answered after {clock.Elapsed.TotalSeconds:0.00} s");
        Assert.Equal(ExecutionStatus.Ok, next.Status);
        Assert.Equal("2", next.Result!["text/plain"].GetString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the session took {clock.Elapsed} to answer after the fork bomb");
    }

    [Fact]
    public async Task Execute_ForkBombHittingProcessLimit_FailsAndItsLeftoversAreStopped()
    {
        // A process limit that 24 interpreters reach long before they fill the memory limit.
        await using var lease = await engine.NewSessionAsync(new SessionCreateOptions { Limits = new SandboxLimits { MaxProcesses = 24 } });
        await lease.RunOkAsync("kept = 'yes'");
        var clock = Stopwatch.StartNew();

        var execution = await lease.RunAsync(ForkBomb, TimeSpan.FromSeconds(20));
        output.WriteLine($"{execution.Status} after {clock.Elapsed.TotalSeconds:0.00} s: {execution.Summary}");

        Assert.Equal(ExecutionStatus.Error, execution.Status);
        Assert.Equal("BlockingIOError", execution.Error!.Name);
        Assert.StartsWith("Error: BlockingIOError", execution.Summary);
        // Whether the bomb's children were still at it when the cell failed is a race; if
        // they were, the stderr note says they were stopped.
        Assert.True(execution.Stderr.Length == 0 || execution.Stderr.Contains("runaway processes were stopped"), execution.Stderr);

        // Only bubblewrap's init and the runner are left, and the state is intact.
        var count = await lease.RunAsync(CountProcesses);
        Assert.Equal("2", count.Result!["text/plain"].GetString());
        var kept = await lease.RunAsync("kept");
        Assert.Equal("'yes'", kept.Result!["text/plain"].GetString());
    }

    [Fact]
    public async Task Execute_MultiprocessingPool_WorksAndItsWorkersPrint()
    {
        await using var lease = await engine.NewSessionAsync();

        // Forked workers, semaphores in /dev/shm, results over pipes: the usual ways that
        // multiprocessing breaks in a sandbox.
        var execution = await lease.RunAsync("""
            import multiprocessing as mp
            def square(x):
                print(f'worker {x}', flush=True)
                return x * x
            with mp.get_context('fork').Pool(2) as pool:
                results = pool.map(square, range(6))
            results
            """);

        Assert.True(execution.Status == ExecutionStatus.Ok, execution.Summary);
        Assert.Equal("[0, 1, 4, 9, 16, 25]", execution.Result!["text/plain"].GetString());
        Assert.Contains("worker 5\n", execution.Stdout);
    }

    [Fact]
    public async Task Execute_ForkedChild_NeverWritesFrames()
    {
        await using var lease = await engine.NewSessionAsync();

        // A child that returns to the runner's loop, and one that raises: neither may speak the protocol.
        var execution = await lease.RunAsync(
            "import os\npid = os.fork()\nif pid == 0:\n    print('child', flush=True)\n    raise ValueError('in child')\nos.waitpid(pid, 0)\nprint('parent')\n'parent result'");

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Contains("parent\n", execution.Stdout);
        Assert.Contains("child\n", execution.Stdout);
        Assert.Equal("'parent result'", execution.Result!["text/plain"].GetString());
        Assert.Null(execution.Error);
        var next = await lease.RunAsync("pid != 0");
        Assert.Equal("True", next.Result!["text/plain"].GetString());
    }
}
