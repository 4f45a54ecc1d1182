using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Vivarium.Security.Tests;

/// <summary>One execution as the API answered it: the parsed JSON and the raw body.</summary>
public sealed record Exec(JsonElement Json, string Raw, byte[] Bytes)
{
    public string Status => Json.GetProperty("status").GetString()!;
    public string Stdout => Json.GetProperty("stdout").GetString()!;
    public string Stderr => Json.GetProperty("stderr").GetString()!;
    public bool StdoutTruncated => Json.GetProperty("stdout_truncated").GetBoolean();
    public string? ErrorName => Json.GetProperty("error") is { ValueKind: JsonValueKind.Object } e ? e.GetProperty("name").GetString() : null;
    public string? ErrorValue => Json.GetProperty("error") is { ValueKind: JsonValueKind.Object } e ? e.GetProperty("value").GetString() : null;
    public string? ResultText => Json.GetProperty("result") is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("text/plain", out var t) ? t.GetString() : null;

    /// <summary>The lines the attack code printed as its verdict (<c>=> …</c>), without the marker.</summary>
    public IReadOnlyList<string> Verdicts => Stdout.Split('\n').Where(l => l.StartsWith("=> ", StringComparison.Ordinal)).Select(l => l[3..].TrimEnd('\r')).ToList();

    /// <summary>A one-line account of what happened, for the report.</summary>
    public string Describe()
    {
        var verdicts = Verdicts;
        var text = verdicts.Count > 0 ? string.Join("; ", verdicts) : $"status {Status}";
        if (ErrorName is { } name)
        {
            text += $" [{Status}: {name}{(string.IsNullOrEmpty(ErrorValue) ? "" : ": " + ErrorValue)}]";
        }
        return text;
    }

    public override string ToString() => Raw.Length > 4000 ? Raw[..4000] + "…" : Raw;
}

/// <summary>
/// What a case may do: run code in the attacker's session (or in sessions of its own), call the
/// API as any tenant, and look at the host. Every answer the API gives is kept, so the suite can
/// check afterwards that no host secret leaked into any of them.
/// </summary>
public sealed class CaseContext(SecurityFixture fixture, ITestOutputHelper output) : IDisposable
{
    private readonly List<string> _answers = [];
    private readonly List<(HttpClient Client, string Id)> _sessions = [];

    public SecurityFixture Fixture => fixture;
    public HostCanaries Canaries => fixture.Canaries;
    public HttpClient Red { get; } = fixture.Client(SecurityFixture.KeyRed);
    public HttpClient Blue { get; } = fixture.Client(SecurityFixture.KeyBlue);

    /// <summary>Every body the API answered during this case.</summary>
    public IReadOnlyList<string> Answers => _answers;

    /// <summary>Text the case wants in the test's output (not in the report).</summary>
    public void Log(string line) => output.WriteLine(line);

    /// <summary>Runs code in the shared attacker session, or in <paramref name="sessionId"/>.</summary>
    public async Task<Exec> RunAsync(string code, double timeoutSeconds = 15, string? sessionId = null, HttpClient? client = null)
    {
        client ??= Red;
        sessionId ??= fixture.AttackerSessionId;
        var response = await client.PostAsJsonAsync($"/v1/sessions/{sessionId}/execute", new { code, timeout_seconds = timeoutSeconds });
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var raw = System.Text.Encoding.UTF8.GetString(bytes);
        _answers.Add(raw);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"execute answered {(int)response.StatusCode}: {raw}");
        var exec = new Exec(JsonDocument.Parse(raw).RootElement.Clone(), raw, bytes);
        output.WriteLine($"[{exec.Status}] stdout: {Shorten(exec.Stdout, 3000)}");
        if (exec.ErrorName is not null)
        {
            output.WriteLine($"error: {exec.ErrorName}: {exec.ErrorValue}");
        }
        return exec;
    }

    /// <summary>
    /// Runs code whose answer may be far too large to keep: the body is streamed and counted,
    /// every host canary is looked for in it (across chunk boundaries), and only its first
    /// 64 KB are kept as the answer.
    /// </summary>
    public Task<(int Status, long Bytes, string Head)> RunStreamingAsync(string code, double timeoutSeconds, string? sessionId = null) =>
        PostStreamingAsync($"/v1/sessions/{sessionId ?? fixture.AttackerSessionId}/execute", new { code, timeout_seconds = timeoutSeconds });

    /// <summary>POSTs <paramref name="body"/> as JSON and streams the answer like <see cref="RunStreamingAsync"/>.</summary>
    public async Task<(int Status, long Bytes, string Head)> PostStreamingAsync(string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await Red.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var tokens = fixture.Canaries.Tokens.Select(t => System.Text.Encoding.UTF8.GetBytes(t)).ToList();
        int overlap = tokens.Max(t => t.Length);
        var buffer = new byte[1 << 20];
        var head = new MemoryStream();
        long total = 0;
        int carried = 0;
        while (true)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(carried, buffer.Length - carried));
            if (read == 0)
            {
                break;
            }
            int end = carried + read;
            if (head.Length < 65536)
            {
                head.Write(buffer, carried, Math.Min(read, 65536 - (int)head.Length));
            }
            total += read;
            foreach (var token in tokens)
            {
                if (buffer.AsSpan(0, end).IndexOf(token) >= 0)
                {
                    _answers.Add(System.Text.Encoding.UTF8.GetString(token)); // reported by the host check
                }
            }
            carried = Math.Min(overlap, end);
            Buffer.BlockCopy(buffer, end - carried, buffer, 0, carried);
        }
        var headText = System.Text.Encoding.UTF8.GetString(head.ToArray());
        _answers.Add(headText);
        output.WriteLine($"[{(int)response.StatusCode}] {total:N0} bytes; head: {Shorten(headText, 500)}");
        return ((int)response.StatusCode, total, headText);
    }

    /// <summary>Sends any request and keeps the answer's body.</summary>
    public async Task<(HttpStatusCode Status, string Body, byte[] Bytes)> SendAsync(HttpClient client, HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await client.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var body = System.Text.Encoding.UTF8.GetString(bytes);
        _answers.Add(body);
        return (response.StatusCode, body, bytes);
    }

    /// <summary>A fresh session of the given tenant, ended when the case ends.</summary>
    public async Task<string> NewSessionAsync(HttpClient client)
    {
        var id = await SecurityFixture.CreateSessionAsync(client);
        _sessions.Add((client, id));
        return id;
    }

    /// <summary>Ends <paramref name="id"/> with the case, like the sessions made by <see cref="NewSessionAsync"/>.</summary>
    public void Track(HttpClient client, string id) => _sessions.Add((client, id));

    /// <summary>Ends a session now (and forgets it, so the case's clean-up does not end it twice).</summary>
    public async Task EndSessionAsync(HttpClient client, string id)
    {
        _sessions.RemoveAll(s => s.Id == id);
        var (status, body, _) = await SendAsync(client, HttpMethod.Delete, $"/v1/sessions/{id}");
        Assert.True(status == HttpStatusCode.NoContent, $"delete answered {(int)status}: {body}");
    }

    /// <summary>Ends the sessions the case made and still holds.</summary>
    public async Task EndSessionsAsync()
    {
        foreach (var (client, id) in _sessions.ToList())
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
        _sessions.Clear();
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the deadline passes; true if it held.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            if (condition())
            {
                return true;
            }
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(50);
        }
    }

    public static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + $"… ({text.Length.ToString(CultureInfo.InvariantCulture)} chars)";

    public void Dispose()
    {
        Red.Dispose();
        Blue.Dispose();
    }
}
