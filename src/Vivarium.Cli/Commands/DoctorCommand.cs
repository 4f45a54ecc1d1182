using System.CommandLine;
using Vivarium.Cli.Doctor;

namespace Vivarium.Cli.Commands;

/// <summary><c>vivarium doctor</c>: can this machine run sandboxes, and if not, what to install.</summary>
internal static class DoctorCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        var command = new Command("doctor", "Check that this machine can run sandboxes, and say what to install when it cannot.");
        command.SetAction((parseResult, cancellationToken) => RunAsync(console, DoctorSettings.Default, cancellationToken));
        return command;
    }

    /// <summary>Runs the checks and prints them as they complete.</summary>
    /// <returns>0 when every essential check passed, else 1.</returns>
    public static async Task<int> RunAsync(CliConsole console, DoctorSettings settings, CancellationToken cancellationToken)
    {
        console.Out.WriteLine("Vivarium doctor: what sandboxes need from this machine");
        var checks = await new HostDoctor(settings).RunAsync(check => Print(console.Out, check), cancellationToken);
        var failed = checks.Where(c => c.Outcome == CheckOutcome.Failed).ToList();
        console.Out.WriteLine();
        if (failed.Count == 0)
        {
            console.Out.WriteLine($"All {checks.Count} checks passed: this machine can run Vivarium sandboxes.");
            return 0;
        }
        console.Out.WriteLine($"{failed.Count} of {checks.Count} checks failed.");
        var packages = failed.SelectMany(c => c.AptPackages ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (packages.Count > 0)
        {
            console.Out.WriteLine("Install the missing packages at once (as root):");
            console.Out.WriteLine($"  apt-get install -y {string.Join(' ', packages)}");
            console.Out.WriteLine("or run scripts/install-prerequisites, which installs everything Vivarium needs.");
        }
        return 1;
    }

    private static void Print(TextWriter output, DoctorCheck check)
    {
        var label = check.Outcome switch
        {
            CheckOutcome.Ok => "ok",
            CheckOutcome.Warning => "warn",
            CheckOutcome.Failed => "FAIL",
            _ => "skip",
        };
        output.WriteLine($"  {label,-5} {check.Name}: {check.Detail}");
        if (check.Fix is not null && check.Outcome is CheckOutcome.Failed or CheckOutcome.Warning)
        {
            output.WriteLine($"        fix: {check.Fix}");
        }
        output.Flush();
    }
}
