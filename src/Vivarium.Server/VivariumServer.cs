using Vivarium.Engine;

namespace Vivarium.Server;

/// <summary>
/// Builds the whole server. <c>Program.cs</c>, the CLI's <c>serve</c> and the tests all start
/// it through here, so they run the same thing.
/// </summary>
public static class VivariumServer
{
    /// <summary>The address used when none is configured: loopback only, secure by default.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>Builds the application from command-line arguments (ASP.NET style: <c>--urls</c>, <c>--Vivarium:Pool:Size=4</c>…).</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configure">Lets a caller (a test) adjust the builder before it is built.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }
        builder.Services.AddVivariumEngine();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" }));
        return app;
    }
}
