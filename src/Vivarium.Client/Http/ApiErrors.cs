using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Vivarium.Client.Http;

/// <summary>Turns a failed response into the typed exception for its problem code.</summary>
internal static class ApiErrors
{
    // An error body is read for its message only; a proxy's huge HTML page must not be buffered whole.
    private const int MaxBodyBytes = 64 * 1024;
    private const int MaxDetailChars = 1000;

    public static async Task<VivariumApiException> ReadAsync(HttpResponseMessage response, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var body = await ReadPrefixAsync(response.Content, cancellationToken);
        var retryAfter = RetryAfter(response.Headers.RetryAfter, now);
        var problem = IsJson(response.Content.Headers.ContentType) ? TryParse(body) : null;
        return Create(problem is null
            ? new ApiProblem(response.StatusCode, Code: null, response.ReasonPhrase, Excerpt(body), Type: null, retryAfter)
            : new ApiProblem(response.StatusCode, problem.Code, problem.Title ?? response.ReasonPhrase, problem.Detail, problem.Type, retryAfter));
    }

    /// <summary>The exception type for the problem's code.</summary>
    public static VivariumApiException Create(ApiProblem problem) => (problem.Code ?? CodeOfBareStatus(problem.Status)) switch
    {
        ApiErrorCodes.Unauthorized => new UnauthorizedException(problem),
        ApiErrorCodes.InvalidRequest => new InvalidRequestException(problem),
        ApiErrorCodes.InvalidPath => new InvalidPathException(problem),
        ApiErrorCodes.SessionNotFound => new SessionNotFoundException(problem),
        ApiErrorCodes.FileNotFound => new FileNotFoundInSessionException(problem),
        ApiErrorCodes.SessionBusy => new SessionBusyException(problem),
        ApiErrorCodes.PayloadTooLarge => new PayloadTooLargeException(problem),
        ApiErrorCodes.SessionLimitReached => new SessionLimitReachedException(problem),
        ApiErrorCodes.RateLimited => new RateLimitedException(problem),
        ApiErrorCodes.SandboxUnavailable => new SandboxUnavailableException(problem),
        _ => new VivariumApiException(problem),
    };

    /// <summary>
    /// A body without a code still gets a typed exception for the two statuses that layers in front
    /// of the API answer bare: an authentication handler's 401 and the web server's 413 for a body
    /// over its limit. Other statuses are ambiguous (404 is a session or a file; 429 a limit or a
    /// rate) or likely a proxy's (503), so they stay <see cref="VivariumApiException"/>.
    /// </summary>
    private static string? CodeOfBareStatus(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Unauthorized => ApiErrorCodes.Unauthorized,
        HttpStatusCode.RequestEntityTooLarge => ApiErrorCodes.PayloadTooLarge,
        _ => null,
    };

    /// <summary><c>Retry-After</c> as a delay: seconds as given, or an HTTP date counted from <paramref name="now"/> (never negative).</summary>
    public static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset now) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
        _ => null,
    };

    private static bool IsJson(MediaTypeHeaderValue? contentType) =>
        contentType?.MediaType is { } mediaType
        && (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    private static ProblemBody? TryParse(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, WireJsonContext.Default.ProblemBody);
        }
        catch (JsonException)
        {
            // A JSON content type with a body that is not a problem object: report it as text.
            return null;
        }
    }

    private static string? Excerpt(string body)
    {
        var text = body.Trim();
        return text.Length switch
        {
            0 => null,
            > MaxDetailChars => text[..MaxDetailChars] + "…",
            _ => text,
        };
    }

    private static async Task<string> ReadPrefixAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxBodyBytes];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }
        return Encoding.UTF8.GetString(buffer, 0, length);
    }
}
