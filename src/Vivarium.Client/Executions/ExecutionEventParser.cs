using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Vivarium.Client.Http;
using Vivarium.Client.Serialization;

namespace Vivarium.Client.Executions;

/// <summary>
/// Reads an execution's event stream. The SSE framing (fields, multi-line <c>data:</c>, comments,
/// CRLF/CR/LF, chunks split anywhere, even inside a UTF-8 character) is the runtime's
/// <see cref="SseParser"/>; this type gives each event its meaning and ends at <c>done</c>.
/// </summary>
internal static class ExecutionEventParser
{
    public static async IAsyncEnumerable<ExecutionEvent> ReadAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in SseParser.Create(stream, Parse).EnumerateAsync(cancellationToken))
        {
            yield return item.Data;
            if (item.Data is DoneEvent)
            {
                // The contract ends the stream here; stop without waiting for the server to close.
                yield break;
            }
        }
        throw new IOException("the execution's event stream ended before its done event; the connection was cut");
    }

    /// <summary>One event from its SSE name and UTF-8 data.</summary>
    public static ExecutionEvent Parse(string eventType, ReadOnlySpan<byte> data) => eventType switch
    {
        "stream" or "display_data" or "execute_result" or "error" =>
            new OutputEvent(ExecutionOutputConverter.FromElement(ParseElement(data), fallbackType: eventType)),
        "clear_output" => new ClearOutputEvent(ClearOutputWait(data)),
        "done" => new DoneEvent(JsonSerializer.Deserialize(data, VivariumJsonContext.Default.Execution)
            ?? throw new JsonException("the done event carries no execution")),
        _ => new UnknownEvent(eventType, Encoding.UTF8.GetString(data)),
    };

    private static JsonElement ParseElement(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data);
        return JsonElement.ParseValue(ref reader);
    }

    // The contract names the event but not its data; Jupyter's clear_output carries "wait". Read it
    // when present, and treat empty or other data as a plain clear rather than failing the stream.
    private static bool ClearOutputWait(ReadOnlySpan<byte> data)
    {
        try
        {
            return !data.IsEmpty && JsonSerializer.Deserialize(data, WireJsonContext.Default.ClearOutputData) is { Wait: true };
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
