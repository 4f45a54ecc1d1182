namespace Vivarium.Client.Http;

/// <summary>
/// Closes the connection under a response stream that is left before its end. Disposing is not
/// enough: on HTTP/1.1, SocketsHttpHandler first drains the rest of the body so it can reuse the
/// connection (up to 2 s by default), and an event stream sends nothing the drain can finish on,
/// so the server would go on running the code and the session would stay busy for those seconds.
/// Cancelling a pending read is the one way HttpClient offers to abort a single response: it
/// closes the connection (HTTP/1.1) or resets the stream (HTTP/2) at once.
/// </summary>
internal static class ConnectionAbort
{
    // Bytes already buffered make a read complete without waiting; skip that many reads at most,
    // then leave the rest to Dispose.
    private const int MaxBufferedReads = 64;

    /// <summary>Best effort, and never throws: it runs in <c>finally</c>, where an exception would hide the real one.</summary>
    public static async Task AbortAsync(Stream stream)
    {
        try
        {
            var buffer = new byte[4096];
            using var cancel = new CancellationTokenSource();
            for (var i = 0; i < MaxBufferedReads; i++)
            {
                var read = stream.ReadAsync(buffer, cancel.Token);
                if (!read.IsCompleted)
                {
                    await cancel.CancelAsync();
                    await read;
                    return;
                }
                if (await read == 0)
                {
                    // The body had ended: nothing to abort, the connection may be reused.
                    return;
                }
            }
        }
        catch (Exception)
        {
            // Cancelled (the expected way out), already closed, or already disposed: all mean closed.
        }
    }
}
