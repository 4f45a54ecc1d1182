namespace Vivarium.Security.Tests;

/// <summary>
/// One attack: what it tries (<see cref="Name"/>), which layer is expected to stop it
/// (<see cref="Layer"/>), what "stopped" looks like (<see cref="Expected"/>), and the body that
/// runs it, asserts the expectation and returns what was actually observed.
/// </summary>
public sealed record SecurityCase(string Group, string Name, string Layer, string Expected, Func<CaseContext, Task<string>> Body)
{
    public override string ToString() => Name;

    /// <summary>
    /// The common shape: hostile Python in the attacker's session. The code prints its verdict
    /// on lines starting with <c>=> </c>; the case holds when the status is
    /// <paramref name="status"/>, every <paramref name="contains"/> is in the verdict and no
    /// <paramref name="absent"/> text is anywhere in stdout or stderr.
    /// </summary>
    public static SecurityCase Python(string group, string name, string layer, string code,
        string status = "ok", string[]? contains = null, string[]? absent = null, double timeout = 15, string? expected = null,
        Action<Exec>? check = null)
    {
        contains ??= [];
        absent ??= [];
        expected ??= $"status {status}" + (contains.Length > 0 ? "; " + string.Join(", ", contains) : "");
        return new SecurityCase(group, name, layer, expected, async context =>
        {
            var exec = await context.RunAsync(code, timeout);
            AssertExec(exec, status, contains, absent);
            check?.Invoke(exec);
            return exec.Describe();
        });
    }

    public static void AssertExec(Exec exec, string status, IEnumerable<string> contains, IEnumerable<string> absent)
    {
        Assert.True(exec.Status == status, $"expected status {status}, got {exec.Status}: {exec}");
        var verdict = string.Join("\n", exec.Verdicts);
        foreach (var text in contains)
        {
            Assert.True(verdict.Contains(text, StringComparison.Ordinal), $"expected '{text}' in the verdict, got: {exec}");
        }
        foreach (var text in absent)
        {
            Assert.False(exec.Stdout.Contains(text, StringComparison.Ordinal) || exec.Stderr.Contains(text, StringComparison.Ordinal),
                $"'{text}' must not appear: {exec}");
        }
    }
}
