using System.Diagnostics;
using System.Reflection;
using Xunit.Abstractions;

namespace Vivarium.Mcp.Tests;

/// <summary>
/// Runs tests/mcp/run.sh (the real MCP inspector CLI over stdio and HTTP, and the MCP
/// conformance suite) so that `./vivarium test` runs it too, and prints what it printed.
/// </summary>
public sealed class NodeSuiteTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_inspector_and_conformance_suite_in_tests_mcp_pass()
    {
        var root = RepositoryRoot();
        var configuration = typeof(NodeSuiteTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        // Built with this test project (it references the CLI), so run.sh does not build again.
        var dll = Path.Combine(root, "src", "Vivarium.Cli", "bin", configuration, "net10.0", "vivarium.dll");
        Assert.True(File.Exists(dll), $"the CLI was not built at {dll}");

        var start = new ProcessStartInfo("bash", [Path.Combine(root, "tests", "mcp", "run.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.Combine(root, "tests", "mcp"),
        };
        start.Environment["VIVARIUM_DLL"] = dll;
        // No colour codes in the captured output.
        start.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // A bound, so a hung child fails the run instead of stalling it.
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        finally
        {
            output.WriteLine(await stdout);
            output.WriteLine(await stderr);
        }
        Assert.True(process.ExitCode == 0, $"tests/mcp/run.sh exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Vivarium.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Vivarium.slnx not found above " + AppContext.BaseDirectory);
    }
}
