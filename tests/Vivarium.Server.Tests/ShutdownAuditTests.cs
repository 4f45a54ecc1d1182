using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Vivarium.Server.Tests;

/// <summary>An execution that ends during shutdown (its sandbox killed by it) is still in the audit log.</summary>
public sealed class ShutdownAuditTests
{
    [Fact]
    public async Task ExecutionEndedByShutdown_IsRecorded()
    {
        var state = Path.Combine("/tmp", "vivarium-shutdown-audit-" + Guid.NewGuid().ToString("N")[..8]);
        // A long interrupt grace: the code below swallows the interrupt its client's hang-up
        // sends, so only the shutdown ends it, after its own 1 s grace.
        var app = VivariumServer.Build(ServerFixture.Arguments(state,
            "--Vivarium:Execution:InterruptGrace=00:01:00", "--Vivarium:Sessions:ShutdownGrace=00:00:01"));
        await app.StartAsync();
        const string code = "import time\nprint('stubborn', flush=True)\nwhile True:\n    try:\n        time.sleep(100)\n    except KeyboardInterrupt:\n        pass";
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = ServerFixture.ListeningAddress(app), Timeout = TimeSpan.FromSeconds(120) };
            client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
            var id = await client.CreateSessionAsync();
            var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/execute") { Content = JsonContent.Create(new { code }) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
            {
                using var events = new EventStream(await response.Content.ReadAsStreamAsync());
                Assert.Equal("stream", (await events.NextAsync())!.Name);
            }
            // The client is gone; the code still runs, with no request that the server would wait for.
            Assert.Equal("busy", (await (await client.GetAsync($"/v1/sessions/{id}")).JsonAsync()).GetProperty("status").GetString());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        try
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));
            await using var connection = new SqliteConnection($"Data Source={Path.Combine(state, "audit.db")};Pooling=False");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT status FROM executions WHERE code_sha256 = @hash";
            command.Parameters.AddWithValue("@hash", hash);
            // Recorded either way: killed by the shutdown ("crashed"), or, when the hang-up's
            // KeyboardInterrupt lands between the loop's try blocks, "interrupted" before it.
            Assert.Contains(await command.ExecuteScalarAsync() as string, new[] { "crashed", "interrupted" });
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
