using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Vivarium.Server.Auth;

namespace Vivarium.Server.Api;

/// <summary>
/// Each tenant's budget of executions per minute, one budget shared by every surface that runs
/// code: the REST API, the E2B and Terrarium surfaces (through the rate-limiting middleware) and
/// MCP tool calls (through <see cref="TryAdmit"/>), so that no surface is a way around it.
/// </summary>
public sealed class ExecutionRateLimits(IOptions<ServerOptions> options) : IDisposable
{
    private readonly ConcurrentDictionary<(string Tenant, int PerMinute), FixedWindowRateLimiter> _limiters = new();

    /// <summary>The tenant's limiter, wrapped so that the middleware may dispose its copy when idle.</summary>
    /// <param name="tenant">The caller; null only for unauthenticated requests, which never reach an execution.</param>
    public RateLimitPartition<string> Partition(Tenant? tenant)
    {
        var limiter = For(tenant);
        return RateLimitPartition.Get(tenant?.Id ?? "", _ => new SharedLimiter(limiter));
    }

    /// <summary>Takes one execution from the tenant's budget: null when admitted, else how long to wait.</summary>
    public TimeSpan? TryAdmit(Tenant tenant)
    {
        using var lease = For(tenant).AttemptAcquire();
        if (lease.IsAcquired)
        {
            return null;
        }
        return lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
    }

    private FixedWindowRateLimiter For(Tenant? tenant)
    {
        var perMinute = tenant?.ExecutionsPerMinute ?? options.Value.ExecutionsPerMinute;
        return _limiters.GetOrAdd((tenant?.Id ?? "", perMinute), key => new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions
        {
            PermitLimit = key.PerMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var limiter in _limiters.Values)
        {
            limiter.Dispose();
        }
    }

    /// <summary>The tenant's one limiter, seen through a handle whose disposal leaves it alone.</summary>
    private sealed class SharedLimiter(RateLimiter inner) : RateLimiter
    {
        public override TimeSpan? IdleDuration => inner.IdleDuration;

        public override RateLimiterStatistics? GetStatistics() => inner.GetStatistics();

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => inner.AttemptAcquire(permitCount);

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
            inner.AcquireAsync(permitCount, cancellationToken);
    }
}
