using Vivarium.Cli.Commands;

namespace Vivarium.Cli.Tests;

public sealed class ServeCommandTests
{
    [Fact]
    public void ServeCommand_ForwardsEverythingAfterServe_InOrder()
    {
        var root = CliApplication.CreateRootCommand(new CliConsole(TextReader.Null, TextWriter.Null, TextWriter.Null, false, false));
        var parsed = root.Parse(["serve", "--urls", "http://127.0.0.1:9123", "--Vivarium:Pool:Size=4", "-x"]);

        Assert.Empty(parsed.Errors);
        Assert.Equal(["--urls", "http://127.0.0.1:9123", "--Vivarium:Pool:Size=4", "-x"], ServeCommand.ForwardedArguments(parsed));
    }
}
