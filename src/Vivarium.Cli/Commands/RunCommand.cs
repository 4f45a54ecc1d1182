using System.CommandLine;
using Vivarium.Cli.Local;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;

namespace Vivarium.Cli.Commands;

/// <summary>
/// <c>vivarium run FILE.py [--timeout SECONDS] [--file INPUT…]</c>: runs one script in a fresh
/// sandbox, streams its output, and saves its charts and files next to it.
/// </summary>
internal static class RunCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        var script = new Argument<FileInfo>("FILE")
        {
            Description = "The Python script to run (its charts and output files are saved next to it).",
        };
        var timeout = new Option<double?>("--timeout")
        {
            Description = $"Seconds the code may run before it is interrupted (default {new ExecutionOptions().DefaultTimeout.TotalSeconds:0}).",
            HelpName = "SECONDS",
        };
        var inputs = new Option<FileInfo[]>("--file")
        {
            Description = "Input files to put in the sandbox's working directory first (a relative path keeps its folders: data/in.csv stays data/in.csv).",
            HelpName = "INPUT",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("run", "Run a Python script once in a fresh sandbox.") { script, timeout, inputs };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            console,
            parseResult.GetRequiredValue(script),
            parseResult.GetValue(timeout) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            parseResult.GetValue(inputs) ?? [],
            cancellationToken));
        return command;
    }

    /// <summary>The command's work, callable without parsing.</summary>
    /// <returns>0 when the code ran to the end; 1 on an error, a timeout, a crash, or a problem before the code ran.</returns>
    public static async Task<int> RunAsync(CliConsole console, FileInfo script, TimeSpan? timeout, IReadOnlyList<FileInfo> inputs, CancellationToken cancellationToken)
    {
        if (!script.Exists)
        {
            console.Error.WriteLine($"vivarium: no such file: {script.FullName}");
            return 1;
        }
        if (timeout is { } t && (t <= TimeSpan.Zero || t > TimeSpan.FromDays(7)))
        {
            console.Error.WriteLine("vivarium: --timeout must be more than 0 and at most 604800 seconds");
            return 1;
        }
        var missing = inputs.FirstOrDefault(f => !f.Exists);
        if (missing is not null)
        {
            console.Error.WriteLine($"vivarium: no such input file: {missing.FullName}");
            return 1;
        }
        var code = await File.ReadAllTextAsync(script.FullName, cancellationToken);
        var folder = new OutputFolder(script.DirectoryName!, Path.GetFileNameWithoutExtension(script.Name), script.FullName, keepExisting: false);
        try
        {
            await using var engine = await LocalEngine.StartAsync(timeout ?? TimeSpan.Zero, console.Error, cancellationToken);
            var session = await engine.CreateSessionAsync(cancellationToken);
            foreach (var input in inputs)
            {
                await session.WriteFileAsync(InputPath(input), await File.ReadAllBytesAsync(input.FullName, cancellationToken), cancellationToken);
            }
            Execution execution;
            using (new CtrlCInterrupts(console.OwnsCtrlC, session.Interrupt, console.Error))
            {
                var running = session.Start(new ExecuteRequest(code, timeout), CancellationToken.None);
                execution = await new ExecutionPrinter(console, folder).PrintAsync(running, cancellationToken);
            }
            await SaveFilesAsync(console, session, execution, folder, cancellationToken);
            return execution.Status == ExecutionStatus.Ok ? 0 : 1;
        }
        catch (VivariumException e)
        {
            console.Error.WriteLine($"vivarium: {e.Message}");
            if (e.Code == ErrorCodes.SandboxUnavailable)
            {
                console.Error.WriteLine("vivarium: run 'vivarium doctor' to see what the machine is missing");
            }
            return 1;
        }
    }

    /// <summary>
    /// Where an input goes in the workspace: a relative path inside the current directory keeps
    /// its folders, so the script finds it where it would locally; anything else goes in by name.
    /// </summary>
    public static string InputPath(FileInfo input)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, input.FullName);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? input.Name : relative;
    }

    private static async Task SaveFilesAsync(CliConsole console, Session session, Execution execution, OutputFolder folder, CancellationToken cancellationToken)
    {
        foreach (var change in execution.Files.Where(f => f.Change != "deleted"))
        {
            try
            {
                var content = await session.ReadFileAsync(change.Path, cancellationToken);
                var path = folder.SaveWorkspaceFile(change.Path, content);
                console.Error.WriteLine($"[{change.Change} {change.Path}: saved to {ExecutionPrinter.Relative(path)}, {content.Length} bytes]");
            }
            catch (Exception e) when (e is ArgumentException or VivariumException or IOException or UnauthorizedAccessException)
            {
                console.Error.WriteLine($"vivarium: not saved: {e.Message}");
            }
        }
    }
}
