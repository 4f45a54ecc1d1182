using System.Net;

namespace Vivarium.Client;

/// <summary>
/// The server refused a request. Catch a subclass for a specific error (e.g.
/// <see cref="SessionBusyException"/>), or this for any; an error without a known code (a proxy's
/// HTML page, a newer server's new code) is this type itself, with <see cref="Status"/> set.
/// </summary>
public class VivariumApiException : Exception
{
    /// <summary>Creates the exception from what the server said.</summary>
    /// <param name="problem">The problem.</param>
    public VivariumApiException(ApiProblem problem)
        : base(MessageOf(problem))
    {
        Problem = problem;
    }

    /// <summary>Everything the server said, as one value.</summary>
    public ApiProblem Problem { get; }

    /// <summary>The HTTP status.</summary>
    public HttpStatusCode Status => Problem.Status;

    /// <summary>The stable error code (see <see cref="ApiErrorCodes"/>), or null when the body had none.</summary>
    public string? Code => Problem.Code;

    /// <summary>A short summary of the problem.</summary>
    public string? Title => Problem.Title;

    /// <summary>What went wrong in this case, and often what to do.</summary>
    public string? Detail => Problem.Detail;

    /// <summary>How long to wait before retrying, when the server said (<c>Retry-After</c>).</summary>
    public TimeSpan? RetryAfter => Problem.RetryAfter;

    private static string MessageOf(ApiProblem problem)
    {
        var what = problem.Detail ?? problem.Title ?? "the request failed";
        var code = problem.Code is null ? "" : " " + problem.Code;
        return $"{what} (HTTP {(int)problem.Status}{code})";
    }
}
