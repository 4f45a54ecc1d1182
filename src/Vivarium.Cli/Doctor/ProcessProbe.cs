using System.Diagnostics;

namespace Vivarium.Cli.Doctor;

/// <summary>What a probe process did.</summary>
/// <param name="ExitCode">Its exit code; -1 when it could not start or ran out of time.</param>
/// <param name="Stdout">What it printed.</param>
/// <param name="Stderr">What it complained about (or why it could not run).</param>
internal sealed record ProbeResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>True when it exited with 0.</summary>
    public bool Succeeded => ExitCode == 0;

    /// <summary>The first line of stderr, else of stdout: the gist of a failure.</summary>
    public string Gist => FirstLine(Stderr) ?? FirstLine(Stdout) ?? $"exit code {ExitCode}";

    private static string? FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
}

/// <summary>Runs a short command for a check, with a clean environment and a time limit.</summary>
internal static class ProcessProbe
{
    /// <summary>Runs <paramref name="fileName"/> with <paramref name="arguments"/> and collects its output.</summary>
    /// <param name="fileName">An absolute path: probes never search PATH (the first python3 there may not be Debian's).</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="timeout">How long it may take.</param>
    /// <param name="environment">Its whole environment; empty by default, like a sandbox's.</param>
    public static async Task<ProbeResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment.Clear();
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new ProbeResult(-1, "", $"could not run {fileName}: {e.Message}");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var limit = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
                return new ProbeResult(-1, await stdout, $"{Path.GetFileName(fileName)} did not finish within {timeout.TotalSeconds:0} s");
            }
            return new ProbeResult(process.ExitCode, await stdout, await stderr);
        }
    }
}
