using Xunit.Abstractions;

namespace Vivarium.Load.Tests;

/// <summary>
/// Issue #8: the server keeps working under load and faults, and loses nothing. The small run
/// is part of the ordinary test command; the soak is the same scenario for longer (docs/load.md).
/// </summary>
public sealed class LoadTests(ITestOutputHelper output)
{
    [Fact]
    public Task SmallRun_UnderLoadAndFaults_KeepsWorkingAndLosesNothing() => RunAsync(LoadSettings.Small());

    [SoakFact]
    public Task Soak_UnderLoadAndFaults_KeepsWorkingAndLosesNothing() => RunAsync(LoadSettings.SoakFromEnvironment()!);

    private async Task RunAsync(LoadSettings settings)
    {
        string report;
        string? failure = null;
        await using (var scenario = new LoadScenario(settings))
        {
            try
            {
                await scenario.RunAsync();
            }
            catch (LoadAbortedException e)
            {
                failure = e.Message;
            }
            report = scenario.Report();
            var problems = scenario.ServerProblems;
            var violations = scenario.Ledger.Violations;
            if (failure is null && (violations.Count > 0 || problems.Count > 0))
            {
                failure = $"{violations.Count} violations and {problems.Count} server log errors (see the report)";
            }
        }
        output.WriteLine(report);
        var path = Environment.GetEnvironmentVariable("VIVARIUM_LOAD_REPORT") is { Length: > 0 } configured
            ? configured
            : Path.Combine(AppContext.BaseDirectory, $"load-report-{settings.Name.Split(' ')[0]}.txt");
        await File.WriteAllTextAsync(path, report);
        if (failure is not null)
        {
            Assert.Fail($"The load and fault run failed: {failure}\n(report also in {path})\n\n{report}");
        }
    }
}

/// <summary>A test that runs only when VIVARIUM_SOAK_MINUTES is set (it takes that long).</summary>
public sealed class SoakFactAttribute : FactAttribute
{
    public SoakFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("VIVARIUM_SOAK_MINUTES")))
        {
            Skip = "the soak runs when VIVARIUM_SOAK_MINUTES is set (docs/load.md)";
        }
    }
}
