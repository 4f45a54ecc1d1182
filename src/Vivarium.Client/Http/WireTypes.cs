namespace Vivarium.Client.Http;

// Request bodies and response envelopes as the wire has them. Internal: callers see the
// unwrapped values (a missing list as empty) and TimeSpan-typed options.

internal sealed record CreateSessionRequest(
    int? IdleTimeoutSeconds,
    IReadOnlyDictionary<string, string>? Env,
    SessionLimits? Limits,
    IReadOnlyDictionary<string, string>? Metadata);

internal sealed record ExecuteRequest(string Code, int? TimeoutSeconds);

internal sealed record ExecuteOnceRequest(string Code, int? TimeoutSeconds, IReadOnlyList<InputFile>? Files);

internal sealed record SessionList(IReadOnlyList<Session>? Sessions);

internal sealed record InterruptResult(bool Interrupted);

internal sealed record WorkspaceFileList(IReadOnlyList<WorkspaceFile>? Files);

internal sealed record UploadedFileList(IReadOnlyList<UploadedFile>? Files);

/// <summary>An RFC 9457 problem as the contract fills it (<c>code</c> is our extension member).</summary>
internal sealed record ProblemBody(string? Type, string? Title, int? Status, string? Detail, string? Code);

/// <summary>The data of a <c>clear_output</c> event.</summary>
internal sealed record ClearOutputData(bool Wait);

/// <summary>Whole seconds for the wire's <c>*_seconds</c> fields.</summary>
internal static class WireSeconds
{
    /// <summary>
    /// Rounds up, so a caller never gets less time than asked; out-of-range values (zero,
    /// negative) are sent as they are for the server to refuse with its own message.
    /// </summary>
    public static int? From(TimeSpan? value, string paramName)
    {
        if (value is not { } span)
        {
            return null;
        }
        var seconds = Math.Ceiling(span.TotalSeconds);
        if (seconds is > int.MaxValue or < int.MinValue)
        {
            throw new ArgumentOutOfRangeException(paramName, value, "too long to send as whole seconds");
        }
        return (int)seconds;
    }
}
