using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Vivarium.Engine.Pool;
using Vivarium.Engine.Sessions;
using Vivarium.Sandbox;

namespace Vivarium.Engine;

/// <summary>Registers the engine.</summary>
public static class EngineServiceCollectionExtensions
{
    /// <summary>
    /// Adds sessions, the pool, the reaper and the bubblewrap backend, with options bound to
    /// <c>Vivarium:Sessions</c>, <c>Vivarium:Pool</c>, <c>Vivarium:Execution</c> and
    /// <c>Vivarium:Sandbox</c>, validated when the host starts.
    /// </summary>
    public static IServiceCollection AddVivariumEngine(this IServiceCollection services)
    {
        services.AddOptions<SessionOptions>().BindConfiguration(SessionOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<PoolOptions>().BindConfiguration(PoolOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ExecutionOptions>().BindConfiguration(ExecutionOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<EngineMetrics>();
        services.AddBubblewrapSandboxes();
        services.TryAddSingleton<SandboxPool>();
        services.AddHostedService(sp => sp.GetRequiredService<SandboxPool>());
        services.TryAddSingleton<SessionService>();
        services.AddHostedService<SessionReaper>();
        return services;
    }
}
