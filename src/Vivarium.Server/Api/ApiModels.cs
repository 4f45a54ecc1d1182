using System.Text.Json;
using Vivarium.Engine.Files;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox;

namespace Vivarium.Server.Api;

/// <summary>Body of <c>POST /v1/sessions</c>; every field optional.</summary>
public sealed record CreateSessionBody(
    double? IdleTimeoutSeconds,
    Dictionary<string, string>? Env,
    LimitsBody? Limits,
    Dictionary<string, string>? Metadata);

/// <summary>Resource limits a client asks for (it can only lower the server's).</summary>
public sealed record LimitsBody(long? MemoryBytes, int? MaxProcesses, double? CpuCores);

/// <summary>Body of an execute request.</summary>
public sealed record ExecuteBody(string? Code, double? TimeoutSeconds);

/// <summary>Body of the one-shot <c>POST /v1/execute</c>.</summary>
public sealed record OneShotBody(string? Code, double? TimeoutSeconds, List<InputFileBody>? Files);

/// <summary>A file sent inline, base64.</summary>
public sealed record InputFileBody(string? Path, string? ContentBase64);

/// <summary>A session as the API shows it.</summary>
public sealed record SessionView(
    string Id,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastActivityAt,
    DateTimeOffset ExpiresAt,
    double IdleTimeoutSeconds,
    int ExecutionCount,
    LimitsBody Limits,
    IReadOnlyDictionary<string, string> Metadata,
    string? PythonVersion)
{
    /// <summary>Projects an engine session.</summary>
    public static SessionView From(Session s) => new(
        s.Id,
        s.Status == SessionStatus.Busy ? "busy" : "ready",
        s.CreatedAt,
        s.LastActivityAt,
        s.ExpiresAt,
        s.Settings.IdleTimeout.TotalSeconds,
        s.ExecutionCount,
        new LimitsBody(s.Settings.Limits.MemoryBytes, s.Settings.Limits.MaxProcesses, s.Settings.Limits.CpuCores),
        s.Settings.Metadata,
        s.Interpreter?.Python);
}

/// <summary>The list of sessions.</summary>
public sealed record SessionList(IReadOnlyList<SessionView> Sessions);

/// <summary>The answer to an interrupt.</summary>
public sealed record InterruptView(bool Interrupted);

/// <summary>A file written.</summary>
public sealed record FileWritten(string Path, long Size);

/// <summary>Files written by a multipart upload.</summary>
public sealed record FilesWritten(IReadOnlyList<FileWritten> Files);

/// <summary>A workspace listing.</summary>
public sealed record FileList(IReadOnlyList<FileEntryView> Files);

/// <summary>One file in a listing.</summary>
public sealed record FileEntryView(string Path, long Size, DateTimeOffset? ModifiedAt)
{
    /// <summary>Projects an engine file.</summary>
    public static FileEntryView From(WorkspaceFile f) => new(f.Path, f.Size, f.ModifiedAt);
}

/// <summary>The answer to one-shot execution.</summary>
public sealed record OneShotResult(Engine.Executions.Execution Execution, IReadOnlyList<OutputFileView> Files);

/// <summary>A produced file returned inline.</summary>
public sealed record OutputFileView(string Path, long Size, string ContentBase64);

/// <summary>Readiness details.</summary>
public sealed record ReadinessView(string Status, int PoolAvailable, int PoolTarget, int Sessions, string? Reason);

internal static class LimitsBodyExtensions
{
    public static SandboxLimits ToLimits(this LimitsBody? body) =>
        body is null ? new SandboxLimits() : new SandboxLimits { MemoryBytes = body.MemoryBytes, MaxProcesses = body.MaxProcesses, CpuCores = body.CpuCores };
}

/// <summary>Converts seconds from the wire into a TimeSpan, refusing nonsense.</summary>
internal static class Seconds
{
    public static TimeSpan? ToTimeSpan(double? seconds, string name)
    {
        if (seconds is null)
        {
            return null;
        }
        if (double.IsNaN(seconds.Value) || seconds.Value <= 0 || seconds.Value > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            throw new Engine.VivariumException(Engine.ErrorCodes.InvalidRequest, $"{name} must be a positive number of seconds");
        }
        return TimeSpan.FromSeconds(seconds.Value);
    }
}

/// <summary>The JSON settings of the whole API: snake_case, nulls written (clients see every field).</summary>
public static class ApiJson
{
    /// <summary>Applies the API's conventions to serializer options.</summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null; // MIME types and env names are data, not member names
        options.AllowOutOfOrderMetadataProperties = true;
    }

    /// <summary>The options used for SSE payloads and anything serialised by hand.</summary>
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Configure(options);
        return options;
    }
}
