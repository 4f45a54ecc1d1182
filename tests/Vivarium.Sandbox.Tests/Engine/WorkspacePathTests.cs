using Vivarium.Engine;
using Vivarium.Engine.Files;

namespace Vivarium.Sandbox.Tests.Engine;

public sealed class WorkspacePathTests
{
    [Theory]
    [InlineData("a/b.csv", "a/b.csv")]
    [InlineData("out.png", "out.png")]
    [InlineData("/home/user/x", "x")]
    [InlineData("/home/user/data/in.csv", "data/in.csv")]
    [InlineData("./a//b/./c.txt", "a/b/c.txt")]
    [InlineData("a/../b", "b")]
    [InlineData("a/b/../../c", "c")]
    [InlineData("with space/ünïcödé.txt", "with space/ünïcödé.txt")]
    [InlineData("..hidden", "..hidden")]
    public void Normalize_PathInsideWorkspace_ReturnsRelativePath(string path, string expected)
    {
        Assert.Equal(expected, WorkspacePath.Normalize(path));
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("../../etc/passwd")]
    [InlineData("a/../../b")]
    [InlineData("/etc/passwd")]
    [InlineData("/home/user")]
    [InlineData("/home/user/")]
    [InlineData("/home/userx/a")]
    [InlineData("/home/user/../user2/a")]
    [InlineData("/")]
    [InlineData(".")]
    [InlineData("a/..")]
    [InlineData("a\0b")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public void Normalize_PathOutsideOrEmpty_ThrowsInvalidPath(string? path)
    {
        var error = Assert.Throws<VivariumException>(() => WorkspacePath.Normalize(path));

        Assert.Equal(ErrorCodes.InvalidPath, error.Code);
    }

    [Fact]
    public void Normalize_OverlongPathOrSegment_ThrowsInvalidPath()
    {
        var longPath = string.Join('/', Enumerable.Repeat("abcdefgh", 600));
        var longSegment = new string('s', 256);

        Assert.Equal(ErrorCodes.InvalidPath, Assert.Throws<VivariumException>(() => WorkspacePath.Normalize(longPath)).Code);
        Assert.Equal(ErrorCodes.InvalidPath, Assert.Throws<VivariumException>(() => WorkspacePath.Normalize(longSegment)).Code);
    }

    [Fact]
    public void Normalize_ControlCharacters_AreNotEchoedInTheMessage()
    {
        var error = Assert.Throws<VivariumException>(() => WorkspacePath.Normalize("../\u001b[31mred\0"));

        Assert.DoesNotContain("\u001b", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\0", error.Message, StringComparison.Ordinal);
    }
}
