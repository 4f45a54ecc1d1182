namespace Vivarium.Cli.Doctor;

/// <summary>How a check came out.</summary>
internal enum CheckOutcome
{
    /// <summary>Works.</summary>
    Ok,
    /// <summary>Works, with a caveat worth reading; not a failure.</summary>
    Warning,
    /// <summary>Broken: sandboxes will not start, or will start without a protection.</summary>
    Failed,
    /// <summary>Not tried, because something it needs failed first.</summary>
    Skipped,
}

/// <summary>One thing <c>doctor</c> looked at, what it found, and how to fix it.</summary>
/// <param name="Name">What was checked, e.g. <c>bubblewrap</c>.</param>
/// <param name="Outcome">How it came out.</param>
/// <param name="Detail">What was found, in plain words.</param>
/// <param name="Fix">What to do about a failure or warning (a command where there is one).</param>
/// <param name="AptPackages">Debian packages that would fix it, gathered into one install command at the end.</param>
internal sealed record DoctorCheck(string Name, CheckOutcome Outcome, string Detail, string? Fix = null, IReadOnlyList<string>? AptPackages = null)
{
    /// <summary>A passing check.</summary>
    public static DoctorCheck Ok(string name, string detail) => new(name, CheckOutcome.Ok, detail);

    /// <summary>A failure fixed by installing Debian packages.</summary>
    public static DoctorCheck MissingPackages(string name, string detail, params string[] packages) =>
        new(name, CheckOutcome.Failed, detail, $"apt-get install -y {string.Join(' ', packages)}", packages);

    /// <summary>A failure with a fix that is not a package.</summary>
    public static DoctorCheck Failed(string name, string detail, string fix) => new(name, CheckOutcome.Failed, detail, fix);

    /// <summary>A check that could not run because an earlier one failed.</summary>
    public static DoctorCheck Skipped(string name, string why) => new(name, CheckOutcome.Skipped, why);
}
