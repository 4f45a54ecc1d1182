using System.CommandLine;
using Vivarium.Cli.Commands;

namespace Vivarium.Cli;

/// <summary>The <c>vivarium</c> command line: <c>serve</c>, <c>run</c>, <c>repl</c>, <c>doctor</c>, <c>mcp</c>.</summary>
internal static class CliApplication
{
    /// <summary>Builds the command tree, each command writing to <paramref name="console"/>.</summary>
    public static RootCommand CreateRootCommand(CliConsole console) => new(
        "Vivarium: a self-hosted code interpreter for AI agents. Stateful Python in bubblewrap sandboxes, results as Jupyter-style data.")
    {
        ServeCommand.Create(),
        RunCommand.Create(console),
        ReplCommand.Create(console),
        DoctorCommand.Create(console),
        McpCommand.Create(console),
    };

    /// <summary>Parses <paramref name="args"/> and runs the chosen command.</summary>
    /// <returns>The process exit code: 0 when the command succeeded.</returns>
    public static Task<int> InvokeAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default)
    {
        var configuration = new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            // Each command decides what Ctrl+C means: serve stops gracefully (ASP.NET's own
            // handler), run and repl interrupt the Python code and keep going.
            ProcessTerminationTimeout = null,
        };
        return CreateRootCommand(console).Parse(args).InvokeAsync(configuration, cancellationToken);
    }
}
