using Vivarium.Engine;

namespace Vivarium.Server.Errors;

/// <summary>
/// The one place that maps each stable error code to its HTTP status and title. Endpoints
/// never pick a status themselves: they throw or return a code, and this decides.
/// </summary>
public static class ProblemCatalog
{
    private static readonly Dictionary<string, (int Status, string Title)> Entries = new(StringComparer.Ordinal)
    {
        [ErrorCodes.Unauthorized] = (StatusCodes.Status401Unauthorized, "Unauthorized"),
        [ErrorCodes.InvalidRequest] = (StatusCodes.Status400BadRequest, "Invalid request"),
        [ErrorCodes.InvalidPath] = (StatusCodes.Status400BadRequest, "Invalid path"),
        [ErrorCodes.SessionNotFound] = (StatusCodes.Status404NotFound, "Session not found"),
        [ErrorCodes.FileNotFound] = (StatusCodes.Status404NotFound, "File not found"),
        [ErrorCodes.SessionBusy] = (StatusCodes.Status409Conflict, "Session busy"),
        [ErrorCodes.PayloadTooLarge] = (StatusCodes.Status413PayloadTooLarge, "Payload too large"),
        [ErrorCodes.SessionLimitReached] = (StatusCodes.Status429TooManyRequests, "Session limit reached"),
        [ErrorCodes.RateLimited] = (StatusCodes.Status429TooManyRequests, "Rate limited"),
        [ErrorCodes.SandboxUnavailable] = (StatusCodes.Status503ServiceUnavailable, "Sandbox unavailable"),
    };

    /// <summary>The problem+json result for a code.</summary>
    public static IResult Problem(string code, string detail)
    {
        var (status, title) = Entries.TryGetValue(code, out var entry) ? entry : (StatusCodes.Status500InternalServerError, "Internal error");
        return TypedResults.Problem(
            detail: detail,
            statusCode: status,
            title: title,
            type: $"https://vivarium.dev/errors/{code}",
            extensions: new Dictionary<string, object?> { ["code"] = code });
    }

    /// <summary>The problem+json result for an engine refusal.</summary>
    public static IResult Problem(VivariumException exception) => Problem(exception.Code, exception.Message);

    /// <summary>The status a code maps to (for OpenAPI and tests).</summary>
    public static int StatusOf(string code) => Entries.TryGetValue(code, out var entry) ? entry.Status : 500;
}
