using System.Text;

namespace Vivarium.Cli.Local;

/// <summary>
/// Reads what a person types at the REPL, one cell at a time. A line ending with ':' (a def,
/// a for, an if…) opens a block that a blank line closes; a line starting with ':' is a command.
/// </summary>
internal sealed class ReplInput(CliConsole console)
{
    /// <summary>The prompt before a new cell.</summary>
    public const string Prompt = ">>> ";

    /// <summary>The prompt inside a block.</summary>
    public const string ContinuationPrompt = "... ";

    /// <summary>The next cell's code or command, or null at the end of the input (Ctrl+D).</summary>
    public async Task<string?> ReadCellAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var line = await ReadLineAsync(Prompt, cancellationToken);
            if (line is null)
            {
                return null;
            }
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            if (!OpensBlock(line))
            {
                return line;
            }
            var block = new StringBuilder(line).Append('\n');
            while (await ReadLineAsync(ContinuationPrompt, cancellationToken) is { } next && !string.IsNullOrWhiteSpace(next))
            {
                block.Append(next).Append('\n');
            }
            return block.ToString();
        }
    }

    /// <summary>
    /// True for a line that starts a multi-line block: it ends with ':' or '\\', or it leaves a
    /// bracket open (a rough count that ignores strings: at worst one more blank line is needed).
    /// </summary>
    public static bool OpensBlock(string line)
    {
        var trimmed = line.TrimEnd();
        if (trimmed.StartsWith(':'))
        {
            return false;
        }
        var open = trimmed.Count(c => c is '(' or '[' or '{') - trimmed.Count(c => c is ')' or ']' or '}');
        return trimmed.EndsWith(':') || trimmed.EndsWith('\\') || open > 0;
    }

    private async Task<string?> ReadLineAsync(string prompt, CancellationToken cancellationToken)
    {
        if (console.IsInteractive)
        {
            console.Out.Write(prompt);
            console.Out.Flush();
        }
        return await console.In.ReadLineAsync(cancellationToken);
    }
}
