using Vivarium.Cli.Local;

namespace Vivarium.Cli.Tests;

public sealed class OutputFolderTests
{
    [Theory]
    [InlineData("out.csv", "out.csv")]
    [InlineData("report/summary.txt", "report_summary.txt")]
    [InlineData("a/b/c.png", "a_b_c.png")]
    public void FlattenName_JoinsFolders(string workspacePath, string expected) =>
        Assert.Equal(expected, OutputFolder.FlattenName(workspacePath));

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("a/../../escape.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData(".bashrc")]
    [InlineData("a\nb")]
    [InlineData("a\\b")]
    [InlineData("")]
    public void FlattenName_RefusesWhatCouldEscapeOrHide(string workspacePath) =>
        Assert.Throws<ArgumentException>(() => OutputFolder.FlattenName(workspacePath));

    [Fact]
    public void SaveWorkspaceFile_RefusesToReplaceTheScriptOrWriteThroughASymlink()
    {
        using var folder = new ScratchFolder();
        var script = folder.Write("job.py", "print(1)\n");
        var outside = folder.Write("outside.txt", "original");
        File.CreateSymbolicLink(folder["link.txt"], outside);
        var output = new OutputFolder(folder.Path, "job", script, keepExisting: false);

        Assert.Throws<ArgumentException>(() => output.SaveWorkspaceFile("job.py", "x"u8));
        Assert.Throws<ArgumentException>(() => output.SaveWorkspaceFile("link.txt", "x"u8));
        Assert.Equal("print(1)\n", File.ReadAllText(script));
        Assert.Equal("original", File.ReadAllText(outside));

        var saved = output.SaveWorkspaceFile("data/new.csv", "a,b\n"u8);
        Assert.Equal(folder["data_new.csv"], saved);
        Assert.Equal("a,b\n", File.ReadAllText(saved));
        Assert.Empty(Directory.GetFiles(folder.Path, "*.tmp"));   // no temporary file left behind
    }

    [Fact]
    public void SaveImage_NumbersCharts_AndCanSkipNamesAlreadyTaken()
    {
        using var folder = new ScratchFolder();
        folder.Write("vivarium-out-1.png", "earlier");
        var repl = new OutputFolder(folder.Path, "vivarium-out", protectedPath: null, keepExisting: true);

        Assert.Equal(folder["vivarium-out-2.png"], repl.SaveImage([1, 2, 3]));
        Assert.Equal(folder["vivarium-out-3.png"], repl.SaveImage([4]));
        Assert.Equal("earlier", File.ReadAllText(folder["vivarium-out-1.png"]));
    }
}
