using System.Net;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string CrossSession = "cross-session leakage";

    /// <summary>
    /// Session A (tenant red) plants a secret everywhere it can; B1 (another red session) and B2
    /// (tenant blue) look for it. Each search also runs in A itself, as the control that proves the
    /// search would have found the secret.
    /// </summary>
    private sealed class Scenario
    {
        public required string Secret { get; init; }
        public required string SessionA { get; init; }
        public required string SessionB1 { get; init; }
        public required string SessionB2 { get; init; }
        public required HttpClient Red { get; init; }
        public required HttpClient Blue { get; init; }
        public const int TcpPort = 47001;
        public string AbstractName => "vivarium-a-" + Secret[..8];
    }

    private static Scenario? _scenario;

    private static async Task<Scenario> ScenarioAsync(CaseContext context)
    {
        if (_scenario is not null)
        {
            return _scenario;
        }
        var red = context.Fixture.Client(SecurityFixture.KeyRed);
        var blue = context.Fixture.Client(SecurityFixture.KeyBlue);
        var scenario = new Scenario
        {
            Secret = "a-secret-" + HostCanaries.NewToken(),
            SessionA = await SecurityFixture.CreateSessionAsync(red),
            SessionB1 = await SecurityFixture.CreateSessionAsync(red),
            SessionB2 = await SecurityFixture.CreateSessionAsync(blue),
            Red = red,
            Blue = blue,
        };
        var plant = await context.RunAsync($$"""
            import ctypes, os, socket, subprocess
            SECRET = '{{scenario.Secret}}'
            open('/home/user/a-secret.txt', 'w').write(SECRET)
            open('/tmp/a-secret.txt', 'w').write(SECRET)
            open('/dev/shm/a-secret', 'w').write(SECRET)
            os.environ['A_SECRET'] = SECRET
            sleeper = subprocess.Popen(['sleep', '600'], env={'A_SECRET': SECRET})
            holder = subprocess.Popen(['sh', '-c', 'sleep 600; : ' + SECRET])
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype = ctypes.c_void_p
            shmid = libc.shmget(0x5EC2E7, 4096, 0o1666)
            addr = libc.shmat(shmid, None, 0)
            ctypes.memmove(addr, SECRET.encode(), len(SECRET))
            listener = socket.socket(); listener.bind(('127.0.0.1', {{Scenario.TcpPort}})); listener.listen(); listener.setblocking(False)
            abstract = socket.socket(socket.AF_UNIX); abstract.bind('\0{{scenario.AbstractName}}'); abstract.listen(); abstract.setblocking(False)
            print('=> planted: workspace, /tmp, /dev/shm, environ, 2 processes, SysV shm', shmid, ', TCP and abstract listeners')
            """, 15, scenario.SessionA, red);
        Assert.Equal("ok", plant.Status);
        _scenario = scenario;
        return scenario;
    }

    /// <summary>Runs the same search in A (the control) and in B1 and B2 (which must find nothing).</summary>
    private static async Task<string> SearchEverywhereAsync(CaseContext context, Scenario s, string code, string controlVerdict, string emptyVerdict)
    {
        var control = await context.RunAsync(code, 15, s.SessionA, s.Red);
        SecurityCase.AssertExec(control, "ok", [controlVerdict], []);
        var results = new List<string> { "control in A: " + control.Describe() };
        foreach (var (label, id, client) in new[] { ("B1 (same tenant)", s.SessionB1, s.Red), ("B2 (other tenant)", s.SessionB2, s.Blue) })
        {
            var exec = await context.RunAsync(code, 15, id, client);
            SecurityCase.AssertExec(exec, "ok", [emptyVerdict], [s.Secret]);
            Assert.DoesNotContain(s.Secret, exec.Raw, StringComparison.Ordinal);
            results.Add($"{label}: {exec.Describe()}");
        }
        return string.Join(" | ", results);
    }

    private static IEnumerable<SecurityCase> CrossSessionLeakage()
    {
        yield return new SecurityCase(CrossSession, "B searches A's workspace, /tmp and /dev/shm files", "mount namespace (a workspace volume and tmpfs per session)",
            "A finds its 3 files; B1 and B2 find none", async context =>
            {
                var s = await ScenarioAsync(context);
                var code = $$"""
                    import os
                    hits = []
                    for top in ['/home/user', '/tmp', '/dev/shm']:
                        for d, dirs, files in os.walk(top):
                            for n in files:
                                p = os.path.join(d, n)
                                try:
                                    if b'{{s.Secret}}' in open(p, 'rb').read(1 << 20) or 'a-secret' in n:
                                        hits.append(p)
                                except OSError:
                                    pass
                    print('=> files holding the secret:', sorted(hits))
                    """;
                return await SearchEverywhereAsync(context, s, code,
                    "files holding the secret: ['/dev/shm/a-secret', '/home/user/a-secret.txt', '/tmp/a-secret.txt']", "files holding the secret: []");
            });

        yield return new SecurityCase(CrossSession, "B searches A's os.environ and processes (cmdline, environ)", "pid namespace (a sandbox per session)",
            "A sees its sleepers; B1 and B2 see only their own bwrap and python", async context =>
            {
                var s = await ScenarioAsync(context);
                var code = $$"""
                    import os
                    secret = b'{{s.Secret}}'
                    procs, holders = [], []
                    for p in sorted(os.listdir('/proc'), key=lambda p: int(p) if p.isdigit() else 0):
                        if not p.isdigit() or int(p) == os.getpid():
                            continue
                        try:
                            comm = open(f'/proc/{p}/comm').read().strip()
                            blob = open(f'/proc/{p}/cmdline', 'rb').read() + open(f'/proc/{p}/environ', 'rb').read()
                        except OSError:
                            continue
                        procs.append(comm)
                        if secret in blob:
                            holders.append(comm)
                    print('=> other processes:', procs, '; holding the secret:', sorted(set(holders)), '; in my environ:', secret.decode() in os.environ.values())
                    """;
                return await SearchEverywhereAsync(context, s, code,
                    "holding the secret: ['sh', 'sleep']", $"other processes: [{(SecurityFixture.ForkServer ? "'python3'" : "'bwrap'")}] ; holding the secret: [] ; in my environ: False");
            });

        yield return new SecurityCase(CrossSession, "B attaches A's SysV shared memory segment", "IPC namespace",
            "A finds the segment; shmget in B1 and B2 says ENOENT", async context =>
            {
                var s = await ScenarioAsync(context);
                const string code = """
                    import ctypes, errno
                    libc = ctypes.CDLL(None, use_errno=True)
                    shmid = libc.shmget(0x5EC2E7, 0, 0)
                    print('=> shmget(0x5EC2E7):', 'found' if shmid >= 0 else errno.errorcode[ctypes.get_errno()],
                          '; segments listed:', len(open('/proc/sysvipc/shm').read().splitlines()) - 1)
                    """;
                return await SearchEverywhereAsync(context, s, code, "shmget(0x5EC2E7): found ; segments listed: 1", "shmget(0x5EC2E7): ENOENT ; segments listed: 0");
            });

        yield return new SecurityCase(CrossSession, "B connects to A's loopback TCP listener and abstract unix socket", "network namespace (a loopback per session)",
            "ECONNREFUSED in B1 and B2; A's listeners never saw a connection", async context =>
            {
                var s = await ScenarioAsync(context);
                var code = $$"""
                    import errno, socket
                    t = socket.socket(); t.settimeout(2)
                    u = socket.socket(socket.AF_UNIX)
                    print('=> tcp 127.0.0.1:{{Scenario.TcpPort}}:', errno.errorcode.get(t.connect_ex(('127.0.0.1', {{Scenario.TcpPort}})), 'connected'),
                          '; abstract:', errno.errorcode.get(u.connect_ex('\0{{s.AbstractName}}'), 'connected'))
                    """;
                var results = new List<string>();
                foreach (var (label, id, client) in new[] { ("B1", s.SessionB1, s.Red), ("B2", s.SessionB2, s.Blue) })
                {
                    var exec = await context.RunAsync(code, 15, id, client);
                    SecurityCase.AssertExec(exec, "ok", [$"tcp 127.0.0.1:{Scenario.TcpPort}: ECONNREFUSED ; abstract: ECONNREFUSED"], []);
                    results.Add($"{label}: {exec.Describe()}");
                }
                var accepted = await context.RunAsync("""
                    def pending(sock):
                        try:
                            sock.accept(); return 'a connection'
                        except BlockingIOError:
                            return 'nothing'
                    print('=> A\'s listeners received:', pending(listener), 'and', pending(abstract))
                    """, 15, s.SessionA, s.Red);
                SecurityCase.AssertExec(accepted, "ok", ["A's listeners received: nothing and nothing"], []);
                results.Add("A: " + accepted.Describe());
                return string.Join(" | ", results);
            });

        yield return new SecurityCase(CrossSession, "tenant blue addresses A's session through the API", "per-tenant session isolation",
            "404 session_not_found for every route; A is untouched", async context =>
            {
                var s = await ScenarioAsync(context);
                var a = s.SessionA;
                var results = new List<string>();
                var attempts = new (HttpMethod Method, string Path, HttpContent? Body)[]
                {
                    (HttpMethod.Get, $"/v1/sessions/{a}", null),
                    (HttpMethod.Post, $"/v1/sessions/{a}/execute", System.Net.Http.Json.JsonContent.Create(new { code = "print(open('a-secret.txt').read())" })),
                    (HttpMethod.Get, $"/v1/sessions/{a}/files", null),
                    (HttpMethod.Get, $"/v1/sessions/{a}/files/a-secret.txt", null),
                    (HttpMethod.Put, $"/v1/sessions/{a}/files/planted-by-blue.txt", new ByteArrayContent("x"u8.ToArray())),
                    (HttpMethod.Delete, $"/v1/sessions/{a}/files/a-secret.txt", null),
                    (HttpMethod.Post, $"/v1/sessions/{a}/interrupt", null),
                    (HttpMethod.Post, $"/v1/sessions/{a}/restart", null),
                    (HttpMethod.Delete, $"/v1/sessions/{a}", null),
                };
                foreach (var (method, path, body) in attempts)
                {
                    var (status, text, _) = await context.SendAsync(s.Blue, method, path, body);
                    Assert.True(status == HttpStatusCode.NotFound && text.Contains("\"session_not_found\"", StringComparison.Ordinal), $"{method} {path}: {(int)status} {text}");
                    Assert.DoesNotContain(s.Secret, text, StringComparison.Ordinal);
                    results.Add($"{method} {path.Replace(a, "{A}", StringComparison.Ordinal)}");
                }
                var (_, list, _) = await context.SendAsync(s.Blue, HttpMethod.Get, "/v1/sessions");
                Assert.DoesNotContain(a, list, StringComparison.Ordinal);
                var check = await context.RunAsync("import os\nprint('=> A still has its secret:', os.path.exists('a-secret.txt'), '; blue planted nothing:', not os.path.exists('planted-by-blue.txt'))", 15, a, s.Red);
                SecurityCase.AssertExec(check, "ok", ["A still has its secret: True ; blue planted nothing: True"], []);

                // The scenario ends here.
                foreach (var (client, id) in new[] { (s.Red, s.SessionA), (s.Red, s.SessionB1), (s.Blue, s.SessionB2) })
                {
                    await client.DeleteAsync($"/v1/sessions/{id}");
                }
                s.Red.Dispose();
                s.Blue.Dispose();
                _scenario = null;
                return $"404 session_not_found for {results.Count} routes ({string.Join(", ", results)}); not in blue's list; {check.Describe()}";
            });
    }
}
