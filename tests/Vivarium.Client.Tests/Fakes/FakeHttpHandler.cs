using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Vivarium.Client.Tests.Fakes;

/// <summary>What the client sent, copied at send time (the client disposes the request afterwards).</summary>
public sealed record RecordedRequest(
    HttpMethod Method,
    Uri Uri,
    HttpRequestHeaders Headers,
    MediaTypeHeaderValue? ContentType,
    long? ContentLength,
    byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>The path and query exactly as sent on the wire (escapes kept).</summary>
    public string PathAndQuery => Uri.PathAndQuery;
}

/// <summary>Answers every request with <c>respond</c> and records it; no network.</summary>
public sealed class FakeHttpHandler(Func<RecordedRequest, CancellationToken, HttpResponseMessage> respond) : HttpMessageHandler
{
    private readonly List<RecordedRequest> _requests = [];

    public FakeHttpHandler(HttpResponseMessage response)
        : this((_, _) => response)
    {
    }

    public IReadOnlyList<RecordedRequest> Requests => _requests;

    public RecordedRequest Single => Assert.Single(_requests);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        var recorded = new RecordedRequest(
            request.Method,
            request.RequestUri!,
            request.Headers,
            request.Content?.Headers.ContentType,
            request.Content?.Headers.ContentLength,
            body);
        _requests.Add(recorded);
        var response = respond(recorded, cancellationToken);
        response.RequestMessage = request;
        return response;
    }
}
