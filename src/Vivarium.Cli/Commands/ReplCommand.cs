using System.CommandLine;
using Vivarium.Cli.Local;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;

namespace Vivarium.Cli.Commands;

/// <summary>
/// <c>vivarium repl</c>: a stateful Python session in a sandbox, typed at the terminal.
/// Charts are saved as <c>./vivarium-out-N.png</c>.
/// </summary>
internal static class ReplCommand
{
    private const string Help = """
        Type Python; a line ending with ':' opens a block that a blank line runs.
        :files    list the files in the sandbox's working directory
        :restart  a fresh interpreter (variables go, files stay)
        :quit     leave (or Ctrl+D); Ctrl+C interrupts running code
        """;

    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        var timeout = new Option<double?>("--timeout")
        {
            Description = "Seconds each input may run before it is interrupted (default: 10 minutes).",
            HelpName = "SECONDS",
        };
        var command = new Command("repl", "An interactive, stateful Python session in a sandbox.") { timeout };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            console,
            parseResult.GetValue(timeout) is { } seconds ? TimeSpan.FromSeconds(seconds) : DefaultTimeout,
            cancellationToken));
        return command;
    }

    /// <summary>How long one input may run when --timeout is not given: long, a person is watching.</summary>
    public static TimeSpan DefaultTimeout => TimeSpan.FromMinutes(10);

    /// <summary>The command's work, callable without parsing.</summary>
    /// <returns>0 after :quit or the end of input; 1 when no sandbox could be had.</returns>
    public static async Task<int> RunAsync(CliConsole console, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromDays(7))
        {
            console.Error.WriteLine("vivarium: --timeout must be more than 0 and at most 604800 seconds");
            return 1;
        }
        try
        {
            await using var engine = await LocalEngine.StartAsync(timeout, console.Error, cancellationToken);
            var session = await engine.CreateSessionAsync(cancellationToken);
            console.Error.WriteLine($"Vivarium REPL: Python {session.Interpreter?.Python} in a sandbox. :help for commands.");
            var images = new OutputFolder(Environment.CurrentDirectory, "vivarium-out", protectedPath: null, keepExisting: true);
            var printer = new ExecutionPrinter(console, images);
            var input = new ReplInput(console);
            using var interrupts = new CtrlCInterrupts(console.OwnsCtrlC, session.Interrupt, console.Error,
                $"^C (nothing is running; :quit or Ctrl+D leaves)\n{(console.IsInteractive ? ReplInput.Prompt : "")}");
            while (await input.ReadCellAsync(cancellationToken) is { } cell)
            {
                switch (cell.Trim())
                {
                    case ":quit" or ":q" or ":exit":
                        return 0;
                    case ":help" or ":h":
                        console.Error.WriteLine(Help);
                        continue;
                    case ":files":
                        await ListFilesAsync(console, session, cancellationToken);
                        continue;
                    case ":restart":
                        await session.RestartAsync(cancellationToken);
                        console.Error.WriteLine("[restarted: a fresh interpreter; the files are still there]");
                        continue;
                    case var command when command.StartsWith(':'):
                        console.Error.WriteLine($"unknown command {command}; :help lists them");
                        continue;
                }
                try
                {
                    var running = session.Start(new ExecuteRequest(cell, timeout), CancellationToken.None);
                    await printer.PrintAsync(running, cancellationToken);
                }
                catch (VivariumException e)
                {
                    console.Error.WriteLine($"vivarium: {e.Message}");
                }
                finally
                {
                    interrupts.Reset();
                }
            }
            if (console.IsInteractive)
            {
                console.Out.WriteLine(); // Ctrl+D left the cursor after the prompt
            }
            return 0;
        }
        catch (VivariumException e)
        {
            console.Error.WriteLine($"vivarium: {e.Message}");
            return 1;
        }
    }

    private static async Task ListFilesAsync(CliConsole console, Session session, CancellationToken cancellationToken)
    {
        var files = await session.ListFilesAsync(cancellationToken);
        if (files.Count == 0)
        {
            console.Out.WriteLine("(no files)");
        }
        foreach (var file in files)
        {
            console.Out.WriteLine($"{file.Size,12:N0}  {file.Path}");
        }
    }
}
