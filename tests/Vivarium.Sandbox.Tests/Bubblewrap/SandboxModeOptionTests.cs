using System.ComponentModel.DataAnnotations;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Sandbox.Tests.Bubblewrap;

public sealed class SandboxModeOptionTests
{
    [Theory]
    [InlineData("bubblewrap", true)]
    [InlineData("fork-server", true)]
    [InlineData("Fork-Server", false)]
    [InlineData("forkserver", false)]
    [InlineData("", false)]
    public void Mode_OnlyTheTwoKnownValues_AreValid(string mode, bool valid)
    {
        var options = new BubblewrapOptions { Mode = mode };
        var results = new List<ValidationResult>();

        bool ok = Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);

        Assert.Equal(valid, ok);
    }

    [Fact]
    public void Mode_Default_IsTheForkServer() => Assert.Equal(BubblewrapOptions.ForkServerMode, new BubblewrapOptions().Mode);
}
