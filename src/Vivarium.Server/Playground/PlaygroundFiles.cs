using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace Vivarium.Server.Playground;

/// <summary>
/// Where the web playground's static files come from and which headers they carry. The page needs
/// no API key to load; everything it does afterwards goes through the authenticated /v1 routes.
/// </summary>
internal static class PlaygroundFiles
{
    /// <summary>
    /// The policy for the page. Every text/html result is untrusted and is shown in a sandboxed
    /// srcdoc iframe, which inherits this policy: so even there no script runs, and no image,
    /// font or stylesheet is fetched from anywhere but this server (no tracking pixels).
    /// 'unsafe-inline' styles are allowed because pandas tables carry inline styles.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
        "frame-src 'self' data: about:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
        "form-action 'none'; frame-ancestors 'none'";

    /// <summary>
    /// The files ship next to the assembly (copied to the build and publish output), not under
    /// the content root: the server is started from any working directory (the CLI, a tool,
    /// tests), and the content root is the working directory.
    /// </summary>
    private static readonly IFileProvider Files = CreateProvider();

    /// <summary>Maps <c>/</c> to <c>/index.html</c>.</summary>
    public static DefaultFilesOptions DefaultFilesOptions => new() { FileProvider = Files };

    /// <summary>Serves the files with the page's security headers.</summary>
    public static StaticFileOptions StaticFileOptions => new()
    {
        FileProvider = Files,
        OnPrepareResponse = context =>
        {
            var headers = context.Context.Response.Headers;
            // The modules must stay in step with each other after an upgrade; revalidating with
            // the ETag costs one round trip to this server.
            headers.CacheControl = "no-cache";
            headers.XContentTypeOptions = "nosniff";
            if (context.File.Name.EndsWith(".html", StringComparison.OrdinalIgnoreCase))
            {
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers["Referrer-Policy"] = "no-referrer";
            }
        },
    };

    private static IFileProvider CreateProvider()
    {
        var root = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        return Directory.Exists(root) ? new PhysicalFileProvider(root) : new NullFileProvider();
    }
}
