using System.ComponentModel.DataAnnotations;

namespace Vivarium.Server.Audit;

/// <summary>Where the audit log of executions goes (configuration section <c>Vivarium:Audit</c>).</summary>
public sealed class AuditOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Vivarium:Audit";

    /// <summary>
    /// A PostgreSQL connection string. When set, the log goes to PostgreSQL (its schema is
    /// migrated at start); otherwise to SQLite.
    /// </summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>The SQLite file; empty means <c>audit.db</c> in the sandbox state directory.</summary>
    public string SqlitePath { get; set; } = "";

    /// <summary>False turns the audit log off (not recommended).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How long a record waits so that it is written together with the ones that follow it
    /// (one transaction per batch). Zero writes each record as soon as it comes. A server that
    /// is killed (SIGKILL, power) can lose the records of this last interval.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>One execution, as the audit log keeps it: who, where, when, what (a hash, never the code) and how it ended.</summary>
/// <param name="At">When it finished.</param>
/// <param name="Tenant">The tenant.</param>
/// <param name="SessionId">The session.</param>
/// <param name="ExecutionId">The execution.</param>
/// <param name="CodeSha256">Hex SHA-256 of the code.</param>
/// <param name="Status">ok, error, timeout, interrupted or crashed.</param>
/// <param name="DurationMs">Wall time.</param>
public sealed record AuditRecord(DateTimeOffset At, string Tenant, string SessionId, string ExecutionId, string CodeSha256, string Status, double DurationMs);
