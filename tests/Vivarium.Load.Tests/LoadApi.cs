using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Vivarium.Load.Tests;

/// <summary>
/// How one request ended: a status and body, or a transport failure (refused, reset, or no
/// answer within the harness's bound, which counts as a hang).
/// </summary>
public sealed record Reply(int Status, string Body, string? ContentType, TimeSpan Elapsed, Exception? Transport)
{
    /// <summary>True when no HTTP answer came.</summary>
    public bool Failed => Transport is not null;

    /// <summary>True when the harness gave up waiting: the server hung.</summary>
    public bool Hung => Transport is TimeoutException;

    /// <summary>The stable error code of a problem+json answer.</summary>
    public string? ProblemCode
    {
        get
        {
            if (ContentType != "application/problem+json")
            {
                return null;
            }
            try
            {
                return JsonDocument.Parse(Body).RootElement.TryGetProperty("code", out var code) ? code.GetString() : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    /// <summary>The body as JSON.</summary>
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    /// <summary>For messages: the status and the start of the body.</summary>
    public override string ToString() => Failed
        ? $"no answer after {Elapsed.TotalSeconds:0.0} s ({Transport!.GetType().Name}: {Transport.Message})"
        : $"{Status} {(ProblemCode is { } code ? code + " " : "")}after {Elapsed.TotalSeconds:0.0} s: {Clip(Body, 300)}";

    internal static string Clip(string text, int length) => text.Length <= length ? text : text[..length] + "…";
}

/// <summary>One Server-Sent Event.</summary>
public sealed record SseEvent(string Name, string Data)
{
    /// <summary>The data as JSON.</summary>
    public JsonElement Json => JsonDocument.Parse(Data).RootElement.Clone();
}

/// <summary>How a streamed execution went, as the client saw it.</summary>
public sealed record StreamResult(Reply Head, IReadOnlyList<SseEvent> Events, string Raw, bool ClosedByClient, Exception? Transport)
{
    /// <summary>The final <c>done</c> event's Execution, when it came.</summary>
    public JsonElement? Done => Events.LastOrDefault(e => e.Name == "done") is { } done ? done.Json : null;
}

/// <summary>
/// The HTTP API as the harness uses it: plain HttpClient, every request bounded in time, so a
/// hang is reported as a hang instead of stalling the run. One instance per server process
/// (a restart gets fresh connections).
/// </summary>
public sealed class LoadApi : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>Talks to one server process, with one API key.</summary>
    public LoadApi(Uri address, string apiKey)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            // A client that hangs up mid-stream must really close the connection; by default
            // the handler first drains the rest of the response (up to 2 s) to reuse it.
            MaxResponseDrainSize = 0,
        })
        {
            BaseAddress = address,
            Timeout = Timeout.InfiniteTimeSpan, // each call brings its own bound
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    /// <summary>Any request, bounded.</summary>
    public async Task<Reply> SendAsync(HttpMethod method, string path, HttpContent? content, TimeSpan bound, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(bound);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await _http.SendAsync(request, deadline.Token);
            var body = await response.Content.ReadAsStringAsync(deadline.Token);
            return new Reply((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType, clock.Elapsed, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Reply(0, "", null, clock.Elapsed, new TimeoutException($"no answer within {bound.TotalSeconds:0} s"));
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return new Reply(0, "", null, clock.Elapsed, e);
        }
    }

    /// <summary>Bytes of a download, with the reply (whose Body is then empty).</summary>
    public async Task<(Reply Reply, byte[]? Bytes)> DownloadAsync(string path, TimeSpan bound)
    {
        using var deadline = new CancellationTokenSource(bound);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await _http.GetAsync(path, deadline.Token);
            var bytes = await response.Content.ReadAsByteArrayAsync(deadline.Token);
            var type = response.Content.Headers.ContentType?.MediaType;
            var body = response.IsSuccessStatusCode ? "" : Encoding.UTF8.GetString(bytes);
            return (new Reply((int)response.StatusCode, body, type, clock.Elapsed, null), response.IsSuccessStatusCode ? bytes : null);
        }
        catch (OperationCanceledException)
        {
            return (new Reply(0, "", null, clock.Elapsed, new TimeoutException($"no answer within {bound.TotalSeconds:0} s")), null);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return (new Reply(0, "", null, clock.Elapsed, e), null);
        }
    }

    /// <summary>POST JSON.</summary>
    public Task<Reply> PostJsonAsync(string path, object body, TimeSpan bound) =>
        SendAsync(HttpMethod.Post, path, JsonContent.Create(body), bound);

    /// <summary>GET.</summary>
    public Task<Reply> GetAsync(string path, TimeSpan bound) => SendAsync(HttpMethod.Get, path, null, bound);

    /// <summary>DELETE.</summary>
    public Task<Reply> DeleteAsync(string path, TimeSpan bound) => SendAsync(HttpMethod.Delete, path, null, bound);

    /// <summary>Runs code, answered as one JSON Execution.</summary>
    public Task<Reply> ExecuteAsync(string sessionId, string code, double? timeoutSeconds, TimeSpan bound) =>
        PostJsonAsync($"/v1/sessions/{sessionId}/execute", new { code, timeout_seconds = timeoutSeconds }, bound);

    /// <summary>
    /// Runs code with <c>Accept: text/event-stream</c>. <paramref name="onEvent"/> sees each
    /// event and returns false to hang up there (a client that goes away mid-stream).
    /// <paramref name="readChunk"/> and <paramref name="readPause"/> make a slow reader.
    /// </summary>
    public async Task<StreamResult> StreamAsync(string sessionId, string code, double? timeoutSeconds, TimeSpan bound,
        Func<SseEvent, Task<bool>>? onEvent = null, int readChunk = 16 * 1024, TimeSpan readPause = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{sessionId}/execute")
        {
            Content = JsonContent.Create(new { code, timeout_seconds = timeoutSeconds }),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var deadline = new CancellationTokenSource(bound);
        var clock = Stopwatch.StartNew();
        var events = new List<SseEvent>();
        var raw = new StringBuilder();
        HttpResponseMessage? response = null;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            var type = response.Content.Headers.ContentType?.MediaType;
            if (type != "text/event-stream")
            {
                var body = await response.Content.ReadAsStringAsync(deadline.Token);
                return new StreamResult(new Reply((int)response.StatusCode, body, type, clock.Elapsed, null), events, body, false, null);
            }
            var head = new Reply((int)response.StatusCode, "", type, clock.Elapsed, null);
            await using var body2 = await response.Content.ReadAsStreamAsync(deadline.Token);
            var reader = new SseReader(body2, readChunk, readPause);
            while (await reader.NextAsync(raw, deadline.Token) is { } item)
            {
                events.Add(item);
                if (onEvent is not null && !await onEvent(item))
                {
                    return new StreamResult(head, events, raw.ToString(), true, null);
                }
            }
            return new StreamResult(head, events, raw.ToString(), false, null);
        }
        catch (OperationCanceledException)
        {
            var failure = new TimeoutException($"the stream did not end within {bound.TotalSeconds:0} s");
            return new StreamResult(new Reply((int?)response?.StatusCode ?? 0, "", null, clock.Elapsed, failure), events, raw.ToString(), false, failure);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return new StreamResult(new Reply((int?)response?.StatusCode ?? 0, "", null, clock.Elapsed, response is null ? e : null), events, raw.ToString(), false, e);
        }
        finally
        {
            // Disposing the response closes the connection mid-stream when the client hangs up.
            response?.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}

/// <summary>
/// Parses Server-Sent Events, reading at most <c>chunk</c> bytes at a time with a pause in
/// between when asked to (a slow client), keeping the raw text for the token check.
/// </summary>
internal sealed class SseReader(Stream body, int chunk, TimeSpan pause)
{
    private readonly byte[] _buffer = new byte[chunk];
    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    private readonly StringBuilder _pending = new();
    private bool _ended;

    public async Task<SseEvent?> NextAsync(StringBuilder raw, CancellationToken cancellationToken)
    {
        string? name = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await ReadLineAsync(raw, cancellationToken);
            if (line is null)
            {
                return null;
            }
            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    return new SseEvent(name ?? "message", data.ToString());
                }
                continue;
            }
            if (line.StartsWith(':'))
            {
                continue; // keep-alive comment
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (data.Length > 0)
                {
                    data.Append('\n');
                }
                data.Append(line.AsSpan("data: ".Length));
            }
        }
    }

    private async Task<string?> ReadLineAsync(StringBuilder raw, CancellationToken cancellationToken)
    {
        while (true)
        {
            for (int i = 0; i < _pending.Length; i++)
            {
                if (_pending[i] == '\n')
                {
                    var line = _pending.ToString(0, i);
                    _pending.Remove(0, i + 1);
                    return line;
                }
            }
            if (_ended)
            {
                return null;
            }
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, cancellationToken); // a slow reader, not a synchronisation
            }
            int read = await body.ReadAsync(_buffer, cancellationToken);
            if (read == 0)
            {
                _ended = true;
                continue;
            }
            var chars = new char[_decoder.GetCharCount(_buffer, 0, read)];
            _decoder.GetChars(_buffer, 0, read, chars, 0);
            _pending.Append(chars);
            raw.Append(chars);
        }
    }
}
