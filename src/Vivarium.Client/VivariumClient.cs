using System.Text.Json.Serialization.Metadata;
using Vivarium.Client.Http;

namespace Vivarium.Client;

/// <summary>
/// The client for a Vivarium server's HTTP API v1: sessions, executions (whole or streamed),
/// workspace files, one-shot runs and the health probes. Thread-safe; one instance per server is
/// enough. Failures the server reports are thrown as <see cref="VivariumApiException"/> subclasses;
/// a Python error in the code is not one of them (see <see cref="Execution.Status"/>).
/// </summary>
public sealed partial class VivariumClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ApiConnection _api;

    /// <summary>
    /// A client over an <see cref="HttpClient"/> the caller owns (e.g. from <c>IHttpClientFactory</c>);
    /// it must have a <see cref="HttpClient.BaseAddress"/>. <see cref="Dispose"/> leaves it alone.
    /// </summary>
    /// <param name="httpClient">The HTTP client; its base address is the server's.</param>
    /// <param name="apiKey">The API key.</param>
    /// <exception cref="ArgumentException">The client has no base address, or the key is empty.</exception>
    public VivariumClient(HttpClient httpClient, string apiKey)
        : this(httpClient, ownsHttp: false, RequireBase(httpClient), apiKey, TimeProvider.System)
    {
    }

    /// <summary>A client with its own <see cref="HttpClient"/>, disposed with it.</summary>
    /// <param name="options">The server's address and the API key.</param>
    /// <exception cref="ArgumentException">The address is missing or relative, or the key is empty.</exception>
    public VivariumClient(VivariumClientOptions options)
        : this(CreateHttpClient(options), ownsHttp: true, options.BaseAddress!, options.ApiKey!, TimeProvider.System)
    {
    }

    /// <summary>Where the public constructors meet; tests call it with a fake clock so <c>Retry-After</c> dates read deterministically.</summary>
    internal VivariumClient(HttpClient httpClient, bool ownsHttp, Uri baseAddress, string apiKey, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        if (!baseAddress.IsAbsoluteUri)
        {
            throw new ArgumentException($"the base address must be absolute: '{baseAddress}'", nameof(baseAddress));
        }
        _http = httpClient;
        _ownsHttp = ownsHttp;
        _api = new ApiConnection(httpClient, baseAddress, apiKey, time);
    }

    /// <summary>Disposes the <see cref="HttpClient"/> if this client created it; one passed in is the caller's to dispose.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    /// <summary>Liveness (<c>GET /healthz</c>): whether the server process answers.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The status and body; a non-2xx status is a result, not an exception.</returns>
    /// <exception cref="HttpRequestException">The server could not be reached.</exception>
    public Task<ProbeResult> GetHealthAsync(CancellationToken cancellationToken = default) =>
        ProbeAsync(ApiRoutes.Health, cancellationToken);

    /// <summary>Readiness (<c>GET /readyz</c>): 503 until the sandbox pool is warm and the backend works.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The status and body; a non-2xx status is a result, not an exception.</returns>
    /// <exception cref="HttpRequestException">The server could not be reached.</exception>
    public Task<ProbeResult> GetReadyAsync(CancellationToken cancellationToken = default) =>
        ProbeAsync(ApiRoutes.Ready, cancellationToken);

    private async Task<ProbeResult> ProbeAsync(string route, CancellationToken cancellationToken)
    {
        using var request = _api.Create(HttpMethod.Get, route, accept: "*/*");
        // Not through ApiConnection.SendAsync: an unhealthy status is the answer, not an error.
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return new ProbeResult(response.StatusCode, body);
    }

    // The request is built by the caller (so argument errors throw before any await) and disposed here.
    private async Task<T> SendAsync<T>(HttpRequestMessage request, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        using (request)
        {
            return await _api.SendAsync(request, typeInfo, cancellationToken);
        }
    }

    private async Task SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            await _api.SendAsync(request, cancellationToken);
        }
    }

    private static Uri RequireBase(HttpClient httpClient)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        return httpClient.BaseAddress
            ?? throw new ArgumentException("the HttpClient needs a BaseAddress: the server's address", nameof(httpClient));
    }

    /// <summary>Checks everything before creating the HttpClient, so a bad option leaves nothing to dispose.</summary>
    private static HttpClient CreateHttpClient(VivariumClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.BaseAddress is not { IsAbsoluteUri: true })
        {
            throw new ArgumentException("BaseAddress is required and must be absolute: the server's address", nameof(options));
        }
        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            throw new ArgumentException("ApiKey is required", nameof(options));
        }
        return new HttpClient { Timeout = options.Timeout };
    }
}
