using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Vivarium.Sandbox.Bubblewrap;

namespace Vivarium.Sandbox;

/// <summary>Registers the sandbox backend.</summary>
public static class SandboxServiceCollectionExtensions
{
    /// <summary>Adds the bubblewrap backend, its options bound to <c>Vivarium:Sandbox</c> and validated at start.</summary>
    public static IServiceCollection AddBubblewrapSandboxes(this IServiceCollection services)
    {
        services.AddOptions<BubblewrapOptions>()
            .BindConfiguration(BubblewrapOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton<BubblewrapBackend>();
        services.TryAddSingleton<ISandboxBackend>(sp => sp.GetRequiredService<BubblewrapBackend>());
        return services;
    }
}
