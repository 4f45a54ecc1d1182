using System.Globalization;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Privilege = "privilege";

    private static IEnumerable<SecurityCase> PrivilegeEscalation()
    {
        yield return SecurityCase.Python(Privilege, "capabilities held by the sandboxed process", "cap-drop ALL",
            """
            caps = {l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') if l.startswith('Cap')}
            print('=>', ' '.join(f'{k}={v}' for k, v in caps.items()))
            print('=> all zero:', all(int(v, 16) == 0 for v in caps.values()))
            """,
            contains: ["CapEff=0000000000000000", "CapPrm=0000000000000000", "CapBnd=0000000000000000", "CapAmb=0000000000000000", "all zero: True"]);

        yield return SecurityCase.Python(Privilege, "become root: setuid(0), setgid(0), setresuid, setgroups", "user namespace (only uid 1000 is mapped) + cap-drop",
            Prelude.Python + """
            attempt('setuid(0)', os.setuid, 0)
            attempt('setgid(0)', os.setgid, 0)
            attempt('setresuid(0,0,0)', os.setresuid, 0, 0, 0)
            attempt('setgroups([0])', os.setgroups, [0])
            print('=> still uid', os.getuid(), 'euid', os.geteuid())
            """,
            contains: ["setuid(0): OSError EINVAL", "setgid(0): OSError EINVAL", "setresuid(0,0,0): OSError EINVAL", "setgroups([0]): PermissionError EPERM", "still uid 1000 euid 1000"],
            expected: "EINVAL for uid/gid 0 (root does not exist in the namespace), EPERM for setgroups; still uid 1000",
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "the kernel keyring: keyctl, add_key", "seccomp",
            Prelude.Python + """
            attempt('keyctl(KEYCTL_GET_KEYRING_ID, session)', lambda: sys_call('keyctl', 0, -3, 0))
            attempt('add_key(user)', lambda: sys_call('add_key', b'user', b'vivarium', b'secret', 6, -3))
            """,
            contains: ["keyctl(KEYCTL_GET_KEYRING_ID, session): PermissionError EPERM", "add_key(user): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "load eBPF: bpf(BPF_MAP_CREATE / BPF_PROG_LOAD)", "seccomp",
            Prelude.Python + """
            attr = ctypes.create_string_buffer(128)
            attempt('bpf(BPF_MAP_CREATE)', lambda: sys_call('bpf', 0, attr, 128))
            attempt('bpf(BPF_PROG_LOAD)', lambda: sys_call('bpf', 5, attr, 128))
            """,
            contains: ["bpf(BPF_MAP_CREATE): PermissionError EPERM", "bpf(BPF_PROG_LOAD): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "perf_event_open (bad pointer: EFAULT unless filtered)", "seccomp",
            Prelude.Python + """
            attempt('perf_event_open(NULL)', lambda: sys_call('perf_event_open', 0, 0, -1, -1, 0))
            """,
            contains: ["perf_event_open(NULL): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "userfaultfd (user-mode only, allowed to anyone unless filtered)", "seccomp",
            Prelude.Python + """
            attempt('userfaultfd(UFFD_USER_MODE_ONLY)', lambda: sys_call('userfaultfd', 1 | os.O_CLOEXEC))
            """,
            contains: ["userfaultfd(UFFD_USER_MODE_ONLY): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "io_uring_setup (bad pointer: EFAULT unless filtered)", "seccomp",
            Prelude.Python + """
            attempt('io_uring_setup(1, NULL)', lambda: sys_call('io_uring_setup', 1, 0))
            """,
            contains: ["io_uring_setup(1, NULL): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "load kernel code: init_module, finit_module, kexec_load", "seccomp (and no CAP_SYS_MODULE)",
            Prelude.Python + """
            attempt('init_module', lambda: sys_call('init_module', 0, 0, b''))
            attempt('finit_module', lambda: sys_call('finit_module', os.open('/etc/passwd', os.O_RDONLY), b'', 0))
            attempt('kexec_load', lambda: sys_call('kexec_load', 0, 0, 0, 0))
            """,
            contains: ["init_module: PermissionError EPERM", "finit_module: PermissionError EPERM", "kexec_load: PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "ptrace and process_vm_readv on bubblewrap (pid 1)", "seccomp",
            Prelude.Python + """
            attempt('ptrace(PTRACE_ATTACH, 1)', lambda: sys_call('ptrace', 16, 1, 0, 0))
            attempt('ptrace(PTRACE_TRACEME)', lambda: sys_call('ptrace', 0, 0, 0, 0))
            buf = ctypes.create_string_buffer(64)
            local = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 64)
            remote = (ctypes.c_void_p * 2)(0x400000, 64)
            attempt('process_vm_readv(1)', lambda: sys_call('process_vm_readv', 1, local, 1, remote, 1, 0))
            """,
            contains: ["ptrace(PTRACE_ATTACH, 1): PermissionError EPERM", "ptrace(PTRACE_TRACEME): PermissionError EPERM", "process_vm_readv(1): PermissionError EPERM"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "32-bit system calls (int 0x80) and x32 numbers to slip past the x86-64 filter", "seccomp (libseccomp's architecture check kills foreign ABIs)",
            """
            import subprocess, sys
            # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING) through the i386 ABI:
            # push rbx; mov eax, 288; xor ebx, ebx; mov ecx, -3; xor edx, edx; int 0x80; pop rbx; ret
            i386 = ("import ctypes, mmap\n"
                    "buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
                    "buf.write(bytes.fromhex('53b82001000031dbb9fdffffff31d2cd805bc3'))\n"
                    "f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))\n"
                    "print('returned', f(), flush=True)\n")
            # keyctl with the x32 bit set, through the ordinary syscall instruction.
            x32 = ("import ctypes\n"
                   "libc = ctypes.CDLL(None, use_errno=True)\n"
                   "r = libc.syscall(ctypes.c_long(0x40000000 | 250), ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(0))\n"
                   "print('returned', r, 'errno', ctypes.get_errno(), flush=True)\n")
            for label, child in [('i386 keyctl via int 0x80', i386), ('x32 keyctl', x32)]:
                r = subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)
                how = f'killed by signal {-r.returncode}' if r.returncode < 0 else f'exited {r.returncode}'
                print('=>', label + ':', how, '|', (r.stdout + r.stderr).strip()[-120:])
            """,
            contains: ["i386 keyctl via int 0x80: killed by signal 31", "x32 keyctl: killed by signal 31"],
            expected: "each child is killed by SIGSYS (31) before the call runs");

        yield return new SecurityCase(Privilege, "signal the server by its host pid, then kill(-1, SIGKILL) every process it can", "pid namespace",
            "ESRCH for the server's pid; kill(-1) ends only the sandbox's own processes (crashed); the server and the witness go on", async context =>
            {
                int serverPid = Environment.ProcessId;
                var probe = await context.RunAsync(Prelude.Python + $$"""
                    import signal
                    attempt('kill(server pid {{serverPid}}, 0)', os.kill, {{serverPid}}, 0)
                    attempt('kill(server pid {{serverPid}}, SIGTERM)', os.kill, {{serverPid}}, signal.SIGTERM)
                    """);
                SecurityCase.AssertExec(probe, "ok", [$"kill(server pid {serverPid}, 0): ProcessLookupError ESRCH", $"kill(server pid {serverPid}, SIGTERM): ProcessLookupError ESRCH"], ["SUCCEEDED"]);
                var massacre = await context.RunAsync("import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import os, signal; os.kill(-1, signal.SIGKILL)'])\nprint('survived')", 15);
                Assert.True(massacre.Status == "crashed", massacre.ToString());
                var next = await context.RunAsync("print('=> alive:', 'yes')");
                SecurityCase.AssertExec(next, "ok", ["alive: yes"], []);
                return $"{probe.Describe()}; kill(-1): status {massacre.Status} ({massacre.ErrorValue}); next execution OK";
            });

        yield return SecurityCase.Python(Privilege, "inject keystrokes with the TIOCSTI ioctl; open the controlling terminal", "seccomp + new session (no controlling terminal)",
            Prelude.Python + """
            import fcntl, termios
            attempt('ioctl(0, TIOCSTI) (ENOTTY unless filtered)', fcntl.ioctl, 0, termios.TIOCSTI, b'x')
            attempt('ioctl(1, TIOCSTI)', fcntl.ioctl, 1, termios.TIOCSTI, b'x')
            attempt('open /dev/tty', os.open, '/dev/tty', os.O_RDWR)
            """,
            contains: ["ioctl(0, TIOCSTI) (ENOTTY unless filtered): PermissionError EPERM", "ioctl(1, TIOCSTI): PermissionError EPERM", "open /dev/tty: OSError ENXIO"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Privilege, "run setuid-root binaries (su, passwd, newgrp, chfn) to gain root", "NoNewPrivs + nosuid mounts + unmapped root",
            """
            import os, subprocess, time
            for binary, args in [('/usr/bin/passwd', []), ('/usr/bin/su', ['root']), ('/usr/bin/newgrp', ['root']), ('/usr/bin/chfn', [])]:
                p = subprocess.Popen([binary] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                name, euid = os.path.basename(binary), None
                deadline = time.time() + 5
                while euid is None and p.poll() is None and time.time() < deadline:
                    try:
                        if open(f'/proc/{p.pid}/comm').read().strip() == name:
                            euid = [l for l in open(f'/proc/{p.pid}/status') if l.startswith('Uid:')][0].split()[2]
                    except OSError:
                        pass
                p.kill()
                out = p.communicate()[0].decode(errors='replace').strip().replace('\n', ' ')[:70]
                print('=>', name + ':', f'ran with euid {euid}' if euid else f'exited {p.returncode} first', '|', out)
            usr = [l.split()[5] for l in open('/proc/self/mountinfo') if l.split()[4] == '/usr'][0]
            print('=> /usr mounted', usr)
            print('=> the host root owns /usr/bin/su as uid', os.stat('/usr/bin/su').st_uid)
            """,
            contains: ["ran with euid 1000", "/usr mounted ro,nosuid,nodev", "owns /usr/bin/su as uid 65534"],
            expected: "every setuid binary caught running does so with euid 1000 (never 0, nor the unmapped 65534); /usr is nosuid",
            absent: ["euid 0 ", "euid 65534"]);

        yield return SecurityCase.Python(Privilege, "NoNewPrivs and the seccomp mode of the sandboxed process", "bubblewrap (PR_SET_NO_NEW_PRIVS) + seccomp",
            """
            status = {l.split(':')[0]: l.split(':')[1].strip() for l in open('/proc/self/status') if ':' in l}
            print('=> NoNewPrivs:', status['NoNewPrivs'], 'Seccomp:', status['Seccomp'], 'Seccomp_filters:', status.get('Seccomp_filters'))
            """,
            contains: ["NoNewPrivs: 1 Seccomp: 2"]);

        yield return new SecurityCase(Privilege, "which host uid the sandbox really runs as", "unprivileged host uid per workspace (setpriv)",
            "every process of the sandbox runs as one unprivileged host uid ≥ 200000 that no host account uses; the workspace belongs to it", async context =>
            {
                var sandbox = await HostView.LocateAsync(context, context.Fixture.AttackerSessionId, context.Red);
                var hostUids = File.ReadLines("/etc/passwd").Select(l => l.Split(':')).Where(f => f.Length > 2).Select(f => int.Parse(f[2], CultureInfo.InvariantCulture)).ToHashSet();
                Assert.True(sandbox.HostUid >= 200_000, $"the sandbox runs as host uid {sandbox.HostUid}");
                Assert.DoesNotContain(sandbox.HostUid, hostUids);
                Assert.All(sandbox.Processes, p => Assert.Equal(sandbox.HostUid, p.Uid));
                var inside = await context.RunAsync("import os\nprint('=> inside: uid', os.getuid(), 'gid', os.getgid(), 'groups', os.getgroups())");
                SecurityCase.AssertExec(inside, "ok", ["inside: uid 1000 gid 1000 groups []"], []);
                return $"host uid {sandbox.HostUid} (no host account) for all {sandbox.Processes.Count} processes: "
                    + string.Join(", ", sandbox.Processes.Select(p => p.CommandLine.Split(' ')[0])) + "; " + inside.Describe();
            });
    }
}
