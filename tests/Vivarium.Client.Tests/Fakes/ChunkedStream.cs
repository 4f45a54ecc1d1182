namespace Vivarium.Client.Tests.Fakes;

/// <summary>
/// A network-like body: each read returns at most one of the given chunks, so tests choose where
/// the reader's buffers break (inside a line, inside a UTF-8 character). After the last chunk it
/// either ends or, with <c>hangAtEnd</c>, waits for cancellation like an open connection with no
/// more events. Records whether it was disposed (the connection closed).
/// </summary>
public sealed class ChunkedStream(IEnumerable<byte[]> chunks, bool hangAtEnd = false) : Stream
{
    private readonly Queue<byte[]> _chunks = new(chunks);
    private byte[] _current = [];
    private int _offset;
    private readonly TaskCompletionSource _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsDisposed { get; private set; }

    /// <summary>Completes when a read is waiting for data that will never come (hangAtEnd only).</summary>
    public Task Waiting => _waiting.Task;

    public static ChunkedStream Split(byte[] bytes, int chunkSize, bool hangAtEnd = false) =>
        new(bytes.Chunk(chunkSize), hangAtEnd);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (_offset == _current.Length)
        {
            if (!_chunks.TryDequeue(out var next))
            {
                if (!hangAtEnd)
                {
                    return 0;
                }
                _waiting.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            _current = next!;
            _offset = 0;
        }
        var count = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsMemory(_offset, count).CopyTo(buffer);
        _offset += count;
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        IsDisposed = true;
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
