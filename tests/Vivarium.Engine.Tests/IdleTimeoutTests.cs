using Vivarium.Engine.Sessions;

namespace Vivarium.Engine.Tests;

[Collection("Engine")]
public sealed class IdleTimeoutTests(EngineFixture engine)
{
    [Fact]
    public async Task SetIdleTimeout_MovesTheDeadline_AndEndsTheSessionWhenItPasses()
    {
        var session = await engine.Sessions.CreateAsync("idle", new SessionCreateOptions { IdleTimeout = TimeSpan.FromHours(1) }, CancellationToken.None);
        Assert.True(session.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(50));

        session.SetIdleTimeout(TimeSpan.FromMilliseconds(300));
        Assert.Equal(TimeSpan.FromMilliseconds(300), session.Settings.IdleTimeout);
        Assert.True(session.ExpiresAt < DateTimeOffset.UtcNow.AddSeconds(1));

        // The reaper runs every 200 ms in this fixture.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (engine.Sessions.TryGet("idle", session.Id) is not null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        Assert.Null(engine.Sessions.TryGet("idle", session.Id));
        Assert.Equal(SessionStatus.Ended, session.Status);
    }

    [Fact]
    public async Task SetIdleTimeout_RefusesValuesOutOfRange()
    {
        var session = await engine.Sessions.CreateAsync("idle2", null, CancellationToken.None);
        var zero = Assert.Throws<VivariumException>(() => session.SetIdleTimeout(TimeSpan.Zero));
        Assert.Equal(ErrorCodes.InvalidRequest, zero.Code);
        var huge = Assert.Throws<VivariumException>(() => session.SetIdleTimeout(TimeSpan.FromDays(400)));
        Assert.Equal(ErrorCodes.InvalidRequest, huge.Code);
        await engine.Sessions.DeleteAsync("idle2", session.Id);
        var ended = Assert.Throws<VivariumException>(() => session.SetIdleTimeout(TimeSpan.FromMinutes(1)));
        Assert.Equal(ErrorCodes.SessionNotFound, ended.Code);
    }
}
