using Microsoft.AspNetCore.Diagnostics;
using Vivarium.Engine;

namespace Vivarium.Server.Errors;

/// <summary>
/// Turns exceptions that escape an endpoint into problem+json: engine refusals keep their
/// code; malformed bodies become invalid_request; oversized ones payload_too_large; anything
/// else is a 500 without internals (they go to the log, never to the client).
/// </summary>
internal sealed partial class ProblemExceptionHandler(ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        IResult result = exception switch
        {
            VivariumException v => ProblemCatalog.Problem(v),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                ProblemCatalog.Problem(ErrorCodes.PayloadTooLarge, "the request body is over the size limit"),
            BadHttpRequestException bad => ProblemCatalog.Problem(ErrorCodes.InvalidRequest, Describe(bad)),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested => Results.Empty,
            _ => Unexpected(exception),
        };
        if (context.Response.HasStarted)
        {
            return true; // a stream was already under way; nothing sensible can be written
        }
        await result.ExecuteAsync(context);
        return true;
    }

    private Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Unexpected(Exception exception)
    {
        Log.Unhandled(logger, exception);
        return TypedResults.Problem(statusCode: 500, title: "Internal error", detail: "the server failed; the error was logged");
    }

    private static string Describe(BadHttpRequestException bad) =>
        bad.InnerException is System.Text.Json.JsonException json
            ? $"the body is not valid JSON for this request: {json.Message}"
            : bad.Message;

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Error, Message = "Unhandled error")]
        public static partial void Unhandled(ILogger logger, Exception exception);
    }
}
