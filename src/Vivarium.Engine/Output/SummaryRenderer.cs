using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Vivarium.Engine.Executions;

namespace Vivarium.Engine.Output;

/// <summary>Facts the summary needs that the execution record does not carry.</summary>
/// <param name="UserTraceback">The traceback restricted to the user's own cells.</param>
/// <param name="DroppedDisplays">Rich outputs over the per-execution limit.</param>
/// <param name="Timeout">The timeout that applied.</param>
internal sealed record SummaryFacts(string? UserTraceback, int DroppedDisplays, TimeSpan Timeout);

/// <summary>
/// Writes the text a language model reads after running code: what went wrong first, then
/// what was printed, the value, what was shown and which files changed, all within a budget.
/// Images are described (type and size), never inlined: the model gets them as image blocks.
/// </summary>
internal static class SummaryRenderer
{
    public static string Render(Execution execution, SummaryFacts facts, int budget)
    {
        var head = new StringBuilder();
        switch (execution.Status)
        {
            case ExecutionStatus.Error when execution.Error is { } error:
                head.AppendLine($"Error: {error.Name}: {error.Value}".TrimEnd(' ', ':'));
                if (!string.IsNullOrWhiteSpace(facts.UserTraceback))
                {
                    head.AppendLine("Traceback (your code):").AppendLine(CappedText.Shorten(facts.UserTraceback.TrimEnd(), budget / 3));
                }
                break;
            case ExecutionStatus.Timeout:
                head.AppendLine(CultureInfo.InvariantCulture, $"Timed out after {facts.Timeout.TotalSeconds:0.###} s: the code was interrupted. Variables defined so far are kept.");
                break;
            case ExecutionStatus.Interrupted:
                head.AppendLine("Interrupted: the code was stopped before it finished. Variables defined so far are kept.");
                break;
            case ExecutionStatus.Crashed when execution.Error is { } crash:
                head.AppendLine(CultureInfo.InvariantCulture, $"The sandbox crashed: {crash.Value}. All variables and imports were lost; files in the workspace are kept. Re-run the code that defines what you need.");
                break;
        }

        var tail = new StringBuilder();
        foreach (var output in execution.Outputs.OfType<DisplayDataOutput>())
        {
            tail.AppendLine(CultureInfo.InvariantCulture, $"[displayed {Describe(output.Data)}]");
        }
        if (facts.DroppedDisplays > 0)
        {
            tail.AppendLine(CultureInfo.InvariantCulture, $"[{facts.DroppedDisplays} more displayed outputs not kept]");
        }
        if (execution.Files.Count > 0)
        {
            tail.Append("Files: ");
            tail.AppendJoin("; ", execution.Files.Take(20).Select(f => f.Change == "deleted" ? $"deleted {f.Path}" : $"{f.Change} {f.Path} ({FormatSize(f.Size)})"));
            if (execution.Files.Count > 20)
            {
                tail.Append(CultureInfo.InvariantCulture, $"; and {execution.Files.Count - 20} more");
            }
            tail.AppendLine();
        }

        // Whatever is left of the budget goes to stdout, the result and stderr, in that order of need.
        int room = Math.Max(0, budget - head.Length - tail.Length);
        var body = new StringBuilder();
        var parts = new List<(string Label, string Text)>();
        if (execution.Stdout.Length > 0)
        {
            parts.Add(("Output:", execution.Stdout.TrimEnd()));
        }
        if (execution.Result is { } result && result.TryGetValue("text/plain", out var plain) && plain.ValueKind == JsonValueKind.String)
        {
            var label = result.ContainsKey("text/html") ? "Result (also available as an HTML table):" : "Result:";
            parts.Add((label, plain.GetString()!));
        }
        if (execution.Stderr.Length > 0)
        {
            parts.Add(("Stderr:", execution.Stderr.TrimEnd()));
        }
        for (int i = 0; i < parts.Count; i++)
        {
            int share = (room - body.Length) / (parts.Count - i);
            var (label, text) = parts[i];
            body.AppendLine(label).AppendLine(CappedText.Shorten(text, Math.Max(0, share - label.Length - 2)));
        }

        var summary = head.Append(body).Append(tail).ToString().TrimEnd();
        if (summary.Length == 0)
        {
            summary = execution.Status == ExecutionStatus.Ok ? "Done (no output)." : execution.Status.ToString();
        }
        return CappedText.Shorten(summary, budget);
    }

    private static string Describe(IReadOnlyDictionary<string, JsonElement> data)
    {
        if (data.TryGetValue("image/png", out var png) && png.ValueKind == JsonValueKind.String && PngSize(png.GetString()!) is var (w, h))
        {
            return $"image/png {w}x{h}";
        }
        var kind = data.Keys.FirstOrDefault(k => k != "text/plain") ?? "text/plain";
        if (kind == "text/plain" && data.TryGetValue("text/plain", out var text) && text.ValueKind == JsonValueKind.String)
        {
            return "text: " + CappedText.Shorten(text.GetString()!, 200);
        }
        return kind;
    }

    /// <summary>Width and height from a base64 PNG's IHDR chunk, without decoding the image.</summary>
    internal static (int Width, int Height)? PngSize(string base64)
    {
        if (base64.Length < 32)
        {
            return null;
        }
        Span<byte> header = stackalloc byte[24];
        if (!Convert.TryFromBase64String(base64[..32], header, out int written) || written < 24)
        {
            return null;
        }
        return (BinaryPrimitives.ReadInt32BigEndian(header[16..]), BinaryPrimitives.ReadInt32BigEndian(header[20..]));
    }

    internal static string FormatSize(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MB"),
    };
}
