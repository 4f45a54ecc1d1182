namespace Vivarium.Client;

/// <summary>The stable <c>code</c> values of the API's problem+json errors (docs/api.md, Errors).</summary>
public static class ApiErrorCodes
{
    /// <summary>401: missing or unknown API key.</summary>
    public const string Unauthorized = "unauthorized";
    /// <summary>400: malformed JSON, wrong types, values out of range.</summary>
    public const string InvalidRequest = "invalid_request";
    /// <summary>400: a path that is empty, has a NUL byte, or leaves the workspace.</summary>
    public const string InvalidPath = "invalid_path";
    /// <summary>404: unknown or ended session, or another tenant's.</summary>
    public const string SessionNotFound = "session_not_found";
    /// <summary>404: no such file in the workspace.</summary>
    public const string FileNotFound = "file_not_found";
    /// <summary>409: the session is running another execution.</summary>
    public const string SessionBusy = "session_busy";
    /// <summary>413: body, file or code over its limit.</summary>
    public const string PayloadTooLarge = "payload_too_large";
    /// <summary>429: the tenant (or the server) holds as many sessions as allowed.</summary>
    public const string SessionLimitReached = "session_limit_reached";
    /// <summary>429: too many executions per minute for the tenant.</summary>
    public const string RateLimited = "rate_limited";
    /// <summary>503: no sandbox could be started.</summary>
    public const string SandboxUnavailable = "sandbox_unavailable";
}
