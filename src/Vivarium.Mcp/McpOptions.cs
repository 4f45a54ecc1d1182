using System.ComponentModel.DataAnnotations;

namespace Vivarium.Mcp;

/// <summary>The MCP surface (configuration section <c>Vivarium:Mcp</c>).</summary>
public sealed class McpOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Mcp";

    /// <summary>
    /// Host names (without port) that HTTP requests to the MCP endpoint may name in <c>Host</c>
    /// and <c>Origin</c>, separated by <c>;</c> or <c>,</c>, besides the loopback names
    /// (<c>localhost</c>, <c>127.0.0.1</c>, <c>[::1]</c>), which are always allowed. A browser page
    /// on another site that rebinds its DNS name to this machine sends its own name, so it is
    /// refused. <c>*</c> turns the check off (only behind a proxy that checks hosts itself).
    /// </summary>
    public string AllowedHosts { get; set; } = "";

    /// <summary>
    /// An MCP session over HTTP with no request for this long is ended, and with it its Python
    /// session, so an abandoned client does not hold a sandbox.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>
    /// Also serve clients of the 2026-07-28 protocol revision, which has no HTTP sessions, one
    /// request at a time: each result names the Python session it started, and the client keeps
    /// its state by passing that <c>session_id</c> (the session ends after its idle timeout). Off
    /// by default: such requests are refused with UnsupportedProtocolVersion, so a client that
    /// speaks both revisions (the .NET SDK 2.4 client prefers 2026-07-28) falls back to the
    /// initialize handshake and gets a session whose state persists by itself. Turn it on for
    /// clients that speak only 2026-07-28; dual-path clients then become sessionless too.
    /// </summary>
    public bool ServeSessionlessClients { get; set; }

    /// <summary>
    /// Largest file <c>upload_file</c> accepts and <c>read_file</c> or a resource read returns.
    /// Files travel base64-encoded inside JSON-RPC messages, so this is kept well below the
    /// engine's own file limit.
    /// </summary>
    [Range(1, 256L * 1024 * 1024)]
    public long MaxFileBytes { get; set; } = 10L * 1024 * 1024;

    /// <summary>While code runs, how often a progress notification is sent when nothing was printed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(1);
}
