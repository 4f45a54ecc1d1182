using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Vivarium.Load.Tests;

/// <summary>
/// The real server as a child process (<c>dotnet Vivarium.Server.dll</c>), so the harness can
/// SIGTERM or SIGKILL it and start it again on the same state directory, as an operator would.
/// </summary>
public sealed partial class ServerProcess : IDisposable
{
    private const int MaxLogLines = 400;
    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private readonly List<string> _problems = [];
    private readonly Task _stdout;
    private readonly Task _stderr;
    private bool _stopRequested;

    private ServerProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
        _stdout = PumpAsync(process.StandardOutput);
        _stderr = PumpAsync(process.StandardError);
    }

    /// <summary>Where it listens (always 127.0.0.1).</summary>
    public Uri Address { get; }

    /// <summary>The server's pid (the dotnet host runs the server in-process).</summary>
    public int Pid => _process.Id;

    /// <summary>True once the process has exited, for whatever reason.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>True when the harness asked it to stop (an exit without this is a crash).</summary>
    public bool StopRequested => Volatile.Read(ref _stopRequested);

    /// <summary>Starts the server; does not wait for it to be ready.</summary>
    public static ServerProcess Start(string stateDirectory, string apiKey, IEnumerable<string> settings)
    {
        int port = FreeLoopbackPort();
        var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Vivarium.Server.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(address.ToString().TrimEnd('/'));
        start.ArgumentList.Add($"--Vivarium:Sandbox:StateDirectory={stateDirectory}");
        foreach (var setting in settings)
        {
            start.ArgumentList.Add(setting);
        }
        start.Environment["VIVARIUM_API_KEY"] = apiKey;
        // The console logger writes one "level: category" line per entry; no colours to strip.
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
        start.Environment["DOTNET_NOLOGO"] = "1";
        return new ServerProcess(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"), address);
    }

    /// <summary>
    /// Polls /readyz until it answers 200 from this very process (another server may hold a
    /// port we thought free; then ours exits and we must not talk to theirs).
    /// </summary>
    public async Task WaitReadyAsync(TimeSpan bound, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(10) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (HasExited)
            {
                throw new LoadAbortedException($"the server exited with code {ExitCode} before it was ready:\n{LogTail(40)}");
            }
            try
            {
                using var response = await http.GetAsync("/readyz", cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK && !HasExited)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            if (clock.Elapsed > bound)
            {
                throw new LoadAbortedException($"the server was not ready within {bound.TotalSeconds:0} s:\n{LogTail(40)}");
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Sends SIGTERM (graceful) or SIGKILL (a crash) and waits, bounded, for the exit.</summary>
    /// <returns>How long the exit took.</returns>
    public async Task<TimeSpan> StopAsync(bool kill, TimeSpan bound)
    {
        Volatile.Write(ref _stopRequested, true);
        var clock = Stopwatch.StartNew();
        if (!HasExited && Kill(Pid, kill ? SigKill : SigTerm) != 0)
        {
            throw new LoadAbortedException($"kill({Pid}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        using var deadline = new CancellationTokenSource(bound);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new LoadAbortedException($"the server did not exit within {bound.TotalSeconds:0} s of {(kill ? "SIGKILL" : "SIGTERM")} (it hung):\n{LogTail(40)}");
        }
        await Task.WhenAll(_stdout, _stderr).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return clock.Elapsed;
    }

    /// <summary>The server's resident set size, from /proc/PID/status (VmRSS), in bytes.</summary>
    public long? ResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }

    /// <summary>Log entries at error or critical level ("fail:", "crit:"), with the lines that follow them.</summary>
    public IReadOnlyList<string> Problems
    {
        get
        {
            lock (_problems)
            {
                return [.. _problems];
            }
        }
    }

    /// <summary>The last lines the server wrote, for failure messages.</summary>
    public string LogTail(int lines)
    {
        lock (_tail)
        {
            return string.Join('\n', _tail.TakeLast(lines));
        }
    }

    private async Task PumpAsync(StreamReader reader)
    {
        string? problem = null;
        int problemLines = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_tail)
            {
                _tail.Enqueue(line);
                if (_tail.Count > MaxLogLines)
                {
                    _tail.Dequeue();
                }
            }
            if (line.StartsWith("fail: ", StringComparison.Ordinal) || line.StartsWith("crit: ", StringComparison.Ordinal))
            {
                Flush();
                problem = line;
                problemLines = 0;
            }
            else if (problem is not null && line.StartsWith(' ') && problemLines < 6)
            {
                problem += "\n" + line;
                problemLines++;
            }
            else
            {
                Flush();
            }
        }
        Flush();

        void Flush()
        {
            if (problem is not null)
            {
                lock (_problems)
                {
                    _problems.Add(problem);
                }
                problem = null;
            }
        }
    }

    /// <summary>A port on 127.0.0.1 that was free a moment ago (the readiness check guards the race).</summary>
    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Kills the process if the harness itself fails half-way, so no server outlives a test.</summary>
    public void Dispose()
    {
        if (!HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }

    internal const int SigKill = 9;
    internal const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);
}

/// <summary>The harness itself could not go on (the server would not start, or hung): the run fails with this message.</summary>
public sealed class LoadAbortedException(string message) : Exception(message);
