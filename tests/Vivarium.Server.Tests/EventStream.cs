using System.Text.Json;

namespace Vivarium.Server.Tests;

/// <summary>One Server-Sent Event.</summary>
public sealed record ServerEvent(string Name, JsonElement Data);

/// <summary>Reads Server-Sent Events off a response, as a browser's EventSource would.</summary>
public sealed class EventStream(Stream body) : IDisposable
{
    private readonly StreamReader _reader = new(body);

    public async Task<ServerEvent?> NextAsync()
    {
        string? name = null;
        var data = new List<string>();
        while (await _reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0)
                {
                    return new ServerEvent(name ?? "message", JsonDocument.Parse(string.Join('\n', data)).RootElement.Clone());
                }
                continue;
            }
            if (line.StartsWith(':'))
            {
                continue;
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Add(line["data: ".Length..]);
            }
        }
        return null;
    }

    public async Task<List<ServerEvent>> ReadToEndAsync()
    {
        var events = new List<ServerEvent>();
        while (await NextAsync() is { } next)
        {
            events.Add(next);
        }
        return events;
    }

    public void Dispose() => _reader.Dispose();
}
