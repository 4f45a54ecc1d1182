using System.Globalization;

namespace Vivarium.Mcp.Tools;

/// <summary>
/// What a model reads before it calls a tool. Written for the model, not for a person browsing
/// an API: what is installed, what is not possible, the limits as configured on this server, how
/// state and files behave, and how results come back, so its first call is already a good one.
/// </summary>
internal static class ToolText
{
    public const string Packages =
        "numpy, pandas, matplotlib, scipy, seaborn, sympy, scikit-learn (sklearn), statsmodels, networkx, " +
        "openpyxl and xlrd (Excel), Pillow (PIL), tabulate, beautifulsoup4 (bs4), lxml, and the standard library (sqlite3, csv, json…)";

    /// <summary>The server's instructions, sent at initialize: the whole picture in a few lines.</summary>
    public static string Instructions(SandboxFacts facts) =>
        "Vivarium runs Python code in a sandbox and keeps its state between calls, like a Jupyter notebook. " +
        "Use execute_python to compute, analyse data and draw charts (they come back as images). " +
        "Variables, imports and files persist within a session: this connection gets its own session on first use. " +
        "Files live in /home/user, the working directory: upload inputs with upload_file, and read what the code wrote with read_file " +
        "or as resources (vivarium://sessions/{session_id}/files/{path}). " +
        $"Installed: {Packages}. There is no internet access, so pip install and downloads fail. " +
        Limits(facts);

    public static string ExecutePython(SandboxFacts facts) =>
        "Run Python 3 code in a stateful, sandboxed IPython session and get back what it printed, the value of the last expression, " +
        "any error, charts as PNG images, and links to the files it created or changed.\n" +
        "- State persists: variables, functions, imports and files stay from one call to the next in the same session " +
        "(this connection's own session, started on first use, or the one named by session_id). No need to re-import or reload data. " +
        "Calls run one at a time, in order.\n" +
        $"- Installed: {Packages}. Nothing else can be installed: there is no internet access (pip, HTTP requests and downloads fail).\n" +
        "- Files: /home/user is the working directory; read and write files there with relative paths (df.to_csv('out.csv')). " +
        "Created or changed files come back as resource links; read one with read_file. Put input data there with upload_file.\n" +
        "- Charts: every matplotlib/seaborn figure still open when the code ends comes back as a PNG image (plt.show() shows one at once); " +
        "no need to save it to a file unless you want the file. The last expression's value is shown like in a notebook (a DataFrame as a table).\n" +
        $"- Limits: {Limits(facts)}\n" +
        "- Errors: an exception comes back as an error result naming it, with the traceback lines of your own code; fix the code and run it again " +
        "(everything defined before the failing line is kept).";

    public const string UploadFile =
        "Put a file into the session's working directory (/home/user) so Python code can read it, e.g. a CSV to analyse with pandas. " +
        "Give the content either as text (UTF-8) or as content_base64 for binary files (xlsx, images, parquet), not both. " +
        "Folders in the path are created; an existing file is replaced. The path is relative to /home/user (or absolute inside it).";

    public const string ListFiles =
        "List the files in the session's working directory (/home/user), recursively, with their sizes: what was uploaded and what the code wrote.";

    public const string ReadFile =
        "Read a file from the session's working directory (/home/user), e.g. a CSV or report the code wrote. " +
        "A UTF-8 text file comes back as text; any other file (images, xlsx, parquet…) as an embedded binary resource.";

    public const string RestartSession =
        "Restart the Python interpreter of the session: all variables and imports are lost, files in /home/user are kept. " +
        "Use it when the interpreter is in a bad state (a huge object filling the memory, a broken import); it is rarely needed.";

    public const string SessionIdArgument =
        "Optional: the id (ses_…) of another session of yours to use instead of this connection's own. " +
        "Leave it out normally; pass it to reuse state across connections, or when your client has no MCP sessions.";

    private static string Limits(SandboxFacts facts)
    {
        var parts = new List<string>();
        if (facts.MemoryBytes is { } memory)
        {
            parts.Add($"{SandboxFacts.Size(memory)} of memory");
        }
        if (facts.CpuCores is { } cpu)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{cpu:0.##} CPU core{(cpu == 1 ? "" : "s")}"));
        }
        if (facts.DiskBytes is { } disk)
        {
            parts.Add($"{SandboxFacts.Size(disk)} of disk");
        }
        var text = parts.Count > 0 ? $"each session has {string.Join(", ", parts)}; " : "";
        return text +
            $"a call is interrupted after {SandboxFacts.Duration(facts.DefaultTimeout)} unless timeout_seconds asks for more " +
            $"(at most {SandboxFacts.Duration(facts.MaxTimeout)}), keeping the variables defined so far; " +
            "if the memory limit is hit the interpreter restarts (variables lost, files kept); " +
            $"a session unused for {SandboxFacts.Duration(facts.IdleTimeout)} ends and its files are deleted.";
    }
}
