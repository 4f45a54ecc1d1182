using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Vivarium.Server.Audit;

/// <summary>A database the audit log is written to.</summary>
public interface IAuditStore
{
    /// <summary>Creates or upgrades the schema. Idempotent.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Appends records in one transaction.</summary>
    Task AppendAsync(IReadOnlyList<AuditRecord> records, CancellationToken cancellationToken);

    /// <summary>The most recent records, newest first (for operators and tests).</summary>
    Task<IReadOnlyList<AuditRecord>> ReadRecentAsync(int count, CancellationToken cancellationToken);
}

/// <summary>
/// The SQL both stores share: one table, written append-only, and a version table so later
/// migrations know where they start.
/// </summary>
internal abstract class SqlAuditStore : IAuditStore
{
    private const int SchemaVersion = 1;

    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    protected abstract string TimestampType { get; }

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            CREATE TABLE IF NOT EXISTS audit_schema (version INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS executions (
                at {TimestampType} NOT NULL,
                tenant TEXT NOT NULL,
                session_id TEXT NOT NULL,
                execution_id TEXT NOT NULL PRIMARY KEY,
                code_sha256 TEXT NOT NULL,
                status TEXT NOT NULL,
                duration_ms DOUBLE PRECISION NOT NULL);
            CREATE INDEX IF NOT EXISTS executions_tenant_at ON executions (tenant, at);
            INSERT INTO audit_schema (version) SELECT {SchemaVersion} WHERE NOT EXISTS (SELECT 1 FROM audit_schema);
            """;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task AppendAsync(IReadOnlyList<AuditRecord> records, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // One command for the batch, its parameters set per record: the statement is parsed once.
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT INTO executions (at, tenant, session_id, execution_id, code_sha256, status, duration_ms) VALUES (@at, @tenant, @session, @execution, @code, @status, @duration)";
        var at = Add(command, "@at", DateTime.UnixEpoch);
        var tenant = Add(command, "@tenant", "");
        var session = Add(command, "@session", "");
        var execution = Add(command, "@execution", "");
        var code = Add(command, "@code", "");
        var status = Add(command, "@status", "");
        var duration = Add(command, "@duration", 0.0);
        foreach (var record in records)
        {
            at.Value = record.At.UtcDateTime;
            tenant.Value = record.Tenant;
            session.Value = record.SessionId;
            execution.Value = record.ExecutionId;
            code.Value = record.CodeSha256;
            status.Value = record.Status;
            duration.Value = record.DurationMs;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<AuditRecord>> ReadRecentAsync(int count, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT at, tenant, session_id, execution_id, code_sha256, status, duration_ms FROM executions ORDER BY at DESC LIMIT @count";
        Add(command, "@count", count);
        var records = new List<AuditRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var at = DateTime.SpecifyKind(reader.GetDateTime(0), DateTimeKind.Utc);
            records.Add(new AuditRecord(new DateTimeOffset(at), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), reader.GetString(5), reader.GetDouble(6)));
        }
        return records;
    }

    private static DbParameter Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
        return parameter;
    }
}

/// <summary>The default store: a SQLite file next to the server's state.</summary>
internal sealed class SqliteAuditStore(string path) : SqlAuditStore
{
    protected override string TimestampType => "TEXT";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString());
        await connection.OpenAsync(cancellationToken);
        // A write-ahead log, synced at checkpoints rather than at every commit: the rollback
        // journal's fsyncs were a fifth of the server's CPU time on a run of short executions.
        // A commit still reaches the file before the writer moves on, so a crash of the server
        // loses nothing; only a power cut can drop the last commits, never corrupt the file.
        await using var pragmas = connection.CreateCommand();
        pragmas.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
        await pragmas.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }
}

/// <summary>PostgreSQL, for deployments that keep their audit trail in a real database.</summary>
internal sealed class PostgresAuditStore(string connectionString) : SqlAuditStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(connectionString);

    protected override string TimestampType => "TIMESTAMPTZ";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
