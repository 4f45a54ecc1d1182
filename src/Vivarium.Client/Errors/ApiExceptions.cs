namespace Vivarium.Client;

// One type per stable error code (docs/api.md, Errors), so callers catch what they can handle.

/// <summary><c>unauthorized</c> — 401: the API key is missing or unknown. Also raised for a bare 401 without a problem body, as an authentication layer in front of the API may send.</summary>
public sealed class UnauthorizedException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public UnauthorizedException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>invalid_request</c> — 400: the request was malformed, had wrong types, or a value out of range (e.g. a timeout above the server's maximum).</summary>
public sealed class InvalidRequestException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public InvalidRequestException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>invalid_path</c> — 400: a workspace path is empty, has a NUL byte, or leaves the workspace.</summary>
public sealed class InvalidPathException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public InvalidPathException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>session_not_found</c> — 404: the session does not exist, has ended (idle timeout, deleted), or belongs to another tenant.</summary>
public sealed class SessionNotFoundException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public SessionNotFoundException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>file_not_found</c> — 404: the session exists but its workspace has no such file.</summary>
public sealed class FileNotFoundInSessionException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public FileNotFoundInSessionException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>session_busy</c> — 409: the session is running another execution; wait for it, or interrupt it.</summary>
public sealed class SessionBusyException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public SessionBusyException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>payload_too_large</c> — 413: the body, a file or the code is over its limit. Also raised for a bare 413, as the web server sends when a body exceeds its own limit.</summary>
public sealed class PayloadTooLargeException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public PayloadTooLargeException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>session_limit_reached</c> — 429: the tenant (or the server) holds as many sessions as allowed; delete one first.</summary>
public sealed class SessionLimitReachedException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public SessionLimitReachedException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>rate_limited</c> — 429: too many executions per minute for the tenant; wait <see cref="VivariumApiException.RetryAfter"/> before trying again.</summary>
public sealed class RateLimitedException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public RateLimitedException(ApiProblem problem)
        : base(problem)
    {
    }
}

/// <summary><c>sandbox_unavailable</c> — 503: no sandbox could be started (the host is at capacity or broken); worth retrying later.</summary>
public sealed class SandboxUnavailableException : VivariumApiException
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public SandboxUnavailableException(ApiProblem problem)
        : base(problem)
    {
    }
}
