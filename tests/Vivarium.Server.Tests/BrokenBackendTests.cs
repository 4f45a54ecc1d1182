using System.Net.Http.Json;

namespace Vivarium.Server.Tests;

/// <summary>A server whose sandboxes cannot start (no Python): it must say so, not hang or crash.</summary>
public sealed class BrokenBackendTests
{
    [Fact]
    public async Task NoPython_ReadyzIsNotReady_AndSessionsAnswerSandboxUnavailable()
    {
        var state = Path.Combine("/tmp", "vivarium-broken-" + Guid.NewGuid().ToString("N")[..8]);
        await using var app = VivariumServer.Build(ServerFixture.Arguments(state, "--Vivarium:Sandbox:PythonPath=/nonexistent/python3"));
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = ServerFixture.ListeningAddress(app) };
            client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
            var ready = await client.GetAsync("/readyz");
            Assert.Equal(503, (int)ready.StatusCode);
            var response = await client.PostAsJsonAsync("/v1/sessions", new { });
            await response.AssertProblemAsync(503, "sandbox_unavailable");
            Assert.Contains("Python", (await response.JsonAsync()).GetProperty("detail").GetString());
            Assert.Equal(200, (int)(await client.GetAsync("/healthz")).StatusCode);
        }
        finally
        {
            await app.StopAsync();
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }
}
