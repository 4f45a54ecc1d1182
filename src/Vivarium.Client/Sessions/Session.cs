using System.Collections.ObjectModel;
using System.Text.Json.Serialization;

namespace Vivarium.Client;

/// <summary>A session: one sandboxed interpreter with its workspace, kept between executions.</summary>
public sealed record Session
{
    // Missing members arrive as null (the JSON source generator sets every init property), so
    // the setters turn null into empty: the caller never sees a null collection.
    private readonly SessionLimits _limits = new();
    private readonly IReadOnlyDictionary<string, string> _metadata = ReadOnlyDictionary<string, string>.Empty;

    /// <summary>The session's id, <c>ses_…</c>.</summary>
    public required string Id { get; init; }

    /// <summary>Whether it is idle or running an execution.</summary>
    public SessionStatus Status { get; init; }

    /// <summary>When it was created (UTC).</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it last did something (UTC); the idle timeout counts from here.</summary>
    public DateTimeOffset LastActivityAt { get; init; }

    /// <summary>When the server will end it if nothing happens before (UTC).</summary>
    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Seconds of inactivity after which the server ends it.</summary>
    public int IdleTimeoutSeconds { get; init; }

    /// <summary><see cref="IdleTimeoutSeconds"/> as a <see cref="TimeSpan"/>.</summary>
    [JsonIgnore]
    public TimeSpan IdleTimeout => TimeSpan.FromSeconds(IdleTimeoutSeconds);

    /// <summary>How many executions it has run.</summary>
    public int ExecutionCount { get; init; }

    /// <summary>Its resource limits; null members mean the server's default.</summary>
    public SessionLimits Limits { get => _limits; init => _limits = value ?? new(); }

    /// <summary>The labels given at creation, returned as given.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get => _metadata; init => _metadata = value ?? ReadOnlyDictionary<string, string>.Empty; }

    /// <summary>The interpreter's Python version, e.g. <c>3.11.2</c>.</summary>
    public string? PythonVersion { get; init; }
}

/// <summary>
/// A session's resource limits. Null means the server's default; a client can only lower a limit,
/// so a value above the default is refused with <see cref="InvalidRequestException"/>.
/// </summary>
public sealed record SessionLimits
{
    /// <summary>Memory the sandbox may use, in bytes.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>How many processes (and threads) the sandbox may hold at once.</summary>
    public int? MaxProcesses { get; init; }

    /// <summary>CPU time as a number of cores, e.g. 0.5.</summary>
    public double? CpuCores { get; init; }
}

/// <summary>What to ask for when creating a session (<c>POST /v1/sessions</c>); everything is optional.</summary>
public sealed record CreateSessionOptions
{
    /// <summary>End the session after this long without activity; null for the server's default. Sent in whole seconds, rounded up.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Environment variables for the interpreter.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    /// <summary>Limits lower than the server's defaults.</summary>
    public SessionLimits? Limits { get; init; }

    /// <summary>Free-form labels, returned as given in <see cref="Session.Metadata"/>.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
