using System.Net;

namespace Vivarium.Client;

/// <summary>
/// What the server said when a request failed: the problem+json members, the HTTP status and
/// <c>Retry-After</c>. When the body was not problem+json, <see cref="Code"/> is null and
/// <see cref="Detail"/> holds the start of the body.
/// </summary>
/// <param name="Status">The HTTP status of the response (authoritative over the body's <c>status</c>).</param>
/// <param name="Code">The stable error code (see <see cref="ApiErrorCodes"/>), or null when the body had none.</param>
/// <param name="Title">A short, human-readable summary.</param>
/// <param name="Detail">What went wrong in this case, and often what to do.</param>
/// <param name="Type">The problem type URI.</param>
/// <param name="RetryAfter">How long to wait before trying again, from <c>Retry-After</c>.</param>
public sealed record ApiProblem(
    HttpStatusCode Status,
    string? Code,
    string? Title,
    string? Detail,
    string? Type = null,
    TimeSpan? RetryAfter = null);
