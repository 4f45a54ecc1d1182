using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Vivarium.Security.Tests;

/// <summary>
/// Secrets and traps planted on the host before the server starts. Sandboxed code must never
/// read a token nor reach a listener: after every case the suite checks that no token appears
/// in anything the API answered and that no listener recorded a connection.
/// </summary>
public sealed partial class HostCanaries : IDisposable
{
    public const string EnvironmentVariableName = "VIVARIUM_SECURITY_CANARY";

    private readonly TcpListener _tcp;
    private readonly Socket _udp;
    private readonly Socket _unixPath;
    private readonly Socket _unixAbstract;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _contacts = new();

    public HostCanaries(string stateDirectory)
    {
        var id = NewToken()[..12];
        FileToken = "file-canary-" + NewToken();
        EnvironmentToken = "env-canary-" + NewToken();
        StateToken = "state-canary-" + NewToken();

        // (1) A secret file in the host's /tmp, readable by everyone (the sandbox's host uid
        // could read it if it ever saw the host's /tmp).
        FilePath = $"/tmp/vivarium-canary-{id}.txt";
        File.WriteAllText(FilePath, FileToken);
        File.SetUnixFileMode(FilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        // (2) A secret in the server's environment, both the managed copy (what Process.Start
        // hands to children) and libc's (what native code and fork/exec would pass on).
        Environment.SetEnvironmentVariable(EnvironmentVariableName, EnvironmentToken);
        _ = SetEnv(EnvironmentVariableName, EnvironmentToken, 1);

        // (3) A secret file next to the server's own state (audit log, lock, runtime files).
        Directory.CreateDirectory(stateDirectory);
        StateFilePath = Path.Combine(stateDirectory, "canary.txt");
        File.WriteAllText(StateFilePath, StateToken);
        File.SetUnixFileMode(StateFilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        // (4) Listeners on the host's loopback: TCP and UDP on random ports, a unix socket in the
        // host's /tmp and an abstract unix socket (abstract names belong to a network namespace).
        _tcp = new TcpListener(IPAddress.Loopback, 0);
        _tcp.Start();
        TcpPort = ((IPEndPoint)_tcp.LocalEndpoint).Port;
        _udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        UdpPort = ((IPEndPoint)_udp.LocalEndPoint!).Port;

        UnixSocketPath = $"/tmp/vivarium-canary-{id}.sock";
        _unixPath = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _unixPath.Bind(new UnixDomainSocketEndPoint(UnixSocketPath));
        _unixPath.Listen(16);
        File.SetUnixFileMode(UnixSocketPath, (UnixFileMode)0b111_111_111);

        AbstractSocketName = $"vivarium-canary-{id}";
        _unixAbstract = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _unixAbstract.Bind(new UnixDomainSocketEndPoint("\0" + AbstractSocketName));
        _unixAbstract.Listen(16);

        _ = AcceptLoopAsync("tcp", _tcp.Server);
        _ = AcceptLoopAsync("unix", _unixPath);
        _ = AcceptLoopAsync("abstract", _unixAbstract);
        _ = ReceiveLoopAsync();
    }

    public string FileToken { get; }
    public string EnvironmentToken { get; }
    public string StateToken { get; }
    public string FilePath { get; }
    public string StateFilePath { get; }
    public int TcpPort { get; }
    public int UdpPort { get; }
    public string UnixSocketPath { get; }
    public string AbstractSocketName { get; }

    /// <summary>Every secret value; none may ever appear in an answer of the API.</summary>
    public IReadOnlyList<string> Tokens => [FileToken, EnvironmentToken, StateToken];

    /// <summary>Every connection or datagram any listener received, oldest first.</summary>
    public IReadOnlyList<string> Contacts => _contacts.ToArray();

    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private async Task AcceptLoopAsync(string kind, Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var accepted = await listener.AcceptAsync(_stop.Token);
                _contacts.Enqueue($"{kind} connection from {accepted.RemoteEndPoint} at {DateTime.UtcNow:O}");
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[2048];
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var received = await _udp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                _contacts.Enqueue($"udp datagram from {received.RemoteEndPoint} at {DateTime.UtcNow:O}");
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _tcp.Stop();
        _udp.Dispose();
        _unixPath.Dispose();
        _unixAbstract.Dispose();
        _stop.Dispose();
        Environment.SetEnvironmentVariable(EnvironmentVariableName, null);
        _ = UnsetEnv(EnvironmentVariableName);
        foreach (var path in new[] { FilePath, UnixSocketPath, StateFilePath })
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "unsetenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnsetEnv(string name);
}
