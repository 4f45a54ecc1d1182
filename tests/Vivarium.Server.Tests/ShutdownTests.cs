using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Vivarium.Server.Tests;

/// <summary>SIGTERM to a real server process: it stops accepting, ends running code after its grace, and leaves no sandbox.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Sigterm_EndsRunningExecutionsAndLeavesNoSandboxProcess()
    {
        await using var server = ServerProcess.Start("shutdown", "--Vivarium:Sessions:ShutdownGrace=00:00:02");
        var state = server.StateDirectory;
        using var client = server.NewClient();
        await server.WaitUntilReadyAsync(client);
        var id = await client.CreateSessionAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/execute") { Content = JsonContent.Create(new { code = "import time\nprint('running', flush=True)\ntime.sleep(1000)" }) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var events = new EventStream(await response.Content.ReadAsStreamAsync());
        Assert.Equal("stream", (await events.NextAsync())!.Name);
        Assert.NotEmpty(SandboxProcesses(state));

        server.Terminate();

        // The running execution is ended after its grace and reported, not dropped.
        var rest = await events.ReadToEndAsync();
        Assert.Equal("done", rest[^1].Name);
        Assert.Contains(rest[^1].Data.GetProperty("status").GetString(), new[] { "crashed", "interrupted" });
        Assert.True(server.Process.WaitForExit(30_000), "the server did not exit within 30 s of SIGTERM");
        Assert.Empty(SandboxProcesses(state));
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(state, "workspaces")));
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
}
