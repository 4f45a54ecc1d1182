namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string HostRead = "host filesystem read";

    private static IEnumerable<SecurityCase> HostFilesystemRead()
    {
        yield return SecurityCase.Python(HostRead, "read /etc/shadow, /etc/gshadow, SSH host keys, /etc/sudoers", "mount namespace",
            Prelude.Python + """
            for path in ['/etc/shadow', '/etc/gshadow', '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_rsa_key', '/etc/sudoers']:
                attempt('read ' + path, lambda p=path: open(p, 'rb').read())
            """,
            contains: ["read /etc/shadow: FileNotFoundError ENOENT", "read /etc/gshadow: FileNotFoundError ENOENT",
                "read /etc/ssh/ssh_host_ed25519_key: FileNotFoundError ENOENT", "read /etc/sudoers: FileNotFoundError ENOENT"],
            absent: ["SUCCEEDED"]);

        yield return new SecurityCase(HostRead, "/etc/passwd shows the host's accounts", "mount namespace (generated /etc/passwd)",
            "only root, user and nobody; none of the host's other accounts", async context =>
            {
                var hostAccounts = File.ReadLines("/etc/passwd").Select(l => l.Split(':')[0])
                    .Where(n => n is not ("root" or "nobody" or "user")).ToList();
                var exec = await context.RunAsync("print('=> accounts:', ','.join(l.split(':')[0] for l in open('/etc/passwd').read().splitlines()))");
                SecurityCase.AssertExec(exec, "ok", ["accounts: root,user,nobody"], []);
                Assert.DoesNotContain(exec.Verdicts[0].Split(' ')[1].Split(','), hostAccounts.Contains);
                return exec.Describe() + $" (the host has {hostAccounts.Count} more)";
            });

        yield return SecurityCase.Python(HostRead, "list /root and the host's /home", "mount namespace",
            Prelude.Python + """
            attempt('list /root', os.listdir, '/root')
            print('=> /home holds:', os.listdir('/home'))
            attempt('list /var', os.listdir, '/var')
            """,
            contains: ["list /root: FileNotFoundError ENOENT", "/home holds: ['user']", "list /var: FileNotFoundError ENOENT"],
            absent: ["SUCCEEDED"]);

        yield return new SecurityCase(HostRead, "read the host canary file in the host's /tmp", "mount namespace (private tmpfs /tmp)",
            "FileNotFoundError; the host's /tmp entries are not listed", async context =>
            {
                var path = context.Canaries.FilePath;
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    attempt('read the canary', lambda: open('{{path}}').read())
                    names = os.listdir('/tmp')
                    print('=> /tmp holds', len(names), 'entries; host entries seen:', [n for n in names if n.startswith('vivarium-')])
                    """);
                SecurityCase.AssertExec(exec, "ok", ["read the canary: FileNotFoundError ENOENT", "host entries seen: []"], ["SUCCEEDED"]);
                return exec.Describe();
            });

        yield return new SecurityCase(HostRead, "reach the host through /proc/<pid>/root of every visible process", "pid namespace + mount namespace",
            "every root is the sandbox's own: no host canary, no /etc/shadow", async context =>
            {
                var path = context.Canaries.FilePath;
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
                    print('=> visible pids:', pids)
                    for pid in pids:
                        try:
                            root = os.readlink(f'/proc/{pid}/root')
                        except OSError as e:
                            print('=> pid', pid, 'root:', _describe(e)); continue
                        attempt(f'pid {pid} canary', lambda: open(f'/proc/{pid}/root{{path}}').read())
                        attempt(f'pid {pid} shadow', lambda: open(f'/proc/{pid}/root/etc/shadow').read())
                    print('=> /proc/1/root lists', sorted(os.listdir('/proc/1/root')))
                    """);
                SecurityCase.AssertExec(exec, "ok", ["pid 1 canary: FileNotFoundError ENOENT", "pid 1 shadow: FileNotFoundError ENOENT"], ["SUCCEEDED"]);
                Assert.True(exec.Verdicts.Count(v => v.EndsWith("FileNotFoundError ENOENT", StringComparison.Ordinal)) >= 2);
                return exec.Describe();
            });

        yield return SecurityCase.Python(HostRead, "read /proc/*/environ and cmdline of every other process", "pid namespace",
            Prelude.Python + """
            me = os.getpid()
            seen = {}
            for p in os.listdir('/proc'):
                if not p.isdigit() or int(p) == me:
                    continue
                try:
                    env = open(f'/proc/{p}/environ', 'rb').read().split(b'\0')
                    cmd = open(f'/proc/{p}/cmdline', 'rb').read().split(b'\0')[0].decode()
                except OSError as e:
                    continue
                seen[int(p)] = cmd
                print('environ of', p, cmd, env)  # printed in full: a leaked host secret would reach the answer
            suspicious = [k for p in seen for k in ('DOTNET', 'ASPNETCORE', 'VIVARIUM_SECURITY')
                          if k.encode() in open(f'/proc/{p}/environ', 'rb').read()]
            print('=> other processes:', sorted(seen.items()))
            print('=> server variables found:', suspicious)
            """,
            contains: [SecurityFixture.ForkServer ? "(1, '/usr/bin/python3')" : "(1, '/usr/bin/bwrap')", "server variables found: []"]);

        yield return SecurityCase.Python(HostRead, "read /sys (cgroups, network devices, kernel objects)", "mount namespace (no /sys)",
            Prelude.Python + """
            attempt('list /sys', os.listdir, '/sys')
            attempt('read /sys/fs/cgroup', os.listdir, '/sys/fs/cgroup')
            attempt('read /sys/class/net', os.listdir, '/sys/class/net')
            """,
            contains: ["list /sys: FileNotFoundError ENOENT", "read /sys/fs/cgroup: FileNotFoundError ENOENT"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(HostRead, "read kernel memory and the kernel log (/proc/kcore, /proc/kmsg, /dev/core)", "unprivileged uid + cap-drop (this kernel has no /proc/kcore at all)",
            Prelude.Python + """
            attempt('read /proc/kcore', lambda: open('/proc/kcore', 'rb').read(16))
            attempt('read /dev/core', lambda: open('/dev/core', 'rb').read(16))
            attempt('read /proc/kmsg', lambda: open('/proc/kmsg', 'rb').read(16))
            addresses = {l.split()[0] for l in open('/proc/kallsyms').read().splitlines()[:2000]}
            print('=> /proc/kallsyms addresses:', sorted(addresses))
            """,
            contains: ["read /proc/kcore: ", "read /proc/kmsg: PermissionError EACCES", "/proc/kallsyms addresses: ['0000000000000000']"],
            expected: "/proc/kcore unreadable (EACCES, or ENOENT where the kernel has none); /proc/kmsg EACCES; kernel addresses in /proc/kallsyms zeroed",
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(HostRead, "read the kernel log with syslog(2) (dmesg)", "seccomp",
            Prelude.Python + """
            attempt('syslog(SYSLOG_ACTION_READ_ALL)', lambda: sys_call('syslog', 3, ctypes.create_string_buffer(4096), 4096))
            r = subprocess.run(['dmesg'], capture_output=True, text=True)
            print('=> dmesg exit', r.returncode, r.stderr.strip()[:80])
            """,
            contains: ["syslog(SYSLOG_ACTION_READ_ALL): PermissionError EPERM"], absent: ["SUCCEEDED"]);
    }
}
