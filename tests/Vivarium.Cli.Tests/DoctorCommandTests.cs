using Vivarium.Cli.Commands;
using Vivarium.Cli.Doctor;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Cli.Tests;

public sealed class DoctorCommandTests
{
    [Fact]
    public async Task Doctor_OnThisMachine_PassesAndNamesEveryCheck()
    {
        var result = await Cli.InvokeAsync(["doctor"]);

        Assert.True(result.ExitCode == 0, result.ToString());
        string[] checks =
        [
            "root", "bubblewrap", "setpriv", "user namespaces", "trial sandbox", "cgroups", "python",
            .. SandboxRequirements.PythonModules.Select(m => $"python module {m.Module}"),
            "real session",
        ];
        var lines = result.Stdout.Split('\n');
        foreach (var check in checks)
        {
            Assert.Contains(lines, l => l.TrimStart().StartsWith($"ok    {check}:", StringComparison.Ordinal));
        }
        Assert.Contains("bubblewrap 0.", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Python 3.", result.Stdout, StringComparison.Ordinal);
        Assert.Contains($"All {checks.Length} checks passed", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_WithoutBubblewrapOrAModule_FailsAndSaysWhatToInstall()
    {
        var settings = new DoctorSettings(
            new BubblewrapOptions { BwrapPath = "/nonexistent/bwrap" },
            [new PythonModuleRequirement("json", "python3"), new PythonModuleRequirement("vivarium_no_such_module", "python3-vivarium-test")],
            StartRealSandbox: true);
        var output = new StringWriter();
        var console = new CliConsole(TextReader.Null, output, new StringWriter(), IsInteractive: false, OwnsCtrlC: false);

        int exitCode = await DoctorCommand.RunAsync(console, settings, CancellationToken.None);

        var text = output.ToString();
        Assert.True(exitCode == 1, text);
        Assert.Contains("FAIL  bubblewrap: not found at /nonexistent/bwrap", text, StringComparison.Ordinal);
        Assert.Contains("fix: apt-get install -y bubblewrap", text, StringComparison.Ordinal);
        Assert.Contains("skip  trial sandbox", text, StringComparison.Ordinal);
        Assert.Contains("ok    python module json", text, StringComparison.Ordinal);
        Assert.Contains("FAIL  python module vivarium_no_such_module: not importable: ModuleNotFoundError", text, StringComparison.Ordinal);
        Assert.Contains("skip  real session", text, StringComparison.Ordinal);
        Assert.Contains("apt-get install -y bubblewrap python3-vivarium-test", text, StringComparison.Ordinal);
    }
}
