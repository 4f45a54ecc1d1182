using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Vivarium.Client.Tests.Fakes;

/// <summary>Canned responses as the contract shapes them.</summary>
public static class Responses
{
    public static HttpResponseMessage Json(string json, HttpStatusCode status = HttpStatusCode.OK) =>
        Text(json, "application/json", status);

    public static HttpResponseMessage Text(string text, string mediaType, HttpStatusCode status) =>
        new(status) { Content = new StringContent(text, Encoding.UTF8, mediaType) };

    public static HttpResponseMessage Problem(HttpStatusCode status, string code, string title = "Title", string detail = "Detail") =>
        Text(
            $$"""{"type":"https://vivarium.dev/errors/{{code}}","title":"{{title}}","status":{{(int)status}},"detail":"{{detail}}","code":"{{code}}"}""",
            "application/problem+json",
            status);

    public static HttpResponseMessage NoContent() => new(HttpStatusCode.NoContent);

    public static HttpResponseMessage Bytes(byte[] bytes, string mediaType = "application/octet-stream")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    /// <summary>An event stream whose body is read from <paramref name="body"/>, as a socket would deliver it.</summary>
    public static HttpResponseMessage EventStream(Stream body)
    {
        var content = new StreamContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/event-stream");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }
}
