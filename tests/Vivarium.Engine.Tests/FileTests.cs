using System.Text;
using Vivarium.Engine.Executions;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Engine.Tests;

/// <summary>Workspace files through the engine's API and from Python, both ways.</summary>
[Collection("Engine")]
public sealed class FileTests(EngineFixture engine)
{
    [Fact]
    public async Task WriteFile_Uploaded_IsReadableFromPython()
    {
        await using var lease = await engine.NewSessionAsync();

        var written = await lease.Session.WriteFileAsync("/home/user/data/in.csv", Encoding.UTF8.GetBytes("a,b\n1,2\n3,4\n"), CancellationToken.None);
        var execution = await lease.RunAsync("import pandas as pd\nint(pd.read_csv('data/in.csv')['b'].sum())");

        Assert.Equal("data/in.csv", written.Path);
        Assert.Equal(12, written.Size);
        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal("6", execution.Result!["text/plain"].GetString());
        Assert.Empty(execution.Files);
    }

    [Fact]
    public async Task Execute_WritesBinaryFile_ListedAndReadBackIdentical()
    {
        await using var lease = await engine.NewSessionAsync();
        var expected = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

        var execution = await lease.RunAsync("import os\nos.makedirs('out', exist_ok=True)\nopen('out/all-bytes.bin', 'wb').write(bytes(range(256)))");
        var listed = await lease.Session.ListFilesAsync(CancellationToken.None);
        var content = await lease.Session.ReadFileAsync("out/all-bytes.bin", CancellationToken.None);

        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal(new WorkspaceFileChange("out/all-bytes.bin", 256, "created"), Assert.Single(execution.Files));
        Assert.Contains("created out/all-bytes.bin (256 B)", execution.Summary);
        var file = Assert.Single(listed);
        Assert.Equal("out/all-bytes.bin", file.Path);
        Assert.Equal(256, file.Size);
        Assert.NotNull(file.ModifiedAt);
        Assert.Equal(expected, content);
    }

    [Fact]
    public async Task Execute_ModifiesAndDeletesFiles_ReportsEachChange()
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.Session.WriteFileAsync("keep.txt", "one"u8.ToArray(), CancellationToken.None);
        await lease.Session.WriteFileAsync("drop.txt", "two"u8.ToArray(), CancellationToken.None);

        var execution = await lease.RunAsync("import os\nopen('keep.txt', 'a').write(' more')\nos.remove('drop.txt')\nopen('new.txt', 'w').write('x')");

        Assert.Equal(
            [new("drop.txt", 0, "deleted"), new("keep.txt", 8, "modified"), new("new.txt", 1, "created")],
            execution.Files);
    }

    [Fact]
    public async Task DeleteFile_Existing_IsGoneForPythonAndTheApi()
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.Session.WriteFileAsync("gone.txt", "bye"u8.ToArray(), CancellationToken.None);

        await lease.Session.DeleteFileAsync("gone.txt", CancellationToken.None);

        var missing = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.ReadFileAsync("gone.txt", CancellationToken.None));
        Assert.Equal(ErrorCodes.FileNotFound, missing.Code);
        Assert.Empty(await lease.Session.ListFilesAsync(CancellationToken.None));
        var execution = await lease.RunAsync("import os\nos.path.exists('gone.txt')");
        Assert.Equal("False", execution.Result!["text/plain"].GetString());
    }

    [Fact]
    public async Task FileOperations_InvalidPath_ThrowInvalidPath()
    {
        await using var lease = await engine.NewSessionAsync();
        string[] paths = ["../../etc/passwd", "a/../../outside", "/etc/passwd", "/home/user", "/home/username/x", "a\0b", "", "  "];

        foreach (var path in paths)
        {
            var read = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.ReadFileAsync(path, CancellationToken.None));
            var write = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.WriteFileAsync(path, "x"u8.ToArray(), CancellationToken.None));
            var delete = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.DeleteFileAsync(path, CancellationToken.None));

            Assert.True(read.Code == ErrorCodes.InvalidPath, $"read '{path}': {read.Code}");
            Assert.True(write.Code == ErrorCodes.InvalidPath, $"write '{path}': {write.Code}");
            Assert.True(delete.Code == ErrorCodes.InvalidPath, $"delete '{path}': {delete.Code}");
        }
        Assert.Empty(await lease.Session.ListFilesAsync(CancellationToken.None));
    }

    [Fact]
    public async Task ReadFile_Missing_ThrowsFileNotFound()
    {
        await using var lease = await engine.NewSessionAsync();

        var read = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.ReadFileAsync("nope/missing.txt", CancellationToken.None));
        var delete = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.DeleteFileAsync("missing.txt", CancellationToken.None));

        Assert.Equal(ErrorCodes.FileNotFound, read.Code);
        Assert.Equal(ErrorCodes.FileNotFound, delete.Code);
    }

    [Fact]
    public async Task ReadFile_SymlinkOutOfWorkspace_ThrowsInvalidPath()
    {
        await using var lease = await engine.NewSessionAsync();
        await lease.RunOkAsync("import os\nos.symlink('/etc/passwd', 'passwd-link')\nos.symlink('/etc', 'etc-link')");

        var viaFile = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.ReadFileAsync("passwd-link", CancellationToken.None));
        var viaDirectory = await Assert.ThrowsAsync<VivariumException>(() => lease.Session.WriteFileAsync("etc-link/evil", "x"u8.ToArray(), CancellationToken.None));

        Assert.Equal(ErrorCodes.InvalidPath, viaFile.Code);
        Assert.Equal(ErrorCodes.InvalidPath, viaDirectory.Code);
    }

    [Fact]
    public async Task FileOperations_WhileCodeRuns_AreServed()
    {
        await using var lease = await engine.NewSessionAsync();
        var running = lease.Session.Start(new ExecuteRequest("import time\ntime.sleep(1000)", TimeSpan.FromMinutes(5)), CancellationToken.None);
        try
        {
            await lease.Session.WriteFileAsync("during.txt", "hello"u8.ToArray(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            var content = await lease.Session.ReadFileAsync("during.txt", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("hello"u8.ToArray(), content);
        }
        finally
        {
            lease.Session.Interrupt();
            await running.Completion.WaitAsync(TestBounds.Execution);
        }
    }
}
