using System.Text.Json;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Sessions;

namespace Vivarium.Cli.Local;

/// <summary>
/// Shows an execution in a terminal as it happens: stdout and stderr as they stream, charts
/// saved as PNG files with a note, the last expression's value as text, the traceback on stderr.
/// </summary>
internal sealed class ExecutionPrinter(CliConsole console, OutputFolder images)
{
    /// <summary>Prints the execution's events until it completes, and returns it.</summary>
    /// <param name="running">The execution, just started.</param>
    /// <param name="cancellationToken">Cancelling it interrupts the code.</param>
    public async Task<Execution> PrintAsync(RunningExecution running, CancellationToken cancellationToken)
    {
        var endsWithNewline = true;
        await foreach (var item in running.ReadEventsAsync(cancellationToken))
        {
            switch (item)
            {
                case ExecutionOutputEvent { Output: StreamOutput stream }:
                    var writer = stream.Name == "stderr" ? console.Error : console.Out;
                    writer.Write(stream.Text);
                    writer.Flush();
                    endsWithNewline = stream.Text.EndsWith('\n');
                    break;
                case ExecutionOutputEvent { Output: DisplayDataOutput display }:
                    ShowRich(display.Data, ref endsWithNewline);
                    break;
                case ExecutionOutputEvent { Output: ExecuteResultOutput result }:
                    ShowRich(result.Data, ref endsWithNewline);
                    break;
                case ExecutionOutputEvent { Output: ErrorOutput error }:
                    EndLine(ref endsWithNewline);
                    console.Error.Write(error.Traceback.EndsWith('\n') ? error.Traceback : error.Traceback + "\n");
                    console.Error.Flush();
                    break;
                case ExecutionCompleted completed:
                    EndLine(ref endsWithNewline);
                    ReportEnding(completed.Execution);
                    return completed.Execution;
            }
        }
        // The engine always ends with ExecutionCompleted; if it did not, its task says why.
        return await running.Completion;
    }

    private void ShowRich(IReadOnlyDictionary<string, JsonElement> data, ref bool endsWithNewline)
    {
        if (data.TryGetValue("image/png", out var png) && png.ValueKind == JsonValueKind.String && png.TryGetBytesFromBase64(out var bytes))
        {
            var path = images.SaveImage(bytes);
            EndLine(ref endsWithNewline);
            console.Error.WriteLine($"[image saved to {Relative(path)}]");
            return;
        }
        if (data.TryGetValue("text/plain", out var text) && text.ValueKind == JsonValueKind.String)
        {
            EndLine(ref endsWithNewline);
            console.Out.WriteLine(text.GetString());
            console.Out.Flush();
            return;
        }
        EndLine(ref endsWithNewline);
        console.Error.WriteLine($"[{string.Join(", ", data.Keys)} output not shown in a terminal]");
    }

    private void EndLine(ref bool endsWithNewline)
    {
        if (!endsWithNewline)
        {
            console.Out.WriteLine();
            endsWithNewline = true;
        }
    }

    private void ReportEnding(Execution execution)
    {
        var message = execution.Status switch
        {
            ExecutionStatus.Timeout => "the code ran out of time and was interrupted (--timeout sets the limit in seconds)",
            ExecutionStatus.Interrupted => "interrupted",
            ExecutionStatus.Crashed => $"the sandbox died ({execution.Error?.Name}: {execution.Error?.Value}); the interpreter's state was lost, the files were kept",
            _ => null,
        };
        if (message is not null)
        {
            console.Error.WriteLine($"vivarium: {message}");
        }
        console.Error.Flush();
    }

    /// <summary>A path as short as it can be said from the current directory.</summary>
    public static string Relative(string path)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, path);
        return relative.StartsWith("..", StringComparison.Ordinal) ? path : relative;
    }
}
