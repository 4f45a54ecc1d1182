using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace Vivarium.Server.Tests;

/// <summary>SIGTERM to a real server process: it stops accepting, ends running code after its grace, and leaves no sandbox.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Sigterm_EndsRunningExecutionsAndLeavesNoSandboxProcess()
    {
        var state = Path.Combine("/tmp", "vivarium-shutdown-" + Guid.NewGuid().ToString("N")[..8]);
        int port = FreePort();
        var args = ServerFixture.Arguments(state, "--Vivarium:Sessions:ShutdownGrace=00:00:02")
            .Select(a => a == "http://127.0.0.1:0" ? $"http://127.0.0.1:{port}" : a);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Vivarium.Server.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var server = Process.Start(start)!;
        _ = server.StandardOutput.ReadToEndAsync();
        _ = server.StandardError.ReadToEndAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (!await IsReadyAsync(client))
            {
                Assert.True(DateTime.UtcNow < deadline, "the server did not become ready");
                await Task.Delay(100);
            }
            var id = await client.CreateSessionAsync();
            var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/execute") { Content = JsonContent.Create(new { code = "import time\nprint('running', flush=True)\ntime.sleep(1000)" }) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var events = new EventStream(await response.Content.ReadAsStreamAsync());
            Assert.Equal("stream", (await events.NextAsync())!.Name);
            Assert.NotEmpty(SandboxProcesses(state));

            Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();

            // The running execution is ended after its grace and reported, not dropped.
            var rest = await events.ReadToEndAsync();
            Assert.Equal("done", rest[^1].Name);
            Assert.Contains(rest[^1].Data.GetProperty("status").GetString(), new[] { "crashed", "interrupted" });
            Assert.True(server.WaitForExit(30_000), "the server did not exit within 30 s of SIGTERM");
            Assert.Empty(SandboxProcesses(state));
            Assert.Empty(Directory.EnumerateDirectories(Path.Combine(state, "workspaces")));
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task<bool> IsReadyAsync(HttpClient client)
    {
        try
        {
            return (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sandbox processes of the server on this state directory, in either sandbox mode: their
    /// command line names it (bwrap binds a workspace from it; a fork server's sandboxes are forks
    /// of the zygote, whose script is kept there) and they sit in a sandbox's cgroup (which the
    /// server and the zygote do not).
    /// </summary>
    private static List<int> SandboxProcesses(string state) =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => int.TryParse(name, out _))
            .Where(pid =>
            {
                try
                {
                    return File.ReadAllText($"/proc/{pid}/cmdline").Contains(state + "/", StringComparison.Ordinal)
                        && File.ReadAllText($"/proc/{pid}/cgroup").Contains("/sbx_", StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
                catch (UnauthorizedAccessException)
                {
                    return false;
                }
            })
            .Select(pid => int.Parse(pid!, System.Globalization.CultureInfo.InvariantCulture))
            .ToList();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
