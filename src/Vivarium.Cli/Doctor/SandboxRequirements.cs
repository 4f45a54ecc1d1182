namespace Vivarium.Cli.Doctor;

/// <summary>A Python module the sandbox offers, and the Debian package that provides it.</summary>
/// <param name="Module">The name to import, e.g. <c>sklearn</c>.</param>
/// <param name="AptPackage">The package that installs it, e.g. <c>python3-sklearn</c>.</param>
internal sealed record PythonModuleRequirement(string Module, string AptPackage);

/// <summary>
/// What a sandbox needs from the host. Keep in step with scripts/install-prerequisites,
/// which installs the same packages.
/// </summary>
internal static class SandboxRequirements
{
    /// <summary>Modules the runner needs or users are promised, each importable by /usr/bin/python3.</summary>
    public static IReadOnlyList<PythonModuleRequirement> PythonModules { get; } =
    [
        new("IPython", "python3-ipython"),
        new("matplotlib_inline", "python3-matplotlib-inline"),
        new("numpy", "python3-numpy"),
        new("pandas", "python3-pandas"),
        new("matplotlib", "python3-matplotlib"),
        new("scipy", "python3-scipy"),
        new("seaborn", "python3-seaborn"),
        new("sympy", "python3-sympy"),
        new("sklearn", "python3-sklearn"),
        new("statsmodels", "python3-statsmodels"),
        new("openpyxl", "python3-openpyxl"),
        new("xlrd", "python3-xlrd"),
        new("PIL", "python3-pil"),
        new("tabulate", "python3-tabulate"),
        new("bs4", "python3-bs4"),
        new("lxml", "python3-lxml"),
        new("networkx", "python3-networkx"),
    ];

    /// <summary>The oldest bubblewrap with <c>--disable-userns</c>, which the sandbox recipe uses.</summary>
    public static Version MinimumBubblewrap { get; } = new(0, 8, 0);
}
