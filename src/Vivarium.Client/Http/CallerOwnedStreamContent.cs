using System.Net;

namespace Vivarium.Client.Http;

/// <summary>
/// Sends a caller's stream as a body without disposing it: <see cref="StreamContent"/> disposes
/// its stream with the request, but the stream belongs to whoever passed it to us.
/// </summary>
internal sealed class CallerOwnedStreamContent(Stream stream) : HttpContent
{
    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) =>
        stream.CopyToAsync(target);

    protected override Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken) =>
        stream.CopyToAsync(target, cancellationToken);

    protected override bool TryComputeLength(out long length)
    {
        // A known length is sent as Content-Length, so the server can refuse an oversized upload before reading it.
        if (stream.CanSeek)
        {
            length = stream.Length - stream.Position;
            return true;
        }
        length = 0;
        return false;
    }
}
