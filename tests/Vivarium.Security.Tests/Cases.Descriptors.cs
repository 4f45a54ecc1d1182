namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Descriptors = "file descriptors";

    /// <summary>Targets a descriptor inside the sandbox may point at: nothing on the host outside its view.</summary>
    private const string AllowedTargets = """
        def inside_view(target):
            return (target.startswith(('pipe:[', 'anon_inode:', 'socket:[', '/dev/null', '/dev/pts/', '/proc/'))
                    or any(target == p or target.startswith(p + '/') for p in ('/home/user', '/tmp', '/dev/shm', '/usr', '/opt/vivarium')))

        """;

    private static IEnumerable<SecurityCase> FileDescriptors()
    {
        yield return new SecurityCase(Descriptors, "descriptors a fresh interpreter holds (/proc/self/fd)", "close-on-exec + the runner's own set-up",
            "a handful: stdio, the protocol pair and the output pipes; none points at a host path", async context =>
            {
                var id = await context.NewSessionAsync(context.Red);
                var exec = await context.RunAsync(AllowedTargets + """
                    import os
                    fds = {}
                    for fd in sorted(os.listdir('/proc/self/fd'), key=int):
                        try:
                            fds[int(fd)] = os.readlink(f'/proc/self/fd/{fd}')
                        except OSError:
                            pass  # the descriptor listdir itself used, already closed
                    print('=> fds:', ', '.join(f'{k}->{v.split("[")[0]}' for k, v in fds.items()))
                    print('=> count:', len(fds), '; outside the sandbox view:', [t for t in fds.values() if not inside_view(t)])
                    """, 15, id, context.Red);
                SecurityCase.AssertExec(exec, "ok", ["outside the sandbox view: []", "0->/dev/null"], []);
                int count = int.Parse(exec.Verdicts[1].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(count <= 12, $"{count} descriptors");
                Assert.DoesNotContain(context.Fixture.StateDirectory, exec.Stdout, StringComparison.Ordinal);
                return exec.Describe();
            });

        yield return SecurityCase.Python(Descriptors, "descriptors of every process in the sandbox, bubblewrap's included", "pid namespace + bubblewrap closes what it opened",
            AllowedTargets + """
            import os
            found, outside = {}, []
            for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
                try:
                    fds = os.listdir(f'/proc/{pid}/fd')
                except OSError as e:
                    found[int(pid)] = type(e).__name__; continue
                targets = []
                for fd in fds:
                    try:
                        t = os.readlink(f'/proc/{pid}/fd/{fd}')
                    except OSError:
                        continue
                    targets.append(t)
                    if not inside_view(t):
                        outside.append((pid, fd, t))
                    elif os.path.isdir(f'/proc/{pid}/fd/{fd}') and not t.startswith('/proc/'):
                        print('directory descriptor', pid, fd, t, os.listdir(f'/proc/{pid}/fd/{fd}')[:5])
                found[int(pid)] = sorted(t.split('[')[0] for t in targets)
            print('=> pid 1 (bwrap) holds:', found.get(1))
            print('=> descriptors outside the sandbox view:', outside)
            """,
            contains: ["pid 1 (bwrap) holds: ['anon_inode:', 'pipe:', 'pipe:', 'pipe:']", "descriptors outside the sandbox view: []"]);
    }
}
