using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Time.Testing;
using Vivarium.Client.Tests.Fakes;

namespace Vivarium.Client.Tests.Errors;

public class ProblemMappingTests
{
    private static async Task<VivariumApiException> Fail(HttpResponseMessage response, FakeTimeProvider? time = null)
    {
        var handler = new FakeHttpHandler(response);
        var client = time is null ? TestClient.Create(handler) : TestClient.Create(handler, time);
        return await Assert.ThrowsAnyAsync<VivariumApiException>(() => client.GetSessionAsync("ses_1"));
    }

    [Theory]
    [InlineData("unauthorized", HttpStatusCode.Unauthorized, typeof(UnauthorizedException))]
    [InlineData("invalid_request", HttpStatusCode.BadRequest, typeof(InvalidRequestException))]
    [InlineData("invalid_path", HttpStatusCode.BadRequest, typeof(InvalidPathException))]
    [InlineData("session_not_found", HttpStatusCode.NotFound, typeof(SessionNotFoundException))]
    [InlineData("file_not_found", HttpStatusCode.NotFound, typeof(FileNotFoundInSessionException))]
    [InlineData("session_busy", HttpStatusCode.Conflict, typeof(SessionBusyException))]
    [InlineData("payload_too_large", HttpStatusCode.RequestEntityTooLarge, typeof(PayloadTooLargeException))]
    [InlineData("session_limit_reached", HttpStatusCode.TooManyRequests, typeof(SessionLimitReachedException))]
    [InlineData("rate_limited", HttpStatusCode.TooManyRequests, typeof(RateLimitedException))]
    [InlineData("sandbox_unavailable", HttpStatusCode.ServiceUnavailable, typeof(SandboxUnavailableException))]
    public async Task Problem_StableCode_ThrowsItsType(string code, HttpStatusCode status, Type expected)
    {
        var e = await Fail(Responses.Problem(status, code, "A title", "What happened"));

        Assert.IsType(expected, e);
        Assert.Equal(status, e.Status);
        Assert.Equal(code, e.Code);
        Assert.Equal("A title", e.Title);
        Assert.Equal("What happened", e.Detail);
        Assert.Equal($"https://vivarium.dev/errors/{code}", e.Problem.Type);
        Assert.Equal($"What happened (HTTP {(int)status} {code})", e.Message);
    }

    [Fact]
    public async Task Problem_UnknownCode_ThrowsTheBaseTypeWithTheCode()
    {
        var e = await Fail(Responses.Problem(HttpStatusCode.PaymentRequired, "quota_exceeded"));

        Assert.Equal(typeof(VivariumApiException), e.GetType());
        Assert.Equal("quota_exceeded", e.Code);
        Assert.Equal(HttpStatusCode.PaymentRequired, e.Status);
    }

    [Fact]
    public async Task Problem_BodyStatusDisagrees_TheResponseStatusWins()
    {
        var response = Responses.Text(
            """{"title":"Busy","status":500,"detail":"d","code":"session_busy"}""", "application/problem+json", HttpStatusCode.Conflict);

        var e = await Fail(response);

        Assert.IsType<SessionBusyException>(e);
        Assert.Equal(HttpStatusCode.Conflict, e.Status);
    }

    [Fact]
    public async Task Problem_PlainJsonContentType_IsStillReadAsAProblem()
    {
        var e = await Fail(Responses.Json("""{"code":"session_not_found","detail":"gone"}""", HttpStatusCode.NotFound));

        Assert.IsType<SessionNotFoundException>(e);
        Assert.Equal("gone", e.Detail);
        Assert.Equal("Not Found", e.Title);
    }

    [Fact]
    public async Task RateLimited_RetryAfterSeconds_IsReadAsADelay()
    {
        var response = Responses.Problem(HttpStatusCode.TooManyRequests, "rate_limited");
        response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(17));

        var e = Assert.IsType<RateLimitedException>(await Fail(response));

