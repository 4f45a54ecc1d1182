namespace Vivarium.Client;

/// <summary>Where the server is and how to authenticate, for a <see cref="VivariumClient"/> that makes its own <see cref="HttpClient"/>.</summary>
public sealed class VivariumClientOptions
{
    /// <summary>The server's address, e.g. <c>http://127.0.0.1:8080</c>; a path prefix is kept (<c>https://host/vivarium/</c>).</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>The API key, sent as <c>Authorization: Bearer …</c> on every <c>/v1</c> request.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// How long one request may take before the client gives up. HttpClient's default of 100 s
    /// would cut off legitimate executions (the server allows up to 10 minutes by default), so
    /// this is longer; the server bounds each execution with its own timeout anyway. A streaming
    /// execution is bounded only until its first byte: the events themselves may take as long as the code runs.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(15);
}
