using System.Buffers.Binary;
using System.Text;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Tests.Protocol;

public sealed class FrameTests
{
    private static byte[] Header(uint length)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, length);
        return header;
    }

    [Fact]
    public async Task ReadFrameAsync_WithoutReadAhead_LeavesTheNextFrameForTheNextReader()
    {
        // The fork server's listener reads a sandbox's hello, then hands the socket to the
        // sandbox's own reader: the runner's ready, already sent, must still be there for it.
        using var stream = new MemoryStream();
        await FrameWriter.WriteFrameAsync(stream, Encoding.UTF8.GetBytes("{\"type\":\"hello\"}"), CancellationToken.None);
        await FrameWriter.WriteFrameAsync(stream, Encoding.UTF8.GetBytes("{\"type\":\"ready\"}"), CancellationToken.None);
        stream.Position = 0;

        var hello = await new FrameReader(stream, 1024, readAhead: false).ReadFrameAsync(CancellationToken.None);
        var ready = await new FrameReader(stream, 1024).ReadFrameAsync(CancellationToken.None);

        Assert.Equal("{\"type\":\"hello\"}", Encoding.UTF8.GetString(hello!));
        Assert.Equal("{\"type\":\"ready\"}", Encoding.UTF8.GetString(ready!));
    }

    [Fact]
    public async Task ReadFrameAsync_TwoFramesBackToBack_ReadsEachThenNull()
    {
        using var stream = new MemoryStream();
        await FrameWriter.WriteFrameAsync(stream, Encoding.UTF8.GetBytes("{\"a\":1}"), CancellationToken.None);
        await FrameWriter.WriteFrameAsync(stream, Array.Empty<byte>(), CancellationToken.None);
        stream.Position = 0;
        var reader = new FrameReader(stream, 1024);

        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString((await reader.ReadFrameAsync(CancellationToken.None))!));
        Assert.Empty((await reader.ReadFrameAsync(CancellationToken.None))!);
        Assert.Null(await reader.ReadFrameAsync(CancellationToken.None));
    }

    [Fact]
    public async Task ReadFrameAsync_LengthOverTheLimit_ThrowsBeforeReadingThePayload()
    {
        // Only the header: a reader that trusted the length would wait for (or allocate) 4 GiB.
        using var stream = new MemoryStream(Header(uint.MaxValue));
        var reader = new FrameReader(stream, 1024);

        var error = await Assert.ThrowsAsync<ProtocolViolationException>(() => reader.ReadFrameAsync(CancellationToken.None).AsTask());

        Assert.Contains("over the limit", error.Message);
        Assert.Equal(4, stream.Position);
    }

    [Fact]
    public async Task ReadFrameAsync_LengthJustOverTheLimit_Throws()
    {
        using var stream = new MemoryStream([.. Header(1025), .. new byte[1025]]);
        var reader = new FrameReader(stream, 1024);

        await Assert.ThrowsAsync<ProtocolViolationException>(() => reader.ReadFrameAsync(CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task ReadFrameAsync_LengthAtTheLimit_IsAccepted()
    {
        using var stream = new MemoryStream([.. Header(1024), .. new byte[1024]]);
        var reader = new FrameReader(stream, 1024);

        Assert.Equal(1024, (await reader.ReadFrameAsync(CancellationToken.None))!.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task ReadFrameAsync_StreamEndsInsideHeader_Throws(int headerBytes)
    {
        using var stream = new MemoryStream(Header(10)[..headerBytes]);
        var reader = new FrameReader(stream, 1024);

        var error = await Assert.ThrowsAsync<ProtocolViolationException>(() => reader.ReadFrameAsync(CancellationToken.None).AsTask());

        Assert.Contains("header", error.Message);
    }

    [Fact]
    public async Task ReadFrameAsync_StreamEndsInsidePayload_Throws()
    {
        using var stream = new MemoryStream([.. Header(10), .. "12345"u8]);
        var reader = new FrameReader(stream, 1024);

        await Assert.ThrowsAsync<ProtocolViolationException>(() => reader.ReadFrameAsync(CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task ReadFrameAsync_PayloadArrivingInPieces_IsReassembled()
    {
        var payload = Encoding.UTF8.GetBytes(new string('x', 5000));
        using var stream = new TrickleStream([.. Header((uint)payload.Length), .. payload], chunk: 7);
        var reader = new FrameReader(stream, 8192);

        Assert.Equal(payload, await reader.ReadFrameAsync(CancellationToken.None));
    }

    [Fact]
    public async Task WriteFrameAsync_WritesBigEndianLengthThenPayload()
    {
        using var stream = new MemoryStream();

        await FrameWriter.WriteFrameAsync(stream, "{}"u8.ToArray(), CancellationToken.None);

        Assert.Equal([0, 0, 0, 2, (byte)'{', (byte)'}'], stream.ToArray());
    }

    /// <summary>A stream that hands out at most a few bytes per read, as a pipe under load does.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
