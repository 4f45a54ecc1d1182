namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Exfiltration = "exfiltration of the server's secrets";

    private static IEnumerable<SecurityCase> ServerExfiltration()
    {
        yield return SecurityCase.Python(Exfiltration, "read the server's environment through os.environ", "allow-listed environment (--clearenv)",
            $$"""
            import os
            allowed = {'HOME', 'PATH', 'LANG', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'MPLCONFIGDIR', 'MPLBACKEND', 'XDG_CACHE_HOME', 'IPYTHONDIR',
                       'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'}
            print(dict(os.environ))  # printed in full: a leaked server secret would reach the answer
            print('=> variables:', len(os.environ), '; outside the allow-list:', sorted(set(os.environ) - allowed),
                  '; the canary variable present:', '{{HostCanaries.EnvironmentVariableName}}' in os.environ)
            """,
            contains: ["outside the allow-list: [] ; the canary variable present: False"]);

        yield return SecurityCase.Python(Exfiltration, "read bubblewrap's environment and command line at /proc/1", "empty environment for bubblewrap",
            """
            env = open('/proc/1/environ', 'rb').read().split(b'\0')
            print('=> /proc/1/environ:', [e.decode() for e in env if e])
            cmd = open('/proc/1/cmdline', 'rb').read().split(b'\0')
            host_paths = sorted({a.decode() for a in cmd if a.startswith(b'/') and not a.startswith((b'/usr', b'/etc', b'/proc', b'/dev', b'/tmp/matplotlib', b'/home/user', b'/opt/vivarium', b'/lib', b'/bin', b'/sbin', b'/tmp'))})
            print('note: host paths named on bubblewrap\'s command line:', host_paths)
            """,
            // In fork-server mode pid 1 is a fork of the zygote, started with the sandbox's own allow-list.
            contains: [SecurityFixture.ForkServer ? "/proc/1/environ: ['HOME=/home/user', 'IPYTHONDIR=/tmp/.ipython', 'LANG=C.UTF-8'" : "/proc/1/environ: ['PWD=/']"],
            absent: ["DOTNET", "ASPNETCORE", "VIVARIUM_SECURITY"]);

        yield return new SecurityCase(Exfiltration, "read the server's state directory, audit log and appsettings", "mount namespace",
            "FileNotFoundError for each (the directory's path can be learnt from /proc/self/mountinfo, its contents cannot be reached)", async context =>
            {
                var state = context.Fixture.StateDirectory;
                var appDirectory = AppContext.BaseDirectory.TrimEnd('/');
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    attempt('list the state directory', os.listdir, '{{state}}')
                    attempt('read the state canary', lambda: open('{{context.Canaries.StateFilePath}}').read())
                    attempt('read the audit log', lambda: open('{{state}}/audit.db', 'rb').read(64))
                    attempt('list the workspaces', os.listdir, '{{state}}/workspaces')
                    attempt('read appsettings.json', lambda: open('{{appDirectory}}/appsettings.json').read())
                    attempt('list the server binaries', os.listdir, '{{appDirectory}}')
                    print('note: state directory named in mountinfo:', '{{state}}' in open('/proc/self/mountinfo').read())
                    """);
                SecurityCase.AssertExec(exec, "ok", ["list the state directory: FileNotFoundError ENOENT", "read the state canary: FileNotFoundError ENOENT",
                    "read the audit log: FileNotFoundError ENOENT", "list the workspaces: FileNotFoundError ENOENT", "list the server binaries: FileNotFoundError ENOENT"], ["SUCCEEDED"]);
                var note = exec.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("note:", StringComparison.Ordinal)) ?? "";
                return exec.Describe() + (note.Length > 0 ? " (" + note + ")" : "");
            });
    }
}
