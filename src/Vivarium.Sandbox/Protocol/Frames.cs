using System.Buffers.Binary;

namespace Vivarium.Sandbox.Protocol;

/// <summary>The runner broke the wire protocol; the sandbox is not trusted after this.</summary>
public sealed class ProtocolViolationException(string message) : Exception(message);

/// <summary>
/// Reads frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
/// Everything read comes from a sandbox, so the length is checked before anything is allocated.
/// </summary>
/// <param name="stream">The stream frames arrive on.</param>
/// <param name="maxFrameBytes">The largest frame accepted.</param>
/// <param name="readAhead">
/// Read whatever has arrived in one go (the default). False when the stream passes to another
/// reader after this one: bytes read ahead would be lost to it.
/// </param>
public sealed class FrameReader(Stream stream, int maxFrameBytes, bool readAhead = true)
{
    // A pipe's reads are blocking reads on a pool thread: reading a header and then its body
    // cost two of them per frame, and a reply usually arrives together with the result before it.
    // One buffered read takes whatever has arrived.
    private readonly Stream _stream = readAhead ? new BufferedStream(stream, 64 * 1024) : stream;
    private readonly byte[] _header = new byte[4];

    /// <summary>The next frame, or null when the stream ended cleanly between frames.</summary>
    /// <exception cref="ProtocolViolationException">A truncated or oversized frame.</exception>
    public async ValueTask<byte[]?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        int headerRead = await ReadAtLeastAsync(_header, cancellationToken);
        if (headerRead == 0)
        {
            return null;
        }
        if (headerRead < 4)
        {
            throw new ProtocolViolationException("the stream ended inside a frame header");
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        if (length > (uint)maxFrameBytes)
        {
            throw new ProtocolViolationException($"a frame of {length} bytes is over the limit of {maxFrameBytes}");
        }
        var payload = new byte[length];
        if (await ReadAtLeastAsync(payload, cancellationToken) < payload.Length)
        {
            throw new ProtocolViolationException("the stream ended inside a frame");
        }
        return payload;
    }

    private async ValueTask<int> ReadAtLeastAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        await _stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
}

/// <summary>Writes frames in the same format as <see cref="FrameReader"/> reads them.</summary>
public static class FrameWriter
{
    /// <summary>Writes one frame and flushes it.</summary>
    public static async ValueTask WriteFrameAsync(Stream stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame.AsMemory(4));
        await stream.WriteAsync(frame, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }
}
