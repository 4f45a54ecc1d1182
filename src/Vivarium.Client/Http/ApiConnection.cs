using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Vivarium.Client.Http;

/// <summary>
/// Sends requests to one server with one API key: builds them, and turns every non-2xx answer into
/// a typed exception, so the calls above only deal with success.
/// </summary>
internal sealed class ApiConnection
{
    public const string JsonMediaType = "application/json";
    public const string EventStreamMediaType = "text/event-stream";

    private readonly HttpClient _http;
    private readonly Uri _baseAddress;
    private readonly AuthenticationHeaderValue _authorization;
    private readonly TimeProvider _time;

    public ApiConnection(HttpClient http, Uri baseAddress, string apiKey, TimeProvider time)
    {
        _http = http;
        // Relative routes resolve under the base's last segment only when it ends in '/'.
        _baseAddress = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
        _authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        _time = time;
    }

    /// <summary>A request to <paramref name="route"/>; <c>/v1</c> routes carry the API key, the probes do not need it.</summary>
    public HttpRequestMessage Create(HttpMethod method, string route, HttpContent? content = null, string accept = JsonMediaType)
    {
        var request = new HttpRequestMessage(method, new Uri(_baseAddress, route)) { Content = content };
        // Per request rather than on DefaultRequestHeaders: the HttpClient may be shared with other code.
        if (route.StartsWith("v1/", StringComparison.Ordinal))
        {
            request.Headers.Authorization = _authorization;
        }
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        return request;
    }

    /// <summary>A JSON body, serialized up front so it goes with a Content-Length.</summary>
    public static HttpContent Json<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, typeInfo));
        content.Headers.ContentType = new MediaTypeHeaderValue(JsonMediaType) { CharSet = "utf-8" };
        return content;
    }

    /// <summary>Sends the request; a non-2xx answer is read and thrown as a <see cref="VivariumApiException"/>.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        var response = await _http.SendAsync(request, completion, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            throw await ApiErrors.ReadAsync(response, _time.GetUtcNow(), cancellationToken);
        }
    }

    /// <summary>Sends the request and ignores the body of a successful answer (204, or 200 with nothing we need).</summary>
    public async Task SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>Sends the request and reads the JSON answer.</summary>
    public async Task<T> SendAsync<T>(HttpRequestMessage request, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return await ReadJsonAsync(response, typeInfo, cancellationToken);
    }

    /// <summary>Reads a successful answer's JSON body; a <c>null</c> body breaks the contract.</summary>
    public static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await JsonSerializer.DeserializeAsync(stream, typeInfo, cancellationToken)
            ?? throw new JsonException($"the server answered null where {typeof(T).Name} was expected");
    }
}
