using Vivarium.Cli.Local;

namespace Vivarium.Cli.Tests;

public sealed class ReplCommandTests
{
    [Fact]
    public async Task Repl_KeepsStateAcrossInputs_RunsBlocks_AndRestartsOnRequest()
    {
        const string input = """
            x = 41
            x + 1
            def double(n):
                return n * 2

            double(x)
            open("kept.txt", "w").write("still here")
            :files
            :restart
            x
            :quit
            print("after quit")
            """;

        var result = await Cli.InvokeAsync(["repl"], input);

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Stdout.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Contains("42", lines);
        Assert.Contains("82", lines);
        Assert.Contains(lines, l => l.EndsWith("kept.txt", StringComparison.Ordinal));
        Assert.Contains("NameError", result.Stderr, StringComparison.Ordinal);   // x is gone after :restart
        Assert.DoesNotContain("after quit", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("for i in range(3):", true)]
    [InlineData("def f(a, b):  ", true)]
    [InlineData("data = {", true)]
    [InlineData("total = 1 + \\", true)]
    [InlineData("x = [1, 2]", false)]
    [InlineData("print('a:b')", false)]
    [InlineData(":files", false)]
    public void OpensBlock_KnowsWhenMoreLinesFollow(string line, bool opens) =>
        Assert.Equal(opens, ReplInput.OpensBlock(line));
}
