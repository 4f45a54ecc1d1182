using System.ComponentModel.DataAnnotations;

namespace Vivarium.Server.Auth;

/// <summary>
/// API keys and their tenants (configuration section <c>Vivarium:Auth</c>). <c>VIVARIUM_API_KEY</c>
/// adds one key for the tenant <c>default</c>; with no key at all the server makes one up at
/// start, prints it once, and still requires it.
/// </summary>
public sealed class ApiKeyOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Auth";

    /// <summary>The configured keys.</summary>
    public List<ApiKeyEntry> Keys { get; set; } = [];
}

/// <summary>One API key.</summary>
public sealed class ApiKeyEntry
{
    /// <summary>The key itself. Prefer <see cref="KeySha256"/> in files at rest.</summary>
    public string? Key { get; set; }

    /// <summary>Hex SHA-256 of the key, for configuration files that must not hold the secret.</summary>
    public string? KeySha256 { get; set; }

    /// <summary>The tenant this key acts for; tenants never see each other's sessions.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Tenant { get; set; } = "default";

    /// <summary>Sessions this tenant may hold at once (null: the server's Vivarium:Sessions:MaxSessionsPerTenant).</summary>
    [Range(1, 100_000)]
    public int? MaxSessions { get; set; }

    /// <summary>Executions per minute (null: Vivarium:Server:ExecutionsPerMinute).</summary>
    [Range(1, 1_000_000)]
    public int? ExecutionsPerMinute { get; set; }
}
