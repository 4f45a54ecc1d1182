using System.ComponentModel.DataAnnotations;

namespace Vivarium.Server;

/// <summary>Limits at the door (configuration section <c>Vivarium:Server</c>).</summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Server";

    /// <summary>Executions per minute per tenant, unless the tenant's key sets its own.</summary>
    [Range(1, 1_000_000)]
    public int ExecutionsPerMinute { get; set; } = 600;

    /// <summary>Largest request body (uploads included).</summary>
    [Range(1024, 4L * 1024 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 110L * 1024 * 1024;

    /// <summary>Largest total of produced files returned by one-shot <c>POST /v1/execute</c>.</summary>
    [Range(0, 1024L * 1024 * 1024)]
    public long MaxReturnedFileBytes { get; set; } = 50L * 1024 * 1024;
}
