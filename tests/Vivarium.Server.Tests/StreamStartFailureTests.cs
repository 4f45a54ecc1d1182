using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Vivarium.Sandbox;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Server.Tests;

/// <summary>
/// An event-stream execution whose sandbox cannot be started (the host at capacity): it is
/// refused with problem+json before any stream, as the JSON form is, not cut off mid-stream.
/// </summary>
public sealed class StreamStartFailureTests
{
    [Fact]
    public async Task EventStream_WhenTheSandboxCannotBeReplaced_IsRefusedWithSandboxUnavailable()
    {
        var state = Path.Combine("/tmp", "vivarium-stream-start-" + Guid.NewGuid().ToString("N")[..8]);
        FailingStarts? backend = null;
        await using var app = VivariumServer.Build(ServerFixture.Arguments(state), builder =>
            builder.Services.AddSingleton<ISandboxBackend>(sp => backend = new FailingStarts(sp.GetRequiredService<BubblewrapBackend>())));
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = ServerFixture.ListeningAddress(app), Timeout = TimeSpan.FromSeconds(120) };
            client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
            var id = await client.CreateSessionAsync();
            await client.PutAsync($"/v1/sessions/{id}/files/kept.txt", new StringContent("kept"));

            // From now on no sandbox starts: the crash below leaves the session without one.
            backend!.Fail = true;
            var crash = await client.ExecuteAsync(id, "import os\nos._exit(1)");
            Assert.Equal("crashed", crash.GetProperty("status").GetString());

            var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/execute") { Content = JsonContent.Create(new { code = "print(1)" }) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await client.SendAsync(request);
            await response.AssertProblemAsync(503, "sandbox_unavailable");

            // Once sandboxes start again, the session works, with its files.
            backend.Fail = false;
            var after = await client.ExecuteAsync(id, "open('kept.txt').read()");
            Assert.Equal("'kept'", after.GetProperty("result").GetProperty("text/plain").GetString());
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

    /// <summary>The real backend, whose starts can be made to fail as on a host at capacity.</summary>
    private sealed class FailingStarts(BubblewrapBackend inner) : ISandboxBackend
    {
        public volatile bool Fail;

        public string Name => inner.Name;
        public SandboxLimits DefaultLimits => inner.DefaultLimits;
        public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);
        public Task<SandboxWorkspace> CreateWorkspaceAsync(CancellationToken cancellationToken) => inner.CreateWorkspaceAsync(cancellationToken);
        public Task DeleteWorkspaceAsync(SandboxWorkspace workspace, CancellationToken cancellationToken) => inner.DeleteWorkspaceAsync(workspace, cancellationToken);

        public Task<ISandbox> StartAsync(SandboxWorkspace workspace, SandboxLimits limits, CancellationToken cancellationToken) =>
            Fail ? throw new SandboxStartException("the host is at capacity (test)") : inner.StartAsync(workspace, limits, cancellationToken);
    }
}
