namespace Vivarium.Engine;

/// <summary>
/// Stable error codes. Clients match on these strings, so they never change meaning; the HTTP
/// status each maps to lives with the server.
/// </summary>
public static class ErrorCodes
{
    /// <summary>No valid API key.</summary>
    public const string Unauthorized = "unauthorized";
    /// <summary>No such session for this tenant (also: another tenant's session).</summary>
    public const string SessionNotFound = "session_not_found";
    /// <summary>The session is running another execution.</summary>
    public const string SessionBusy = "session_busy";
    /// <summary>The tenant or the host has as many sessions as allowed.</summary>
    public const string SessionLimitReached = "session_limit_reached";
    /// <summary>Too many requests; try again later.</summary>
    public const string RateLimited = "rate_limited";
    /// <summary>A body, file or code over its size limit.</summary>
    public const string PayloadTooLarge = "payload_too_large";
    /// <summary>The request is malformed or a value is out of range.</summary>
    public const string InvalidRequest = "invalid_request";
    /// <summary>A path that is empty, has NUL bytes or leaves the workspace.</summary>
    public const string InvalidPath = "invalid_path";
    /// <summary>No such file in the workspace.</summary>
    public const string FileNotFound = "file_not_found";
    /// <summary>No sandbox could be started (host at capacity or broken).</summary>
    public const string SandboxUnavailable = "sandbox_unavailable";
}

/// <summary>A request the engine refuses, with a stable <see cref="Code"/> and a message a person (or a model) can act on.</summary>
public sealed class VivariumException(string code, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>One of <see cref="ErrorCodes"/>.</summary>
    public string Code { get; } = code;
}
