using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Vivarium.Client.AI;

/// <summary>
/// <c>execute_python</c> as a Microsoft.Extensions.AI <see cref="AIFunction"/>: give it to any
/// <see cref="IChatClient"/> with function invocation (<c>ChatOptions.Tools</c> and
/// <c>UseFunctionInvocation()</c>) and the model can run Python through Vivarium. The session is
/// created on the first call and kept, so variables and files persist between the model's calls;
/// dispose the function to end it. The result is the execution's summary (written for a model)
/// as <see cref="TextContent"/>, followed by each chart as <see cref="DataContent"/> (<c>image/png</c>).
/// </summary>
/// <remarks>
/// Problems the model can act on (a Python error, a timeout, a busy session, code over the size
/// limit) come back as text it reads, not as exceptions; a wrong API key or an unreachable server
/// is the application's problem and is thrown.
/// </remarks>
public sealed class VivariumPythonFunction : AIFunction, IAsyncDisposable
{
    private static readonly JsonElement Schema = JsonDocument.Parse("""
        {
          "type": "object",
          "properties": {
            "code": {"type": "string", "description": "The Python code to run, as in a notebook cell; the value of a last expression is shown."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "Interrupt the code after this many seconds (the server's default when left out)."}
          },
          "required": ["code"],
          "additionalProperties": false
        }
        """).RootElement.Clone();

    private readonly VivariumClient _client;
    private readonly CreateSessionOptions? _sessionOptions;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _sessionId;

    /// <summary>A function that runs code through <paramref name="client"/>.</summary>
    /// <param name="client">The client; it stays the caller's to dispose.</param>
    /// <param name="sessionOptions">How to create the session (idle timeout, environment, lower limits); null for the server's defaults.</param>
    public VivariumPythonFunction(VivariumClient client, CreateSessionOptions? sessionOptions = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _sessionOptions = sessionOptions;
    }

    /// <inheritdoc />
    public override string Name => "execute_python";

    /// <inheritdoc />
    public override string Description =>
        "Run Python 3 code in a sandboxed, stateful session (like a Jupyter notebook) and get back what it printed, the value of the last " +
        "expression, any error with the traceback of your own code, and every matplotlib chart as a PNG image. Variables, imports and files " +
        "persist between calls. Installed: numpy, pandas, matplotlib, scipy, seaborn, sympy, scikit-learn, statsmodels, networkx, openpyxl, " +
        "Pillow and the standard library; there is no internet access, so nothing else can be installed. The working directory is /home/user.";

    /// <inheritdoc />
    public override JsonElement JsonSchema => Schema;

    /// <summary>The session the calls run in, once the first call created it; null before.</summary>
    public string? SessionId => _sessionId;

    /// <inheritdoc />
    protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (!TryRead(arguments, out var code, out var timeout, out var problem))
        {
            return new List<AIContent> { new TextContent(problem) };
        }
        // One call at a time: the session runs one execution at a time, and a model that calls
        // in parallel should wait its turn rather than be told the session is busy.
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var note = "";
            var sessionId = _sessionId ??= (await _client.CreateSessionAsync(_sessionOptions, cancellationToken)).Id;
            Execution execution;
            try
            {
                execution = await _client.ExecuteAsync(sessionId, code, timeout, cancellationToken);
            }
            catch (SessionNotFoundException)
            {
                // The server ended it (idle timeout): carry on in a new one, and say what was lost.
                sessionId = _sessionId = (await _client.CreateSessionAsync(_sessionOptions, cancellationToken)).Id;
                note = "Note: the earlier Python session had ended (unused for too long), so this ran in a fresh one: earlier variables and files are gone.\n\n";
                execution = await _client.ExecuteAsync(sessionId, code, timeout, cancellationToken);
            }
            return ToContents(execution, note);
        }
        catch (VivariumApiException e) when (e is not UnauthorizedException)
        {
            return new List<AIContent> { new TextContent($"Vivarium refused the call ({e.Code}): {e.Message}") };
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>What the model receives for an execution: its summary as text, then each chart as a PNG.</summary>
    /// <param name="execution">The execution.</param>
    /// <param name="note">Text put before the summary; empty for none.</param>
    public static IList<AIContent> ToContents(Execution execution, string note = "")
    {
        ArgumentNullException.ThrowIfNull(execution);
        var contents = new List<AIContent> { new TextContent(note + execution.Summary) };
        foreach (var png in execution.Images)
        {
            contents.Add(new DataContent(png, MimeBundle.ImagePng));
        }
        return contents;
    }

    /// <summary>Ends the session, if one was created.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _sessionId, null) is { } sessionId)
        {
            try
            {
                await _client.DeleteSessionAsync(sessionId);
            }
            catch (SessionNotFoundException)
            {
                // Already ended on the server.
            }
        }
        _gate.Dispose();
    }

    private static bool TryRead(AIFunctionArguments arguments, out string code, out TimeSpan? timeout, out string problem)
    {
        code = "";
        timeout = null;
        problem = "";
        switch (arguments.TryGetValue("code", out var rawCode) ? rawCode : null)
        {
            case string text:
                code = text;
                break;
            case JsonElement { ValueKind: JsonValueKind.String } element:
                code = element.GetString()!;
                break;
            case null:
                problem = "execute_python: 'code' is required (the Python source to run)";
                return false;
            default:
                problem = "execute_python: 'code' must be a string";
                return false;
        }
        var rawTimeout = arguments.TryGetValue("timeout_seconds", out var value) ? value : null;
        double? seconds = rawTimeout switch
        {
            null => null,
            JsonElement { ValueKind: JsonValueKind.Null } => null,
            JsonElement { ValueKind: JsonValueKind.Number } element => element.GetDouble(),
            JsonElement { ValueKind: JsonValueKind.String } element when double.TryParse(element.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            string text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            IConvertible number and not string => number.ToDouble(CultureInfo.InvariantCulture),
            _ => double.NaN,
        };
        if (seconds is { } s)
        {
            if (double.IsNaN(s) || s <= 0 || s > TimeSpan.MaxValue.TotalSeconds / 2)
            {
                problem = "execute_python: 'timeout_seconds' must be a positive number of seconds";
                return false;
            }
            timeout = TimeSpan.FromSeconds(s);
        }
        return true;
    }
}
