using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Vivarium.Server.Auth;

/// <summary>A tenant, as resolved from an API key.</summary>
/// <param name="Id">The tenant id.</param>
/// <param name="MaxSessions">Its session quota, if it has its own.</param>
/// <param name="ExecutionsPerMinute">Its rate, if it has its own.</param>
public sealed record Tenant(string Id, int? MaxSessions, int? ExecutionsPerMinute);

/// <summary>
/// Holds only SHA-256 hashes of the keys and compares them in constant time, so neither a
/// memory dump nor response timing gives a key away.
/// </summary>
public sealed class ApiKeyStore
{
    private readonly List<(byte[] Hash, Tenant Tenant)> _keys = [];

    /// <summary>Loads the keys from options and <c>VIVARIUM_API_KEY</c>; makes one up if there are none.</summary>
    public ApiKeyStore(IOptions<ApiKeyOptions> options, IConfiguration configuration)
    {
        foreach (var entry in options.Value.Keys)
        {
            var hash = entry switch
            {
                { KeySha256: { Length: > 0 } hex } => Convert.FromHexString(hex),
                { Key: { Length: > 0 } key } => Hash(key),
                _ => throw new OptionsValidationException(ApiKeyOptions.SectionName, typeof(ApiKeyOptions),
                    [$"{ApiKeyOptions.SectionName}:Keys: each key needs Key or KeySha256 (tenant '{entry.Tenant}')"]),
            };
            _keys.Add((hash, new Tenant(entry.Tenant, entry.MaxSessions, entry.ExecutionsPerMinute)));
        }
        var fromEnvironment = configuration["VIVARIUM_API_KEY"];
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            _keys.Add((Hash(fromEnvironment), new Tenant("default", null, null)));
        }
        if (_keys.Count == 0)
        {
            GeneratedKey = "viv_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
            _keys.Add((Hash(GeneratedKey), new Tenant("default", null, null)));
        }
    }

    /// <summary>The key made up at start when none was configured (printed once, never logged).</summary>
    public string? GeneratedKey { get; }

    /// <summary>The tenant for a presented key, or null.</summary>
    public Tenant? Find(string presented)
    {
        var hash = Hash(presented);
        Tenant? found = null;
        // Every key is compared, so the time taken does not say which one (or whether one) matched.
        foreach (var (known, tenant) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, known))
            {
                found ??= tenant;
            }
        }
        return found;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
