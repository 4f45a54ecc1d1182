using Vivarium.Engine.Executions;

namespace Vivarium.Engine.Tests;

[Collection("Engine")]
public sealed class SmokeTests(EngineFixture engine)
{
    [Fact]
    public async Task OnePlusOne_ReturnsTwo()
    {
        var session = await engine.Sessions.CreateAsync("t1", null, CancellationToken.None);
        var execution = await session.ExecuteAsync(new ExecuteRequest("1+1"), CancellationToken.None);
        Assert.Equal(ExecutionStatus.Ok, execution.Status);
        Assert.Equal("2", execution.Result!["text/plain"].GetString());
        await engine.Sessions.DeleteAsync("t1", session.Id);
    }
}
