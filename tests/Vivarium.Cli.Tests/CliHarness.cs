using System.Globalization;
using System.Security.Cryptography;

// Tests that start sandboxes run one at a time: the machine has two cores and each start
// costs about a second of CPU.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Vivarium.Cli.Tests;

/// <summary>What a command wrote and returned, run in-process with its console captured.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}");
}

/// <summary>Runs the real command line in this process, on real sandboxes.</summary>
public static class Cli
{
    public static async Task<CliResult> InvokeAsync(string[] args, string input = "")
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var console = new CliConsole(new StringReader(input), stdout, stderr, IsInteractive: false, OwnsCtrlC: false);
        int exitCode = await CliApplication.InvokeAsync(args, console);
        return new CliResult(exitCode, stdout.ToString(), stderr.ToString());
    }
}

/// <summary>A folder of its own under /tmp for one test's scripts and outputs, deleted afterwards.</summary>
public sealed class ScratchFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine("/tmp", "vivarium-cli-test-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));

    public ScratchFolder() => Directory.CreateDirectory(Path);

    public string Write(string name, string content)
    {
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllText(path, content);
        return path;
    }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
