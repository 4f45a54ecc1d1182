namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Network = "network";

    private static IEnumerable<SecurityCase> NetworkAccess()
    {
        yield return SecurityCase.Python(Network, "outbound TCP to 1.1.1.1:53 and [2606:4700:4700::1111]:53", "network namespace (no route)",
            Prelude.Python + """
            attempt('connect 1.1.1.1:53', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3))
            attempt('connect [2606:4700:4700::1111]:53', lambda: socket.create_connection(('2606:4700:4700::1111', 53), timeout=3))
            """,
            contains: ["connect 1.1.1.1:53: OSError ENETUNREACH", "connect [2606:4700:4700::1111]:53: OSError ENETUNREACH"], absent: ["SUCCEEDED"]);

        yield return new SecurityCase(Network, "connect to the host's canary listener on 127.0.0.1 (TCP and UDP)", "network namespace (own loopback)",
            "ConnectionRefusedError; the listener records nothing", async context =>
            {
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    attempt('tcp 127.0.0.1:{{context.Canaries.TcpPort}}', lambda: socket.create_connection(('127.0.0.1', {{context.Canaries.TcpPort}}), timeout=3))
                    attempt('tcp [::1]:{{context.Canaries.TcpPort}}', lambda: socket.create_connection(('::1', {{context.Canaries.TcpPort}}), timeout=3))
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.settimeout(1)
                    u.sendto(b'hello host', ('127.0.0.1', {{context.Canaries.UdpPort}}))
                    attempt('udp reply from 127.0.0.1:{{context.Canaries.UdpPort}}', u.recv, 100)
                    """);
                SecurityCase.AssertExec(exec, "ok", [$"tcp 127.0.0.1:{context.Canaries.TcpPort}: ConnectionRefusedError ECONNREFUSED", "udp reply from"], ["SUCCEEDED"]);
                return exec.Describe() + "; no contact recorded";
            });

        yield return SecurityCase.Python(Network, "DNS: resolve names, send a raw DNS query over UDP", "network namespace (no route, no resolver)",
            Prelude.Python + """
            attempt('getaddrinfo(example.com)', socket.getaddrinfo, 'example.com', 80)
            attempt('getaddrinfo(metadata.google.internal)', socket.getaddrinfo, 'metadata.google.internal', 80)
            query = bytes.fromhex('abcd01000001000000000000076578616d706c6503636f6d0000010001')
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attempt('udp sendto 1.1.1.1:53', u.sendto, query, ('1.1.1.1', 53))
            print('=> /etc/resolv.conf exists:', os.path.exists('/etc/resolv.conf'))
            """,
            contains: ["getaddrinfo(example.com): gaierror", "udp sendto 1.1.1.1:53: OSError ENETUNREACH", "/etc/resolv.conf exists: False"],
            absent: ["SUCCEEDED"]);

        yield return new SecurityCase(Network, "scan 127.0.0.1 for the host's services (the server's own port included)", "network namespace (own loopback)",
            "every port the host listens on is refused inside", async context =>
            {
                var ports = HostView.ListeningLoopbackPorts().Union([context.Fixture.ServerPort, context.Canaries.TcpPort, 22, 80, 443, 5432, 6379, 8080]).Order().ToList();
                Assert.Contains(context.Fixture.ServerPort, HostView.ListeningLoopbackPorts());
                var exec = await context.RunAsync($$"""
                    import socket
                    opened, refused = [], []
                    for port in {{"[" + string.Join(", ", ports) + "]"}}:
                        s = socket.socket()
                        s.settimeout(1)
                        (opened if s.connect_ex(('127.0.0.1', port)) == 0 else refused).append(port)
                        s.close()
                    print('=> open:', opened, 'refused:', len(refused), 'of', {{ports.Count}})
                    """);
                SecurityCase.AssertExec(exec, "ok", ["open: []", $"refused: {ports.Count} of {ports.Count}"], []);
                return $"{exec.Describe()} (host ports tried: {string.Join(",", ports)}; the server's is {context.Fixture.ServerPort})";
            });

        yield return SecurityCase.Python(Network, "the cloud metadata service 169.254.169.254", "network namespace (no route)",
            Prelude.Python + """
            attempt('connect 169.254.169.254:80', lambda: socket.create_connection(('169.254.169.254', 80), timeout=3))
            import urllib.request
            attempt('GET http://169.254.169.254/latest/meta-data/', lambda: urllib.request.urlopen('http://169.254.169.254/latest/meta-data/', timeout=3).read())
            """,
            contains: ["connect 169.254.169.254:80: OSError ENETUNREACH", "GET http://169.254.169.254/latest/meta-data/: URLError"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Network, "raw and packet sockets (ICMP, AF_PACKET)", "cap-drop (no CAP_NET_RAW)",
            Prelude.Python + """
            attempt('socket(AF_INET, SOCK_RAW, ICMP)', socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            attempt('socket(AF_PACKET, SOCK_RAW)', socket.socket, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            attempt('socket(AF_INET6, SOCK_RAW)', socket.socket, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
            """,
            contains: ["socket(AF_INET, SOCK_RAW, ICMP): PermissionError EPERM", "socket(AF_PACKET, SOCK_RAW): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Network, "netlink: list interfaces and try to configure one", "network namespace (only lo) + cap-drop",
            Prelude.Python + """
            import struct
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE opens: it only sees this namespace
            print('=> interfaces:', [name for _, name in socket.if_nameindex()])
            print('=> /proc/net/dev:', [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]])
            # RTM_NEWADDR 10.0.0.2/8 on lo: needs CAP_NET_ADMIN in the namespace
            ifa = struct.pack('BBBBI', socket.AF_INET, 8, 0, 0, 1)
            rta = struct.pack('HH4s', 8, 2, socket.inet_aton('10.0.0.2'))
            body = ifa + rta
            msg = struct.pack('IHHII', 16 + len(body), 20, 0x1 | 0x4 | 0x400 | 0x200, 1, 0) + body
            s.send(msg)
            reply = s.recv(4096)
            err = struct.unpack('i', reply[16:20])[0]
            print('=> RTM_NEWADDR answered', errno.errorcode.get(-err, err) if err else 'OK (SUCCEEDED)')
            """,
            contains: ["interfaces: ['lo']", "/proc/net/dev: ['lo']", "RTM_NEWADDR answered EPERM"], absent: ["SUCCEEDED"]);

        yield return new SecurityCase(Network, "connect to host unix sockets (docker, systemd, dbus, a canary socket in the host's /tmp)", "mount namespace",
            "FileNotFoundError for each path; the canary socket records nothing", async context =>
            {
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    for path in ['/var/run/docker.sock', '/run/docker.sock', '/run/systemd/private', '/run/dbus/system_bus_socket', '/run/containerd/containerd.sock', '{{context.Canaries.UnixSocketPath}}']:
                        s = socket.socket(socket.AF_UNIX)
                        attempt('connect ' + path, s.connect, path)
                    """);
                SecurityCase.AssertExec(exec, "ok", ["connect /var/run/docker.sock: FileNotFoundError ENOENT", "connect /run/systemd/private: FileNotFoundError ENOENT",
                    $"connect {context.Canaries.UnixSocketPath}: FileNotFoundError ENOENT"], ["SUCCEEDED"]);
                return exec.Describe();
            });

        yield return new SecurityCase(Network, "connect to the host's abstract unix socket", "network namespace (abstract names are per namespace)",
            "ConnectionRefusedError; the canary records nothing", async context =>
            {
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    s = socket.socket(socket.AF_UNIX)
                    attempt('connect @{{context.Canaries.AbstractSocketName}}', s.connect, '\0{{context.Canaries.AbstractSocketName}}')
                    names = [l.split()[-1] for l in open('/proc/net/unix').read().splitlines()[1:] if l.split()[-1].startswith('@')]
                    print('=> abstract sockets visible:', names)
                    """);
                SecurityCase.AssertExec(exec, "ok", [$"connect @{context.Canaries.AbstractSocketName}: ConnectionRefusedError ECONNREFUSED", "abstract sockets visible: []"], ["SUCCEEDED"]);
                return exec.Describe();
            });
    }
}