        Assert.Equal(TimeSpan.FromSeconds(17), e.RetryAfter);
    }

    [Fact]
    public async Task RateLimited_RetryAfterDate_IsCountedFromNow()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var response = Responses.Problem(HttpStatusCode.TooManyRequests, "rate_limited");
        response.Headers.TryAddWithoutValidation("Retry-After", "Wed, 02 Jan 2030 03:05:05 GMT");

        var e = await Fail(response, time);

        Assert.Equal(TimeSpan.FromMinutes(1), e.RetryAfter);
    }

    [Fact]
    public async Task RetryAfter_DateInThePast_IsZero()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var response = Responses.Problem(HttpStatusCode.TooManyRequests, "rate_limited");
        response.Headers.TryAddWithoutValidation("Retry-After", "Tue, 01 Jan 2030 00:00:00 GMT");

        var e = await Fail(response, time);

        Assert.Equal(TimeSpan.Zero, e.RetryAfter);
    }

    [Fact]
    public async Task RetryAfter_Absent_IsNull()
    {
        var e = await Fail(Responses.Problem(HttpStatusCode.TooManyRequests, "rate_limited"));

        Assert.Null(e.RetryAfter);
    }

    [Fact]
    public async Task NonProblemBody_ThrowsTheBaseTypeWithStatusAndText()
    {
        var e = await Fail(Responses.Text("  <html>Bad gateway</html>\n", "text/html", HttpStatusCode.BadGateway));

        Assert.Equal(typeof(VivariumApiException), e.GetType());
        Assert.Equal(HttpStatusCode.BadGateway, e.Status);
        Assert.Null(e.Code);
        Assert.Equal("Bad Gateway", e.Title);
        Assert.Equal("<html>Bad gateway</html>", e.Detail);
        Assert.Equal("<html>Bad gateway</html> (HTTP 502)", e.Message);
    }

    [Fact]
    public async Task NonProblemBody_Empty_HasNoDetail()
    {
        var e = await Fail(new HttpResponseMessage(HttpStatusCode.InternalServerError));

        Assert.Null(e.Detail);
        Assert.Equal("Internal Server Error (HTTP 500)", e.Message);
    }

    [Fact]
    public async Task NonProblemBody_Long_IsCutInTheDetail()
    {
        var e = await Fail(Responses.Text(new string('x', 100_000), "text/plain", HttpStatusCode.BadGateway));

        Assert.Equal(1001, e.Detail!.Length);
        Assert.EndsWith("…", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonContentTypeWithBrokenBody_IsReportedAsText()
    {
        var e = await Fail(Responses.Text("{not json", "application/problem+json", HttpStatusCode.NotFound));

        Assert.Equal(typeof(VivariumApiException), e.GetType());
        Assert.Equal("{not json", e.Detail);
    }

    [Fact]
    public async Task Bare401_IsUnauthorized()
    {
        var response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue("Bearer"));

        var e = await Fail(response);

        Assert.IsType<UnauthorizedException>(e);
        Assert.Null(e.Code);
    }

    [Fact]
    public async Task Bare413_IsPayloadTooLarge()
    {
        var e = await Fail(Responses.Text("Request body too large.", "text/plain", HttpStatusCode.RequestEntityTooLarge));

        Assert.IsType<PayloadTooLargeException>(e);
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    public async Task BareAmbiguousStatus_StaysTheBaseType(HttpStatusCode status)
    {
        var e = await Fail(new HttpResponseMessage(status));

        Assert.Equal(typeof(VivariumApiException), e.GetType());
        Assert.Equal(status, e.Status);
    }

    [Fact]
    public async Task NoContentCalls_AlsoMapProblems()
    {
        var client = TestClient.Create(new FakeHttpHandler(Responses.Problem(HttpStatusCode.NotFound, "file_not_found")));

        await Assert.ThrowsAsync<FileNotFoundInSessionException>(() => client.DeleteFileAsync("ses_1", "a.txt"));
    }
}
