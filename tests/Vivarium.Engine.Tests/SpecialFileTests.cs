using Vivarium.Engine.Sessions;

namespace Vivarium.Engine.Tests;

/// <summary>
/// File requests run on the runner's control thread, which also reads the executions: an open
/// that blocks (a FIFO without a writer or reader) must never happen there, or the request
/// hangs and the whole session with it.
/// </summary>
[Collection("Engine")]
public sealed class SpecialFileTests(EngineFixture engine)
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ReadFile_OfAFifo_IsRefusedAtOnce_AndTheSessionKeepsItsState()
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.RunOkAsync("import os\nos.mkfifo('pipe')\nkept = 7");

        var error = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.ReadFileAsync("pipe", CancellationToken.None).WaitAsync(Prompt));

        Assert.Equal(ErrorCodes.InvalidPath, error.Code);
        Assert.Contains("not a regular file", error.Message);
        var after = await lease.RunAsync("kept * 6");
        Assert.Equal("42", after.Result!["text/plain"].GetString());
    }

    [Fact]
    public async Task WriteFile_WithAFifoAtItsTemporaryName_StillCompletes()
    {
        await using var lease = await engine.NewSessionAsync();
        // The upload's temporary name is predictable from inside (pid and control thread).
        await lease.RunOkAsync("import os, threading\ncontrol = next(t for t in threading.enumerate() if t.name == 'control')\nos.mkfifo(f'.vivarium-upload-{os.getpid()}-{control.ident}')");

        var written = await lease.Session.WriteFileAsync("data.txt", "hello"u8.ToArray(), CancellationToken.None).WaitAsync(Prompt);

        Assert.Equal(5, written.Size);
        Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(await lease.Session.ReadFileAsync("data.txt", CancellationToken.None).WaitAsync(Prompt)));
    }
}
