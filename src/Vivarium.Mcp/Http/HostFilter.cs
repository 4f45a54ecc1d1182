using Microsoft.AspNetCore.Http;

namespace Vivarium.Mcp.Http;

/// <summary>
/// DNS-rebinding protection for the HTTP transport. A web page on evil.example can make the
/// browser resolve its own name to 127.0.0.1 and talk to a local server; the browser then still
/// sends <c>Host: evil.example</c> and <c>Origin: http://evil.example</c>. Only loopback names and
/// the configured hosts are accepted, in both headers.
/// </summary>
internal sealed class HostFilter
{
    private static readonly string[] Loopback = ["localhost", "127.0.0.1", "[::1]", "::1"];
    private readonly HashSet<string> _allowed = new(Loopback, StringComparer.OrdinalIgnoreCase);
    private readonly bool _anyHost;

    public HostFilter(McpOptions options)
    {
        foreach (var entry in options.AllowedHosts.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (entry == "*")
            {
                _anyHost = true;
            }
            else
            {
                _allowed.Add(entry.TrimEnd('.'));
            }
        }
    }

    /// <summary>Why the request must be refused, or null when its Host and Origin are acceptable.</summary>
    public string? Refusal(HttpRequest request)
    {
        if (_anyHost)
        {
            return null;
        }
        if (!request.Host.HasValue)
        {
            return "the Host header is missing";
        }
        var host = request.Host.Host;
        if (!IsAllowed(host))
        {
            return $"Host '{Printable(host)}' is not allowed (allowed: loopback names and Vivarium:Mcp:AllowedHosts)";
        }
        string? origin = request.Headers.Origin;
        if (!string.IsNullOrEmpty(origin))
        {
            // "null" is what sandboxed frames and file:// pages send: not a host anyone allowed.
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || !IsAllowed(uri.Host))
            {
                return $"Origin '{Printable(origin)}' is not allowed (allowed: loopback names and Vivarium:Mcp:AllowedHosts)";
            }
        }
        return null;
    }

    private bool IsAllowed(string host) => host.Length > 0 && _allowed.Contains(host.TrimEnd('.'));

    private static string Printable(string text) =>
        new(text.Take(100).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
