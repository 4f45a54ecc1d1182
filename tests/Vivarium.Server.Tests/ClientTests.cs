using System.Text;
using Vivarium.Client;

namespace Vivarium.Server.Tests;

/// <summary>The .NET client against the real server: every call, typed errors, streaming.</summary>
[Collection("Server")]
public sealed class ClientTests(ServerFixture server)
{
    private VivariumClient Client(string key = ServerFixture.KeyA) =>
        new(new VivariumClientOptions { BaseAddress = server.BaseAddress, ApiKey = key });

    [Fact]
    public async Task EveryCall_WorksAgainstTheRealServer()
    {
        using var client = Client();
        Assert.True((await client.GetHealthAsync()).IsOk);
        Assert.True((await client.GetReadyAsync()).IsOk);

        var session = await client.CreateSessionAsync(new CreateSessionOptions { Metadata = new Dictionary<string, string> { ["via"] = "client" } });
        try
        {
            Assert.Equal("client", (await client.GetSessionAsync(session.Id)).Metadata["via"]);
            Assert.Contains(await client.ListSessionsAsync(), s => s.Id == session.Id);

            await client.UploadFileAsync(session.Id, "in/data.csv", Encoding.UTF8.GetBytes("x\n1\n2\n3\n"));
            await client.UploadFilesAsync(session.Id, [new FileUpload("notes.txt", "hello"u8.ToArray())]);
            var execution = await client.ExecuteAsync(session.Id,
                "import pandas as pd\nimport matplotlib.pyplot as plt\ndf = pd.read_csv('in/data.csv')\ndf.plot()\nplt.show()\ndf.to_csv('out.csv')\nint(df.x.sum())");
            Assert.True(execution.IsSuccess);
            Assert.Equal("6", execution.Text);
            Assert.Equal([0x89, 0x50, 0x4E, 0x47], Assert.Single(execution.Images)[..4]);
            Assert.Contains(execution.Files, f => f.Path == "out.csv" && f.Change == FileChangeKind.Created);

            var files = await client.ListFilesAsync(session.Id);
            Assert.Equal(["in/data.csv", "notes.txt", "out.csv"], files.Select(f => f.Path).Order().ToList());
            Assert.Equal("hello", Encoding.UTF8.GetString(await client.DownloadFileAsync(session.Id, "notes.txt")));
            await client.DeleteFileAsync(session.Id, "notes.txt");
            await Assert.ThrowsAsync<FileNotFoundInSessionException>(() => client.DownloadFileAsync(session.Id, "notes.txt"));

            var events = new List<ExecutionEvent>();
            await foreach (var item in client.StreamExecuteAsync(session.Id, "for i in range(3): print(i, flush=True)"))
            {
                events.Add(item);
            }
            var done = Assert.IsType<DoneEvent>(events[^1]);
            Assert.Equal("0\n1\n2\n", done.Execution.Stdout);
            Assert.Contains(events, e => e is OutputEvent { Output: StreamOutput });

            Assert.False(await client.InterruptAsync(session.Id));
            await client.RestartAsync(session.Id);
            Assert.False((await client.ExecuteAsync(session.Id, "df")).IsSuccess);
        }
        finally
        {
            await client.DeleteSessionAsync(session.Id);
        }
        await Assert.ThrowsAsync<SessionNotFoundException>(() => client.GetSessionAsync(session.Id));

        var once = await client.ExecuteOnceAsync("open('copy.txt', 'w').write(open('in.txt').read().upper())",
            [new InputFile("in.txt", "shout"u8.ToArray())]);
        Assert.Equal("SHOUT", Encoding.UTF8.GetString(Assert.Single(once.Files).Content));
    }

    [Fact]
    public async Task Errors_AreTypedExceptionsWithTheStableCode()
    {
        using var wrongKey = Client("wrong");
        await Assert.ThrowsAsync<UnauthorizedException>(() => wrongKey.ListSessionsAsync());

        using var client = Client();
        var notFound = await Assert.ThrowsAsync<SessionNotFoundException>(() => client.ExecuteAsync("ses_missing", "1"));
        Assert.Equal("session_not_found", notFound.Code);
        var session = await client.CreateSessionAsync();
        try
        {
            // The client refuses obvious escapes itself; a symlink out of the workspace is the server's to refuse.
            await Assert.ThrowsAsync<ArgumentException>(() => client.UploadFileAsync(session.Id, "/etc/passwd", "x"u8.ToArray()));
            await client.ExecuteAsync(session.Id, "import os; os.symlink('/etc/passwd', 'link')");
            await Assert.ThrowsAsync<InvalidPathException>(() => client.DownloadFileAsync(session.Id, "link"));
            await Assert.ThrowsAsync<PayloadTooLargeException>(() => client.ExecuteAsync(session.Id, new string('#', 30_000)));
        }
        finally
        {
            await client.DeleteSessionAsync(session.Id);
        }
    }
}
