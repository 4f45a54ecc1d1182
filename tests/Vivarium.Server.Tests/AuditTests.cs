using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Vivarium.Server.Audit;

namespace Vivarium.Server.Tests;

[Collection("Server")]
public sealed class AuditTests(ServerFixture server)
{
    [Fact]
    public async Task EveryExecution_IsRecordedWithTenantSessionCodeHashAndStatus_EvenACrash()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        string ok, crashed;
        try
        {
            ok = (await client.ExecuteAsync(id, "21 * 2")).GetProperty("id").GetString()!;
            crashed = (await client.ExecuteAsync(id, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")).GetProperty("id").GetString()!;
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
        var audit = server.Services.GetRequiredService<AuditLog>();
        await audit.FlushAsync(CancellationToken.None);
        var records = await audit.Store.ReadRecentAsync(200, CancellationToken.None);

        var first = Assert.Single(records, r => r.ExecutionId == ok);
        Assert.Equal("a", first.Tenant);
        Assert.Equal(id, first.SessionId);
        Assert.Equal("ok", first.Status);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("21 * 2"))), first.CodeSha256);
        Assert.Equal("crashed", Assert.Single(records, r => r.ExecutionId == crashed).Status);
        Assert.True(File.Exists(Path.Combine(server.StateDirectory, "audit.db")));
    }

    [Fact]
    public async Task RecordsReachTheStoreOnTheirOwn_WithinTheFlushInterval()
    {
        using var client = server.Client();
        var id = await client.CreateSessionAsync();
        string execution;
        try
        {
            execution = (await client.ExecuteAsync(id, "'written by the batch writer'")).GetProperty("id").GetString()!;
        }
        finally
        {
            await client.DeleteAsync($"/v1/sessions/{id}");
        }
        // No FlushAsync: the background writer must get there by itself (interval 0.5 s).
        var audit = server.Services.GetRequiredService<AuditLog>();
        var deadline = Stopwatch.StartNew();
        while (!(await audit.Store.ReadRecentAsync(200, CancellationToken.None)).Any(r => r.ExecutionId == execution))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the execution was not written to the audit log within 10 s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task ANegativeFlushInterval_StopsTheServerAtStart()
    {
        var state = Path.Combine("/tmp", "vivarium-audit-" + Guid.NewGuid().ToString("N")[..8]);
        await using var app = VivariumServer.Build(ServerFixture.Arguments(state, "--Vivarium:Audit:FlushInterval=-00:00:01"));
        try
        {
            var refused = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
            Assert.Contains("FlushInterval", refused.Message);
        }
        finally
        {
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }
}

/// <summary>The PostgreSQL store against a real PostgreSQL, in a private cluster this test starts and stops.</summary>
public sealed class PostgresAuditTests : IAsyncLifetime
{
    private readonly string _cluster = Path.Combine("/tmp", "vivarium-pg-" + Guid.NewGuid().ToString("N")[..8]);
    private string? _binaries;

    public async Task InitializeAsync()
    {
        _binaries = Directory.Exists("/usr/lib/postgresql")
            ? Directory.EnumerateDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
            : null;
        Assert.True(_binaries is not null, "PostgreSQL is not installed (scripts/install-prerequisites installs it)");
        Directory.CreateDirectory(_cluster);
        await RunAsync("chown", "postgres:postgres", _cluster);
        await RunAsync("runuser", "-u", "postgres", "--", Path.Combine(_binaries!, "initdb"), "-A", "trust", "-U", "postgres", "-D", _cluster);
        await RunAsync("runuser", "-u", "postgres", "--", Path.Combine(_binaries!, "pg_ctl"), "-D", _cluster, "-w", "-l", Path.Combine(_cluster, "log"),
            "-o", $"-k {_cluster} -c listen_addresses='' -p 5432", "start");
    }

    public async Task DisposeAsync()
    {
        if (_binaries is not null)
        {
            await RunAsync("runuser", "-u", "postgres", "--", Path.Combine(_binaries, "pg_ctl"), "-D", _cluster, "-m", "immediate", "-w", "stop");
        }
        Directory.Delete(_cluster, recursive: true);
    }

    [Fact]
    public async Task ServerConfiguredForPostgres_MigratesTheSchemaAndRecordsExecutions()
    {
        var connection = $"Host={_cluster};Port=5432;Username=postgres;Database=postgres";
        var state = Path.Combine("/tmp", "vivarium-pg-server-" + Guid.NewGuid().ToString("N")[..8]);
        await using var app = VivariumServer.Build(ServerFixture.Arguments(state, $"--Vivarium:Audit:PostgresConnectionString={connection}"));
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = ServerFixture.ListeningAddress(app), Timeout = TimeSpan.FromSeconds(120) };
            client.DefaultRequestHeaders.Authorization = new("Bearer", ServerFixture.KeyA);
            var id = await client.CreateSessionAsync();
            var execution = (await client.ExecuteAsync(id, "print('audited')")).GetProperty("id").GetString();
            await client.DeleteAsync($"/v1/sessions/{id}");

            var audit = app.Services.GetRequiredService<AuditLog>();
            await audit.FlushAsync(CancellationToken.None);
            var record = Assert.Single(await audit.Store.ReadRecentAsync(10, CancellationToken.None));
            Assert.Equal(execution, record.ExecutionId);
            Assert.Equal("ok", record.Status);
            // Migrating again (the next start) is harmless.
            await audit.Store.MigrateAsync(CancellationToken.None);
        }
        finally
        {
            await app.StopAsync();
            Directory.Delete(state, recursive: true);
        }
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {await stderr}");
    }
}
