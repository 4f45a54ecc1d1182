namespace Vivarium.Cli.Local;

/// <summary>
/// Keeps the terminal's Ctrl+C away from the sandboxes of <c>run</c> and <c>repl</c>.
/// </summary>
/// <remarks>
/// A terminal sends SIGINT to its whole foreground process group, and the sandboxes' outer
/// bubblewrap processes are children of the CLI, in its group: without this, Ctrl+C killed
/// them (the state was lost) instead of interrupting the code. The wrapper stands in for
/// setpriv in the sandbox's start chain and moves the chain into a session of its own first,
/// with <c>setsid</c>, which execs in place (the chain is never a group leader), so the process
/// the engine holds is still the sandbox's root. Ctrl+C then reaches only the CLI, which turns
/// it into an interrupt (KeyboardInterrupt, state kept).
/// </remarks>
internal static class NewSessionWrapper
{
    private const string Setsid = "/usr/bin/setsid";

    /// <summary>
    /// Writes the wrapper into <paramref name="stateDirectory"/> and returns its path, or
    /// <paramref name="setpriv"/> itself when setsid is missing (then Ctrl+C ends the sandbox).
    /// </summary>
    public static string Create(string stateDirectory, string setpriv)
    {
        if (!File.Exists(Setsid))
        {
            return setpriv;
        }
        var path = Path.Combine(stateDirectory, "setpriv-in-new-session");
        File.WriteAllText(path, $"#!/bin/sh\nexec {Setsid} {Quote(setpriv)} \"$@\"\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        return path;
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
