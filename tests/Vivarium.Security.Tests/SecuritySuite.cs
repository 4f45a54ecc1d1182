using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Vivarium.Security.Tests;

/// <summary>
/// The security suite (issue #4): every row of <see cref="SecurityCases.All"/> is one hostile
/// program run against the real server. After each one the host must be untouched: no canary
/// value in any answer, no connection on any canary listener, /healthz OK, and an unrelated
/// tenant's session still computes 1+1. The last test prints the table and writes
/// docs/security-suite.md.
/// </summary>
[Collection("Security")]
[TestCaseOrderer("Vivarium.Security.Tests.TableOrder", "Vivarium.Security.Tests")]
public sealed class SecuritySuite(SecurityFixture fixture, ITestOutputHelper output)
{
    public static TheoryData<int, string> Cases()
    {
        var data = new TheoryData<int, string>();
        for (int i = 0; i < SecurityCases.All.Count; i++)
        {
            data.Add(i, SecurityCases.All[i].Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Case(int index, string name)
    {
        var securityCase = SecurityCases.All[index];
        Assert.Equal(securityCase.Name, name);
        output.WriteLine($"{securityCase.Group} / {name} — expected to be stopped by: {securityCase.Layer}");
        int contactsBefore = fixture.Canaries.Contacts.Count;
        var stopwatch = Stopwatch.StartNew();
        using var context = new CaseContext(fixture, output);
        string observed;
        Exception? failure = null;
        try
        {
            observed = await securityCase.Body(context);
        }
        catch (Exception e)
        {
            failure = e;
            observed = "FAILED: " + e.Message;
        }
        await context.EndSessionsAsync();
        var violations = await CheckHostAsync(context, contactsBefore);
        stopwatch.Stop();

        bool held = failure is null && violations.Count == 0;
        if (violations.Count > 0)
        {
            observed += " | HOST CHECK FAILED: " + string.Join("; ", violations);
        }
        fixture.Outcomes[index] = new CaseOutcome(securityCase, held, observed, stopwatch.Elapsed);
        output.WriteLine($"observed: {observed} ({stopwatch.Elapsed.TotalSeconds:0.0} s)");
        if (failure is not null)
        {
            throw new XunitException($"{name}: {failure.Message}", failure);
        }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    /// <summary>The invariants that hold after every case, whatever the case did.</summary>
    private async Task<List<string>> CheckHostAsync(CaseContext context, int contactsBefore)
    {
        var violations = new List<string>();
        foreach (var answer in context.Answers)
        {
            foreach (var token in fixture.Canaries.Tokens)
            {
                if (answer.Contains(token, StringComparison.Ordinal))
                {
                    violations.Add($"a host canary ({token[..token.IndexOf('-', StringComparison.Ordinal)]}) appeared in an answer");
                }
            }
        }
        var contacts = fixture.Canaries.Contacts;
        if (contacts.Count != contactsBefore)
        {
            violations.Add("a canary listener was contacted: " + string.Join(", ", contacts.Skip(contactsBefore)));
        }
        using var anonymous = fixture.Client(null);
        var health = await anonymous.GetAsync("/healthz");
        if (health.StatusCode != HttpStatusCode.OK)
        {
            violations.Add($"/healthz answered {(int)health.StatusCode}");
        }
        using var witness = fixture.Client(SecurityFixture.KeyWitness);
        var response = await witness.PostAsJsonAsync($"/v1/sessions/{fixture.WitnessSessionId}/execute", new { code = "1+1", timeout_seconds = 10 });
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            violations.Add($"the witness session answered {(int)response.StatusCode}: {body}");
        }
        else
        {
            var json = JsonDocument.Parse(body).RootElement;
            var result = json.GetProperty("result") is { ValueKind: JsonValueKind.Object } r ? r.GetProperty("text/plain").GetString() : null;
            if (json.GetProperty("status").GetString() != "ok" || result != "2")
            {
                violations.Add($"the witness session computed 1+1 as {result ?? "nothing"} ({json.GetProperty("status").GetString()})");
            }
        }
        return violations;
    }

    [Fact]
    public void Report()
    {
        var outcomes = fixture.Outcomes.OrderBy(o => o.Key).Select(o => (Index: o.Key, o.Value)).ToList();
        var markdown = Markdown(outcomes, SecurityCases.All.Count);
        output.WriteLine(markdown);
        if (outcomes.Count == SecurityCases.All.Count)
        {
            // Only a full run rewrites the committed report.
            var root = RepositoryRoot();
            if (root is not null)
            {
                // One report per sandbox mode: both ship, and each must hold every case.
                File.WriteAllText(Path.Combine(root, "docs", SecurityFixture.ForkServer ? "security-suite-fork-server.md" : "security-suite.md"), markdown);
            }
        }
    }

    private static string Markdown(List<(int Index, CaseOutcome Outcome)> outcomes, int total)
    {
        var held = outcomes.Count(o => o.Outcome.Held);
        var s = new StringBuilder();
        s.AppendLine("# Vivarium security suite");
        s.AppendLine();
        s.AppendLine("Generated by `dotnet test tests/Vivarium.Security.Tests` (issue #4); do not edit by hand.");
        s.AppendLine();
        s.AppendLine("Each row is one hostile Python program (or API call) run against the real server, started in");
        s.AppendLine(SecurityFixture.ForkServer
            ? "process on 127.0.0.1 with real sandboxes forked by the zygote (`Vivarium:Sandbox:Mode=fork-server`). Before the run the harness plants host"
            : "process on 127.0.0.1 with real bubblewrap sandboxes. Before the run the harness plants host");
        s.AppendLine("canaries with random values: a secret file in the host's `/tmp`, a secret variable in the");
        s.AppendLine("server's environment, a secret file in the server's state directory, and TCP, UDP, unix-path and");
        s.AppendLine("abstract-unix listeners on the host that record every contact. After **every** case: no canary");
        s.AppendLine("value appears in any answer of the API, no listener was contacted, `/healthz` is OK and an");
        s.AppendLine("unrelated tenant's witness session still answers `1+1` with `2`.");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Limits of the server under test: memory {SecurityFixture.MemoryLimitBytes / (1024 * 1024)} MiB, {SecurityFixture.MaxProcesses} processes, workspace quota {SecurityFixture.WorkspaceQuotaBytes / (1024 * 1024)} MiB ({SecurityFixture.WorkspaceInodes} inodes), /tmp {SecurityFixture.TmpSizeBytes / (1024 * 1024)} MiB, largest file {SecurityFixture.MaxFileSizeBytes / (1024 * 1024)} MiB, {SecurityFixture.MaxOpenFiles} open files; pool size 1.");
        s.AppendLine(CultureInfo.InvariantCulture, $"Host: Linux {KernelRelease()}, {Environment.ProcessorCount} cores.");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"**{held} of {total} cases held**{(outcomes.Count < total ? $" ({total - outcomes.Count} not run)" : "")}.");
        s.AppendLine();
        s.AppendLine("| # | group | attack | layer expected to hold | expected | observed | outcome | s |");
        s.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var (index, o) in outcomes)
        {
            s.AppendLine(CultureInfo.InvariantCulture,
                $"| {index + 1} | {Cell(o.Case.Group)} | {Cell(o.Case.Name)} | {Cell(o.Case.Layer)} | {Cell(o.Case.Expected)} | {Cell(o.Observed)} | {(o.Held ? "held" : "**DID NOT HOLD**")} | {o.Duration.TotalSeconds:0.0} |");
        }
        var failed = outcomes.Where(o => !o.Outcome.Held).ToList();
        if (failed.Count > 0)
        {
            s.AppendLine();
            s.AppendLine("## Did not hold");
            s.AppendLine();
            foreach (var (index, o) in failed)
            {
                s.AppendLine(CultureInfo.InvariantCulture, $"- #{index + 1} {o.Case.Name}: {o.Observed.Replace('\n', ' ')}");
            }
        }
        return s.ToString();
    }

    private static string Cell(string text)
    {
        var flat = text.Replace("\r", "", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal);
        return CaseContext.Shorten(flat, 400);
    }

    private static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Vivarium.slnx")))
            {
                return dir.FullName;
            }
        }
        return null;
    }
}

/// <summary>Runs the cases in table order and the report last.</summary>
public sealed class TableOrder : ITestCaseOrderer
{
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases
            .OrderBy(t => t.TestMethod.Method.Name == nameof(SecuritySuite.Report) ? 1 : 0)
            .ThenBy(t => t.TestMethodArguments is { Length: > 0 } args && args[0] is int index ? index : int.MaxValue);
}
