using System.Net;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Escape = "filesystem write and escape";

    private static IEnumerable<SecurityCase> FilesystemEscape()
    {
        yield return SecurityCase.Python(Escape, "overwrite /etc/passwd and the runner itself", "mount namespace (read-only binds) + unprivileged uid (the files are not its own)",
            Prelude.Python + """
            attempt('append to /etc/passwd', lambda: open('/etc/passwd', 'a').write('evil::0:0::/:/bin/sh\n'))
            attempt('truncate /etc/passwd', lambda: open('/etc/passwd', 'w').write('evil::0:0::/:/bin/sh\n'))
            attempt('overwrite the runner', lambda: open('/opt/vivarium/vivarium_runner.py', 'w').write('pwned'))
            attempt('chmod the runner', os.chmod, '/opt/vivarium/vivarium_runner.py', 0o777)
            """,
            contains: ["append to /etc/passwd: PermissionError EACCES", "truncate /etc/passwd: OSError EROFS", "overwrite the runner: OSError EROFS", "chmod the runner: OSError EROFS"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "write into /usr (plant a sitecustomize, chmod python)", "mount namespace (read-only /usr)",
            Prelude.Python + """
            attempt('create /usr/lib/python3/dist-packages/sitecustomize.py', lambda: open('/usr/lib/python3/dist-packages/sitecustomize.py', 'w'))
            attempt('mkdir /usr/local/evil', os.mkdir, '/usr/local/evil')
            attempt('chmod /usr/bin/python3', os.chmod, '/usr/bin/python3.11', 0o4777)
            """,
            contains: ["create /usr/lib/python3/dist-packages/sitecustomize.py: OSError EROFS", "mkdir /usr/local/evil: OSError EROFS",
                "chmod /usr/bin/python3: OSError EROFS"],
            absent: ["SUCCEEDED"]);

        yield return new SecurityCase(Escape, "write outside the workspace (/, /tmp) and look for it on the host", "mount namespace (private root and /tmp)",
            "whatever the sandbox may write outside /home/user stays in its own tmpfs: nothing appears on the host", async context =>
            {
                var token = "escape-" + HostCanaries.NewToken()[..12];
                var exec = await context.RunAsync(Prelude.Python + $$"""
                    for path in ['/{{token}}', '/tmp/{{token}}', '/dev/shm/{{token}}', '/home/{{token}}', '/home/user/../../{{token}}']:
                        attempt('write ' + path, lambda p=path: open(p, 'w').write('x'))
                    """);
                Assert.Equal("ok", exec.Status);
                var onHost = new[] { $"/{token}", $"/tmp/{token}", $"/dev/shm/{token}", $"/home/{token}" }.Where(File.Exists).ToList();
                Assert.True(onHost.Count == 0, "written on the host: " + string.Join(", ", onHost));
                await context.RunAsync($"import os\nfor p in ['/{token}', '/tmp/{token}', '/dev/shm/{token}', '/home/{token}']:\n    os.path.exists(p) and os.unlink(p)");
                return exec.Describe() + "; none of them exists on the host";
            });

        yield return SecurityCase.Python(Escape, "hard-link a file from outside into the workspace", "workspace quota (own ext4 filesystem)",
            Prelude.Python + """
            attempt('link /etc/passwd', os.link, '/etc/passwd', '/home/user/passwd-link')
            attempt('link the runner', os.link, '/opt/vivarium/vivarium_runner.py', '/home/user/runner-link')
            open('/tmp/inside-tmp', 'w').close()
            attempt('link from /tmp', os.link, '/tmp/inside-tmp', '/home/user/tmp-link')
            """,
            contains: ["link /etc/passwd: OSError EXDEV", "link the runner: OSError EXDEV", "link from /tmp: OSError EXDEV"],
            absent: ["SUCCEEDED"]);

        yield return new SecurityCase(Escape, "files API: download a workspace symlink to /etc/passwd", "files API path check (runner realpath)",
            "400 invalid_path; no passwd line in the answer", async context =>
            {
                var exec = await context.RunAsync("import os\nos.path.lexists('leak-passwd') or os.symlink('/etc/passwd', 'leak-passwd')");
                Assert.Equal("ok", exec.Status);
                var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Get, $"/v1/sessions/{context.Fixture.AttackerSessionId}/files/leak-passwd");
                Assert.True(status == HttpStatusCode.BadRequest && body.Contains("\"invalid_path\"", StringComparison.Ordinal), $"{(int)status}: {body}");
                Assert.DoesNotContain(":x:0:0:", body, StringComparison.Ordinal);
                await context.RunAsync("import os\nos.unlink('leak-passwd')");
                return $"{(int)status} invalid_path: {Detail(body)}";
            });

        yield return new SecurityCase(Escape, "files API: download a workspace symlink to the host canary path", "files API path check (runner realpath) + mount namespace",
            "400 invalid_path; the canary never appears", async context =>
            {
                var exec = await context.RunAsync($"import os\nos.path.lexists('leak-canary') or os.symlink('{context.Canaries.FilePath}', 'leak-canary')\nos.path.lexists('leak-state') or os.symlink('{context.Canaries.StateFilePath}', 'leak-state')");
                Assert.Equal("ok", exec.Status);
                var results = new List<string>();
                foreach (var name in new[] { "leak-canary", "leak-state" })
                {
                    var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Get, $"/v1/sessions/{context.Fixture.AttackerSessionId}/files/{name}");
                    Assert.True(status == HttpStatusCode.BadRequest && body.Contains("\"invalid_path\"", StringComparison.Ordinal), $"{name}: {(int)status}: {body}");
                    results.Add($"{name}: {(int)status} invalid_path");
                }
                await context.RunAsync("import os\nos.unlink('leak-canary'); os.unlink('leak-state')");
                return string.Join("; ", results);
            });

        yield return new SecurityCase(Escape, "files API: PUT and multipart upload through a symlinked directory", "files API path check (runner realpath)",
            "400 invalid_path for each; nothing written in the sandbox's /tmp or on the host", async context =>
            {
                var token = "put-" + HostCanaries.NewToken()[..12];
                var id = context.Fixture.AttackerSessionId;
                var exec = await context.RunAsync("import os\nfor name, target in [('outdir', '/tmp'), ('rootdir', '/')]:\n    os.path.lexists(name) or os.symlink(target, name)");
                Assert.Equal("ok", exec.Status);
                var results = new List<string>();
                foreach (var path in new[] { $"outdir/{token}", $"rootdir/tmp/{token}", $"rootdir/etc/{token}", $"outdir/sub/{token}" })
                {
                    var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Put, $"/v1/sessions/{id}/files/{path}", new ByteArrayContent("pwned"u8.ToArray()));
                    Assert.True(status == HttpStatusCode.BadRequest && body.Contains("\"invalid_path\"", StringComparison.Ordinal), $"PUT {path}: {(int)status}: {body}");
                    results.Add($"PUT {path}: {(int)status}");
                }
                using var form = new MultipartFormDataContent { { new ByteArrayContent("pwned"u8.ToArray()), "file", token } };
                form.Add(new StringContent("outdir/"), "path");
                var (formStatus, formBody, _) = await context.SendAsync(context.Red, HttpMethod.Post, $"/v1/sessions/{id}/files", form);
                Assert.True(formStatus == HttpStatusCode.BadRequest && formBody.Contains("\"invalid_path\"", StringComparison.Ordinal), $"multipart: {(int)formStatus}: {formBody}");
                results.Add($"multipart into outdir/: {(int)formStatus}");

                var check = await context.RunAsync($"import os\nprint('=> written inside:', [p for p in ['/tmp/{token}', '/etc/{token}', '/tmp/sub'] if os.path.exists(p)])\nos.unlink('outdir'); os.unlink('rootdir')");
                SecurityCase.AssertExec(check, "ok", ["written inside: []"], []);
                Assert.False(File.Exists($"/tmp/{token}") || File.Exists($"/etc/{token}"), "the upload reached the host");
                return string.Join("; ", results) + "; nothing written inside or on the host";
            });

        yield return new SecurityCase(Escape, "files API: list through a symlink to /", "files API (the runner does not follow directory symlinks)",
            "the listing shows no file outside the workspace", async context =>
            {
                var id = context.Fixture.AttackerSessionId;
                var exec = await context.RunAsync("import os\nos.path.lexists('hostroot') or os.symlink('/', 'hostroot')\nos.path.lexists('etc-passwd') or os.symlink('/etc/passwd', 'etc-passwd')");
                Assert.Equal("ok", exec.Status);
                var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Get, $"/v1/sessions/{id}/files");
                Assert.Equal(HttpStatusCode.OK, status);
                Assert.DoesNotContain("hostroot/", body, StringComparison.Ordinal);
                Assert.DoesNotContain("etc-passwd", body, StringComparison.Ordinal);
                await context.RunAsync("import os\nos.unlink('hostroot'); os.unlink('etc-passwd')");
                return $"listing: {CaseContext.Shorten(body, 200)}";
            });

        yield return new SecurityCase(Escape, "files API: delete the runner through a workspace symlink", "files API path check (runner realpath) + read-only bind",
            "400 invalid_path; the runner is intact", async context =>
            {
                var id = context.Fixture.AttackerSessionId;
                await context.RunAsync("import os\nos.path.lexists('victim') or os.symlink('/opt/vivarium/vivarium_runner.py', 'victim')");
                var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Delete, $"/v1/sessions/{id}/files/victim");
                Assert.True(status == HttpStatusCode.BadRequest && body.Contains("\"invalid_path\"", StringComparison.Ordinal), $"{(int)status}: {body}");
                var check = await context.RunAsync("import os\nprint('=> runner size:', os.path.getsize('/opt/vivarium/vivarium_runner.py') > 1000)\nos.unlink('victim')");
                SecurityCase.AssertExec(check, "ok", ["runner size: True"], []);
                return $"DELETE victim: {(int)status} invalid_path; runner intact";
            });

        yield return new SecurityCase(Escape, "files API: ../ and absolute paths from the client", "files API path check (server WorkspacePath)",
            "400 invalid_path before anything reaches the sandbox", async context =>
            {
                var id = context.Fixture.AttackerSessionId;
                var results = new List<string>();
                foreach (var (method, path) in new[] { (HttpMethod.Get, "..%2F..%2F..%2Fetc%2Fpasswd"), (HttpMethod.Get, "%2Fetc%2Fpasswd"),
                    (HttpMethod.Put, "a%2F..%2F..%2Fescape.txt"), (HttpMethod.Put, "%2Ftmp%2Fescape.txt"), (HttpMethod.Delete, "..%2Fworkspaces") })
                {
                    var (status, body, _) = await context.SendAsync(context.Red, method, $"/v1/sessions/{id}/files/{path}",
                        method == HttpMethod.Put ? new ByteArrayContent("x"u8.ToArray()) : null);
                    Assert.True(status == HttpStatusCode.BadRequest && body.Contains("\"invalid_path\"", StringComparison.Ordinal), $"{method} {path}: {(int)status}: {body}");
                    results.Add($"{method} {path}: {(int)status}");
                }
                return string.Join("; ", results);
            });

        yield return new SecurityCase(Escape, "files API: subvert it from inside (patch the runner's path check) and download host files", "mount namespace (the files API is served inside the sandbox)",
            "the runner shares the interpreter with user code, so its check can be patched away; the API then serves only the sandbox's own view: the generated /etc/passwd, 404 for /etc/shadow and both canaries", async context =>
            {
                var id = context.Fixture.AttackerSessionId;
                var patch = await context.RunAsync($$"""
                    import gc, os
                    gc.unfreeze()  # the runner keeps its start-up objects out of gc's view; an attacker brings them back
                    operations = next(o for o in gc.get_objects() if type(o).__name__ == 'FileOperations')
                    runner_globals = type(operations).read_file.__globals__
                    _vivarium_original_resolve = runner_globals['resolve_workspace_path']
                    targets = {'x-passwd': '/etc/passwd', 'x-shadow': '/etc/shadow', 'x-canary': '{{context.Canaries.FilePath}}', 'x-state': '{{context.Canaries.StateFilePath}}'}
                    def patched(path, must_exist=False):
                        real = targets.get(path, os.path.join('/home/user', path))
                        if must_exist and not os.path.lexists(real):
                            raise FileNotFoundError(path)
                        return real
                    runner_globals['resolve_workspace_path'] = patched
                    print('=> the runner\'s path check is replaced')
                    """);
                SecurityCase.AssertExec(patch, "ok", ["the runner's path check is replaced"], []);
                var results = new List<string>();
                try
                {
                    var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Get, $"/v1/sessions/{id}/files/x-passwd");
                    Assert.Equal(HttpStatusCode.OK, status);
                    var accounts = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[0]).ToList();
                    Assert.Equal(["root", "user", "nobody"], accounts);
                    results.Add($"x-passwd → 200, the sandbox's own passwd ({string.Join(",", accounts)})");
                    foreach (var name in new[] { "x-shadow", "x-canary", "x-state" })
                    {
                        var (s, b, _) = await context.SendAsync(context.Red, HttpMethod.Get, $"/v1/sessions/{id}/files/{name}");
                        Assert.True(s == HttpStatusCode.NotFound && b.Contains("\"file_not_found\"", StringComparison.Ordinal), $"{name}: {(int)s} {b}");
                        results.Add($"{name} → 404 file_not_found");
                    }
                }
                finally
                {
                    var restore = await context.RunAsync("runner_globals['resolve_workspace_path'] = _vivarium_original_resolve\nprint('=> restored')");
                    SecurityCase.AssertExec(restore, "ok", ["restored"], []);
                }
                return string.Join("; ", results);
            });

        yield return SecurityCase.Python(Escape, "write /proc/sys and /proc/sysrq-trigger (core_pattern, drop_caches)", "unprivileged uid (the files belong to the host's root)",
            Prelude.Python + """
            for path in ['/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sysrq-trigger', '/proc/sys/kernel/hostname']:
                attempt('open for writing ' + path, lambda p=path: os.close(os.open(p, os.O_WRONLY)))
            """,
            contains: ["core_pattern: PermissionError EACCES", "drop_caches: PermissionError EACCES", "hostname: PermissionError EACCES", "sysrq-trigger: "],
            expected: "PermissionError EACCES for each /proc/sys file; /proc/sysrq-trigger refused or absent",
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "open host devices (/dev/mem, /dev/kmsg, the disk, loop devices)", "mount namespace (minimal /dev)",
            Prelude.Python + """
            print('=> /dev holds:', sorted(os.listdir('/dev')))
            for path in ['/dev/mem', '/dev/kmsg', '/dev/vda', '/dev/sda', '/dev/loop0', '/dev/fuse', '/dev/kvm']:
                attempt('open ' + path, lambda p=path: os.close(os.open(p, os.O_RDONLY)))
            """,
            contains: ["open /dev/mem: FileNotFoundError ENOENT", "open /dev/vda: FileNotFoundError ENOENT", "open /dev/loop0: FileNotFoundError ENOENT",
                "/dev holds: ['core', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "mknod the host's disk as a block device", "unprivileged uid + cap-drop (no CAP_MKNOD)",
            Prelude.Python + """
            import stat
            attempt('mknod block 254:0', os.mknod, '/tmp/disk', stat.S_IFBLK | 0o600, os.makedev(254, 0))
            attempt('mknod char 1:1 (/dev/mem)', os.mknod, '/home/user/mem', stat.S_IFCHR | 0o600, os.makedev(1, 1))
            """,
            contains: ["mknod block 254:0: PermissionError EPERM", "mknod char 1:1 (/dev/mem): PermissionError EPERM"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "mount a filesystem and unmount the workspace (ctypes and /usr/bin/mount)", "seccomp",
            Prelude.Python + """
            attempt('mount(tmpfs)', lambda: sys_call('mount', b'none', b'/tmp', b'tmpfs', 0, 0))
            attempt('mount(bind / onto /tmp)', lambda: sys_call('mount', b'/', b'/tmp', 0, 4096, 0))
            attempt('umount2(/home/user)', lambda: sys_call('umount2', b'/home/user', 2))
            r = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/tmp'], capture_output=True, text=True)
            print('=> /usr/bin/mount:', 'refused' if r.returncode else 'SUCCEEDED', r.stderr.strip()[:100])
            """,
            contains: ["mount(tmpfs): PermissionError EPERM", "mount(bind / onto /tmp): PermissionError EPERM", "umount2(/home/user): PermissionError EPERM", "/usr/bin/mount: refused"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "unshare new namespaces (ctypes and /usr/bin/unshare)", "seccomp (EPERM; --disable-userns alone would say ENOSPC)",
            Prelude.Python + """
            attempt('unshare(CLONE_NEWUSER)', lambda: sys_call('unshare', 0x10000000))
            attempt('unshare(CLONE_NEWNS)', lambda: sys_call('unshare', 0x00020000))
            attempt('unshare(CLONE_NEWNET)', lambda: sys_call('unshare', 0x40000000))
            r = subprocess.run(['unshare', '-r', 'id'], capture_output=True, text=True)
            print('=> /usr/bin/unshare -r:', 'refused' if r.returncode else 'SUCCEEDED', r.stderr.strip()[:100])
            """,
            contains: ["unshare(CLONE_NEWUSER): PermissionError EPERM", "unshare(CLONE_NEWNS): PermissionError EPERM", "unshare(CLONE_NEWNET): PermissionError EPERM", "/usr/bin/unshare -r: refused"],
            absent: ["SUCCEEDED", "uid=0"]);

        yield return SecurityCase.Python(Escape, "chroot and pivot_root", "seccomp",
            Prelude.Python + """
            attempt('chroot(/tmp)', lambda: sys_call('chroot', b'/tmp'))
            attempt('os.chroot(/home/user)', os.chroot, '/home/user')
            os.makedirs('/tmp/newroot/old', exist_ok=True)
            attempt('pivot_root', lambda: sys_call('pivot_root', b'/tmp/newroot', b'/tmp/newroot/old'))
            """,
            contains: ["chroot(/tmp): PermissionError EPERM", "os.chroot(/home/user): PermissionError EPERM", "pivot_root: PermissionError EPERM"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "join or create namespaces: setns on /proc/1/ns/*, clone(CLONE_NEWNET|CLONE_NEWPID)", "seccomp",
            Prelude.Python + """
            for ns in ['mnt', 'net', 'pid', 'user']:
                fd = os.open(f'/proc/1/ns/{ns}', os.O_RDONLY)
                attempt(f'setns({ns})', lambda: sys_call('setns', fd, 0))
                os.close(fd)
            attempt('clone(CLONE_NEWNET)', lambda: sys_call('clone', 0x40000000 | 17, 0, 0, 0, 0))
            attempt('clone(CLONE_NEWPID)', lambda: sys_call('clone', 0x20000000 | 17, 0, 0, 0, 0))
            """,
            contains: ["setns(mnt): PermissionError EPERM", "setns(user): PermissionError EPERM", "clone(CLONE_NEWNET): PermissionError EPERM", "clone(CLONE_NEWPID): PermissionError EPERM"],
            absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Escape, "open files by handle (the 'shocker' escape)", "seccomp",
            Prelude.Python + """
            handle = ctypes.create_string_buffer(128 + 8)
            ctypes.memmove(handle, (128).to_bytes(4, 'little'), 4)
            mount_id = ctypes.c_int(0)
            attempt('name_to_handle_at(/etc/passwd)', lambda: sys_call('name_to_handle_at', -100, b'/etc/passwd', handle, ctypes.byref(mount_id), 0))
            attempt('open_by_handle_at', lambda: sys_call('open_by_handle_at', os.open('/usr', os.O_RDONLY), handle, 0))
            """,
            contains: ["name_to_handle_at(/etc/passwd): PermissionError EPERM", "open_by_handle_at: PermissionError EPERM"], absent: ["SUCCEEDED"]);
    }

    private static string Detail(string problemJson)
    {
        try
        {
            return System.Text.Json.JsonDocument.Parse(problemJson).RootElement.GetProperty("detail").GetString() ?? "";
        }
        catch (System.Text.Json.JsonException)
        {
            return CaseContext.Shorten(problemJson, 120);
        }
    }
}
