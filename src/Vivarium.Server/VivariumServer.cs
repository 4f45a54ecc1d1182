using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Vivarium.Engine;
using Vivarium.Server.Api;
using Vivarium.Engine.Sessions;
using Vivarium.Mcp;
using Vivarium.Server.Audit;
using Vivarium.Server.Auth;
using Vivarium.Server.Compat;
using Vivarium.Server.Errors;
using Vivarium.Server.Operations;
using Vivarium.Server.Playground;

namespace Vivarium.Server;

/// <summary>
/// Builds the whole server. <c>Program.cs</c>, the CLI's <c>serve</c> and the tests all start
/// it through here, so they run the same thing.
/// </summary>
public static partial class VivariumServer
{
    /// <summary>The address used when none is configured: loopback only, secure by default.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>Builds the application from command-line arguments (ASP.NET style: <c>--urls</c>, <c>--Vivarium:Pool:Size=4</c>…).</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configure">Lets a caller (a test) adjust the builder before it is built.</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }
        // Request-by-request framework logs drown what matters; configuration can turn them back on.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        ConfigureServices(builder);
        configure?.Invoke(builder);

        var app = builder.Build();
        ConfigurePipeline(app);
        return app;
    }

    private static void ConfigureServices(WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        // The audit log first: hosted services stop in reverse order, so it stops after the
        // session reaper, which ends (and so records) the executions still running at shutdown.
        AddAuditLog(builder);
        services.AddVivariumEngine();
        services.AddVivariumMcp();

        var serverOptions = builder.Configuration.GetSection(ServerOptions.SectionName).Get<ServerOptions>() ?? new ServerOptions();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = serverOptions.MaxRequestBodyBytes);
        var shutdownGrace = builder.Configuration.GetSection(Engine.SessionOptions.SectionName).Get<Engine.SessionOptions>()?.ShutdownGrace ?? new Engine.SessionOptions().ShutdownGrace;
        // The host waits a little longer than the sessions' grace, so ending them is never cut short.
        services.Configure<HostOptions>(host => host.ShutdownTimeout = shutdownGrace + TimeSpan.FromSeconds(15));

        services.ConfigureHttpJsonOptions(json => ApiJson.Configure(json.SerializerOptions));
        services.AddProblemDetails();
        // Binding failures (bad JSON, wrong types, wrong content type) reach the exception
        // handler, which answers with our stable codes instead of a bare 400.
        services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        services.AddExceptionHandler<ProblemExceptionHandler>();

        services.AddSingleton<ApiKeyStore>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();

        services.AddSingleton<ExecutionRateLimits>();
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(ExecutionsApi.RatePolicy, http =>
                http.RequestServices.GetRequiredService<ExecutionRateLimits>().Partition(http.Features.Get<Tenant>()));
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(60);
                rejected.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ProblemCatalog.Problem(ErrorCodes.RateLimited, $"too many executions; try again in {retryAfter.TotalSeconds:0} s").ExecuteAsync(rejected.HttpContext);
            };
        });

        services.AddOpenApi("v1");
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(EngineMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
    }

    private static void AddAuditLog(WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(AuditOptions.SectionName).Get<AuditOptions>() ?? new AuditOptions();
        if (!options.Enabled)
        {
            return;
        }
        builder.Services.AddOptions<AuditOptions>().BindConfiguration(AuditOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IAuditStore>(sp => string.IsNullOrWhiteSpace(options.PostgresConnectionString)
            ? new SqliteAuditStore(string.IsNullOrWhiteSpace(options.SqlitePath)
                ? Path.Combine(sp.GetRequiredService<Sandbox.Bubblewrap.BubblewrapBackend>().StateDirectory, "audit.db")
                : options.SqlitePath)
            : new PostgresAuditStore(options.PostgresConnectionString));
        builder.Services.AddSingleton<AuditLog>();
        builder.Services.AddSingleton<IExecutionAudit>(sp => sp.GetRequiredService<AuditLog>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AuditLog>());
    }

    private static void ConfigurePipeline(WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages(async status =>
        {
            // Framework answers without a body (unknown route, wrong method, wrong content type) get problem+json too.
            var http = status.HttpContext;
            if (http.Response.ContentLength is not null || http.Response.HasStarted)
            {
                return;
            }
            var result = http.Response.StatusCode == StatusCodes.Status415UnsupportedMediaType
                ? ProblemCatalog.Problem(ErrorCodes.InvalidRequest, "send the body as JSON with 'Content-Type: application/json'")
                : TypedResults.Problem(statusCode: http.Response.StatusCode);
            await result.ExecuteAsync(http);
        });
        app.UseDefaultFiles(PlaygroundFiles.DefaultFilesOptions);
        app.UseStaticFiles(PlaygroundFiles.StaticFileOptions);
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseCompat(); // E2B and Terrarium (docs/compat.md); before the rate limiter, which needs the sandbox's tenant
        app.UseRateLimiter();

        app.MapOperations();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapPrometheusScrapingEndpoint("/metrics");

        var v1 = app.MapGroup("/v1").RequireAuthorization();
        v1.MapSessions();
        v1.MapExecutions();
        v1.MapFiles();
        var rates = app.Services.GetRequiredService<ExecutionRateLimits>();
        app.MapVivariumMcp("/mcp", http => http.Features.Get<Tenant>() is { } t
            ? new McpCaller(t.Id, t.MaxSessions, () => rates.TryAdmit(t))
            : null).RequireAuthorization();

        var keys = app.Services.GetRequiredService<ApiKeyStore>();
        if (keys.GeneratedKey is { } generated)
        {
            // Shown once on the console, deliberately not through ILogger: logs are kept, this must not be.
            app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine(
                $"No API key was configured, so one was generated for this run (set VIVARIUM_API_KEY to choose your own):\n  {generated}"));
        }
        Log.Binding(app.Logger, string.Join(", ", app.Urls.DefaultIfEmpty(app.Configuration["urls"] ?? DefaultUrl)));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Debug, Message = "Vivarium server configured for {Urls}")]
        public static partial void Binding(ILogger logger, string urls);
    }
}
