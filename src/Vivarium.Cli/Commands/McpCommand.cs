using System.CommandLine;
using System.Runtime.InteropServices;
using Vivarium.Cli.Local;
using Vivarium.Engine;
using Vivarium.Mcp;

namespace Vivarium.Cli.Commands;

/// <summary>
/// <c>vivarium mcp</c>: an MCP server on stdin and stdout for an agent that starts it as a
/// subprocess (Claude Desktop, the MCP inspector). An engine inside this process, as for
/// <c>run</c>, and one Python session for the whole process, started on first use.
/// </summary>
internal static class McpCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create(CliConsole console)
    {
        var command = new Command("mcp",
            "Serve the Model Context Protocol on stdin/stdout (for Claude Desktop, MCP inspectors): tools to run Python and handle files, one stateful session per process.");
        command.SetAction((_, cancellationToken) => RunAsync(console, cancellationToken));
        return command;
    }

    /// <summary>The command's work, callable without parsing.</summary>
    /// <returns>0 when the client closed the connection or the process was asked to stop; 1 when the engine could not start.</returns>
    public static async Task<int> RunAsync(CliConsole console, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // A client ends a stdio server by closing stdin, then by SIGTERM (and a person by Ctrl+C):
        // each ends the session and deletes the state directory instead of leaving them behind.
        using var terminate = console.OwnsCtrlC ? PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop) : null;
        using var interrupt = console.OwnsCtrlC ? PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop) : null;
        try
        {
            await using var engine = await LocalEngine.StartAsync(TimeSpan.Zero, console.Error, stop.Token);
            await VivariumMcpServer.RunStdioAsync(engine.Services, new McpCaller(LocalEngine.Tenant), stop.Token);
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        catch (VivariumException e)
        {
            console.Error.WriteLine($"vivarium: {e.Message}");
            return 1;
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }
}
