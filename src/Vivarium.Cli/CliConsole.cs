namespace Vivarium.Cli;

/// <summary>
/// The terminal a command talks to. The real one in production; strings in tests, so the
/// commands run in-process with their output captured.
/// </summary>
/// <param name="In">Where the REPL reads lines from.</param>
/// <param name="Out">The program's own output: what the Python code printed, results.</param>
/// <param name="Error">Diagnostics and notes (files saved, errors), kept off stdout so it can be piped.</param>
/// <param name="IsInteractive">True when a person types at a terminal: the REPL shows prompts.</param>
/// <param name="OwnsCtrlC">True when Ctrl+C (SIGINT) of this process is for these commands to handle.</param>
internal sealed record CliConsole(TextReader In, TextWriter Out, TextWriter Error, bool IsInteractive, bool OwnsCtrlC)
{
    /// <summary>The process's standard streams.</summary>
    public static CliConsole System => new(Console.In, Console.Out, Console.Error, !Console.IsInputRedirected, OwnsCtrlC: true);
}
