using Microsoft.AspNetCore.Http;
using Vivarium.Mcp.Http;

namespace Vivarium.Mcp.Tests;

public sealed class HostFilterTests
{
    private static string? Refusal(string allowed, string? host, string? origin = null)
    {
        var context = new DefaultHttpContext();
        if (host is not null)
        {
            context.Request.Host = HostString.FromUriComponent(host);
        }
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }
        return new HostFilter(new McpOptions { AllowedHosts = allowed }).Refusal(context.Request);
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("[::1]:9000")]
    [InlineData("LOCALHOST")]
    public void Loopback_hosts_are_allowed_on_any_port(string host) => Assert.Null(Refusal("", host));

    [Fact]
    public void Other_hosts_and_origins_are_refused_unless_configured()
    {
        Assert.Contains("evil.example.com", Refusal("", "evil.example.com"));
        Assert.Contains("Origin", Refusal("", "127.0.0.1:80", "http://evil.example.com"));
        Assert.Contains("Origin", Refusal("", "127.0.0.1:80", "null"));
        Assert.Null(Refusal("", "127.0.0.1:80", "http://localhost:3000"));
        Assert.Null(Refusal("vivarium.internal; tools.example.org", "vivarium.internal:8080", "https://tools.example.org"));
        Assert.NotNull(Refusal("", null));
        Assert.Null(Refusal("*", "anything.example"));
    }
}
