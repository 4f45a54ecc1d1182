using System.Diagnostics;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Exhaustion = "exhaustion";

    private static IEnumerable<SecurityCase> ResourceExhaustion()
    {
        yield return new SecurityCase(Exhaustion, "fork bomb (a shell bomb plus Python forking)", "cgroup pids",
            $"forks fail with EAGAIN at {SecurityFixture.MaxProcesses} tasks; the host's pids controller counts the refusals", async context =>
            {
                long before = HostView.PidsMaxEvents(context.Fixture.StateDirectory);
                var exec = await context.RunAsync(Prelude.Python + """
                    def tasks():
                        n = 0
                        for p in os.listdir('/proc'):
                            if p.isdigit():
                                try:
                                    n += len(os.listdir(f'/proc/{p}/task'))
                                except OSError:
                                    pass
                        return n
                    baseline = tasks()
                    bomb = subprocess.Popen(['timeout', '-s', 'KILL', '4', 'sh', '-c', 'f() { f | f & }; f; wait'],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    # Python forks too, keeping every child, until the kernel says no.
                    release_r, release_w = os.pipe()
                    held, refused, deadline = [], None, time.time() + 20  # generous: the machine may be busy
                    while refused is None and time.time() < deadline:
                        try:
                            pid = os.fork()
                        except BlockingIOError as e:
                            refused = e
                            break
                        if pid == 0:
                            os.close(release_w)
                            os.read(release_r, 1)
                            os._exit(0)
                        held.append(pid)
                    peak = tasks()
                    os.close(release_w)
                    for pid in held:
                        os.waitpid(pid, 0)
                    bomb.wait()
                    drained = time.time() + 30
                    while tasks() > baseline and time.time() < drained:
                        time.sleep(0.05)
                    print('=> fork refused with', _describe(refused) if refused else 'nothing', f'after {len(held)} children; tasks at that moment {peak}; left after the bomb: {tasks() - baseline}')
                    print('=> peak within the limit:', peak <= 64)
                    """, 90);
                SecurityCase.AssertExec(exec, "ok", ["fork refused with BlockingIOError EAGAIN", "peak within the limit: True", "left after the bomb: 0"], []);
                long after = HostView.PidsMaxEvents(context.Fixture.StateDirectory);
                Assert.True(after > before, $"pids.events max did not rise ({before} → {after})");
                return exec.Describe() + $"; host pids.events 'max' +{after - before}";
            });

        yield return new SecurityCase(Exhaustion, "raise the session's own limits through the API (8 GiB, 10,000 processes, 2 cores)", "session limits (the server's are a ceiling: a client can only lower them)",
            $"400 invalid_request, or the sandbox's cgroups hold at most the server's limits ({SecurityFixture.MemoryLimitBytes / (1024 * 1024)} MiB, {SecurityFixture.MaxProcesses} processes, 1 core)", async context =>
            {
                var request = System.Net.Http.Json.JsonContent.Create(new { limits = new { memory_bytes = 8L * 1024 * 1024 * 1024, max_processes = 10_000, cpu_cores = 2.0 } });
                var (status, body, _) = await context.SendAsync(context.Red, HttpMethod.Post, "/v1/sessions", request);
                if (status == System.Net.HttpStatusCode.BadRequest)
                {
                    Assert.Contains("\"invalid_request\"", body, StringComparison.Ordinal);
                    return $"400 invalid_request: {Detail(body)}";
                }
                Assert.True(status == System.Net.HttpStatusCode.Created, $"{(int)status}: {body}");
                var id = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
                context.Track(context.Red, id);
                var sandbox = await HostView.LocateAsync(context, id, context.Red);
                var runner = sandbox.Processes.First(p => p.CommandLine.Contains("vivarium_runner.py", StringComparison.Ordinal) && !p.CommandLine.Contains("bwrap", StringComparison.Ordinal));
                var (memory, processes, cores) = HostView.CgroupLimits(runner.Pid);
                var observed = $"201 Created; the sandbox's cgroups: memory {memory / (1024 * 1024)} MiB, {processes} processes, {cores:0.##} cores";
                Assert.True(memory <= SecurityFixture.MemoryLimitBytes && processes <= SecurityFixture.MaxProcesses && cores <= 1.0, observed);
                return observed;
            });

        yield return SecurityCase.Python(Exhaustion, "thread bomb", "cgroup pids",
            """
            import threading
            stop, threads, error = threading.Event(), [], None
            try:
                while len(threads) < 10_000:
                    t = threading.Thread(target=stop.wait)
                    t.start()
                    threads.append(t)
            except RuntimeError as e:
                error = e
            stop.set()
            for t in threads:
                t.join()
            print('=> started', len(threads), 'threads, then:', error)
            print('=> under the limit:', len(threads) < 64)
            """,
            contains: ["then: can't start new thread", "under the limit: True"]);

        yield return new SecurityCase(Exhaustion, "memory bomb", "cgroup memory",
            "status crashed, error OutOfMemory; the session's next execution works", async context =>
            {
                var exec = await context.RunAsync("""
                    chunks = []
                    while True:
                        chunks.append(b'\x01' * (64 * 1024 * 1024))
                    """, 30);
                Assert.True(exec.Status == "crashed" && exec.ErrorName == "OutOfMemory", exec.ToString());
                var next = await context.RunAsync("print('=> alive after the crash:', 6 * 7)");
                SecurityCase.AssertExec(next, "ok", ["alive after the crash: 42"], []);
                return exec.Describe() + "; next: " + next.Describe();
            });

        yield return SecurityCase.Python(Exhaustion, "fill the workspace disk", "workspace quota (ext4)",
            Prelude.Python + """
            import shutil
            os.makedirs('fill', exist_ok=True)
            chunk, written, error, i = b'\x02' * (1024 * 1024), 0, None, 0
            try:
                while written < 512 * 1024 * 1024:
                    with open(f'fill/{i}', 'wb') as f:
                        for _ in range(8):
                            f.write(chunk); written += len(chunk)
                    i += 1
            except OSError as e:
                error = e
            print('=> stopped by', _describe(error), 'after', written // (1024 * 1024), 'MiB')
            print('=> within the quota:', written <= 64 * 1024 * 1024)
            shutil.rmtree('fill')
            open('after-cleanup.txt', 'w').write('ok'); os.unlink('after-cleanup.txt')
            print('=> writable again after cleanup')
            """,
            contains: ["stopped by OSError ENOSPC", "within the quota: True", "writable again after cleanup"], timeout: 30);

        yield return SecurityCase.Python(Exhaustion, "exhaust the workspace's inodes", "workspace quota (ext4 inodes)",
            Prelude.Python + """
            import shutil
            os.makedirs('inodes', exist_ok=True)
            count, error = 0, None
            try:
                while count < 1_000_000:
                    os.close(os.open(f'inodes/{count}', os.O_CREAT | os.O_WRONLY))
                    count += 1
            except OSError as e:
                error = e
            print('=> stopped by', _describe(error), 'after', count, 'files')
            print('=> within the inode limit:', count <= 2048)
            shutil.rmtree('inodes')
            """,
            contains: ["stopped by OSError ENOSPC", "within the inode limit: True"], timeout: 30);

        yield return SecurityCase.Python(Exhaustion, "one file larger than the file-size limit", "rlimit (RLIMIT_FSIZE)",
            Prelude.Python + """
            import resource
            print('=> RLIMIT_FSIZE', resource.getrlimit(resource.RLIMIT_FSIZE))
            chunk, written, error = b'\x03' * (1024 * 1024), 0, None
            try:
                with open('/tmp/big', 'wb', buffering=0) as f:
                    while written < 60 * 1024 * 1024:
                        written += f.write(chunk)
            except OSError as e:
                error = e
            print('=> stopped by', _describe(error), 'at', written // (1024 * 1024), 'MiB')
            os.unlink('/tmp/big')
            attempt('raise RLIMIT_FSIZE', resource.setrlimit, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            """,
            contains: ["RLIMIT_FSIZE (33554432, 33554432)", "stopped by OSError EFBIG at 32 MiB", "raise RLIMIT_FSIZE: ValueError"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Exhaustion, "fill /tmp and /dev/shm", "tmpfs size",
            Prelude.Python + """
            import shutil
            for place in ['/tmp/fill', '/dev/shm/fill']:
                os.makedirs(place, exist_ok=True)
                chunk, written, error, i = b'\x04' * (1024 * 1024), 0, None, 0
                try:
                    while written < 256 * 1024 * 1024:
                        with open(f'{place}/{i}', 'wb') as f:
                            for _ in range(8):
                                f.write(chunk); written += len(chunk)
                        i += 1
                except OSError as e:
                    error = e
                print('=>', place, 'stopped by', _describe(error), 'after', written // (1024 * 1024), 'MiB; within 64 MiB:', written <= 64 * 1024 * 1024)
                shutil.rmtree(place)
            """,
            contains: ["/tmp/fill stopped by OSError ENOSPC", "/dev/shm/fill stopped by OSError ENOSPC", "within 64 MiB: True"], absent: ["within 64 MiB: False"], timeout: 30);

        yield return SecurityCase.Python(Exhaustion, "open files until the descriptor table is full", "rlimit (RLIMIT_NOFILE)",
            Prelude.Python + """
            import resource
            fds, error = [], None
            try:
                while len(fds) < 100_000:
                    fds.append(os.open('/dev/null', os.O_RDONLY))
            except OSError as e:
                error = e
            for fd in fds:
                os.close(fd)
            print('=> stopped by', _describe(error), 'after', len(fds), 'descriptors; limit', resource.getrlimit(resource.RLIMIT_NOFILE))
            attempt('raise RLIMIT_NOFILE', resource.setrlimit, resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
            """,
            contains: ["stopped by OSError EMFILE", "limit (256, 256)", "raise RLIMIT_NOFILE: ValueError"], absent: ["SUCCEEDED"]);

        yield return SecurityCase.Python(Exhaustion, "core dumps (a crash dumping the interpreter's memory into the workspace)", "rlimit (RLIMIT_CORE = 0)",
            Prelude.Python + """
            import resource
            print('=> RLIMIT_CORE', resource.getrlimit(resource.RLIMIT_CORE))
            attempt('raise RLIMIT_CORE', resource.setrlimit, resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            r = subprocess.run([sys.executable, '-c', 'import os; os.abort()'], cwd='/home/user')
            print('=> child aborted with', r.returncode, '; core files:', [n for n in os.listdir('/home/user') if n.startswith('core')])
            """,
            contains: ["RLIMIT_CORE (0, 0)", "raise RLIMIT_CORE: ValueError", "core files: []"], absent: ["SUCCEEDED"]);

        yield return new SecurityCase(Exhaustion, "fill the sandbox's own root (/ is bubblewrap's tmpfs, without a size)", "cgroup memory",
            "writes to / are charged to the sandbox's memory: ENOSPC, or the kernel kills the sandbox inside its own cgroup (crashed, OutOfMemory); the next execution works", async context =>
            {
                var exec = await context.RunAsync(Prelude.Python + """
                    import shutil
                    chunk, written, error, i = b'\x05' * (1024 * 1024), 0, None, 0
                    try:
                        os.makedirs('/fill-root', exist_ok=True)  # EROFS where / is read-only (fork-server mode)
                        while written < 2048 * 1024 * 1024:  # files of 8 MiB, under RLIMIT_FSIZE
                            with open(f'/fill-root/{i}', 'wb', buffering=0) as f:
                                for _ in range(8):
                                    written += f.write(chunk)
                            i += 1
                    except OSError as e:
                        error = e
                    print('=> stopped by', _describe(error), 'after', written // (1024 * 1024), 'MiB')
                    shutil.rmtree('/fill-root', ignore_errors=True)
                    """, 60);
                bool contained = exec.Status == "crashed"
                    ? exec.ErrorName == "OutOfMemory"
                    : exec.Verdicts.Any(v => v.Contains("ENOSPC", StringComparison.Ordinal) || v.Contains("EROFS", StringComparison.Ordinal) || v.Contains("EACCES", StringComparison.Ordinal));
                Assert.True(contained, exec.ToString());
                var next = await context.RunAsync("import os\nprint('=> alive; /fill-root exists:', os.path.exists('/fill-root'))");
                SecurityCase.AssertExec(next, "ok", ["alive; /fill-root exists: False"], []);
                return exec.Describe() + "; next: " + next.Describe();
            });

        yield return new SecurityCase(Exhaustion, "1 GB flood on stdout", "output caps (head/tail) + execution timeout",
            "stdout_truncated with head, note and tail; answer under 1 MB; the server's live heap grows < 300 MB and its working set after the execution is within 300 MB of before", async context =>
            {
                var sampler = new WorkingSetSampler();
                Exec exec;
                try
                {
                    exec = await context.RunAsync("""
                        import os
                        os.write(1, b'HEAD-OF-FLOOD\n')
                        chunk = b'x' * (1024 * 1024)
                        for _ in range(1024):
                            os.write(1, chunk)
                        os.write(1, b'\nTAIL-OF-FLOOD\n')
                        """, 20);
                }
                finally
                {
                    await sampler.DisposeAsync();
                }
                Assert.True(exec.Status is "ok" or "timeout", exec.Status);
                Assert.True(exec.StdoutTruncated, "stdout_truncated is false");
                Assert.StartsWith("HEAD-OF-FLOOD", exec.Stdout, StringComparison.Ordinal);
                Assert.Contains("characters omitted", exec.Stdout, StringComparison.Ordinal);
                if (exec.Status == "ok")
                {
                    Assert.Contains("TAIL-OF-FLOOD", exec.Stdout, StringComparison.Ordinal);
                }
                Assert.True(exec.Raw.Length < 1_000_000, $"the answer is {exec.Raw.Length} chars");
                Assert.True(sampler.LiveGrowthMb < 300 && sampler.RetainedMb < 300, sampler.Describe());
                var next = await context.RunAsync("print('=> usable after the flood')");
                SecurityCase.AssertExec(next, "ok", ["usable after the flood"], []);
                double seconds = exec.Json.GetProperty("duration_ms").GetDouble() / 1000;
                var omitted = System.Text.RegularExpressions.Regex.Match(exec.Stdout, @"\[… ([\d,]+) characters omitted").Groups[1].Value;
                return $"status {exec.Status} after {seconds:0.0} s; {omitted} characters of the flood omitted, {exec.Stdout.Length:N0} kept (head + note + tail); answer {exec.Raw.Length:N0} chars; {sampler.Describe()}";
            });

        yield return new SecurityCase(Exhaustion, "CPU spin that swallows KeyboardInterrupt", "execution timeout + interrupt grace (the sandbox is killed)",
            "status crashed after timeout + grace; the session's next execution works", async context =>
            {
                var stopwatch = Stopwatch.StartNew();
                var exec = await context.RunAsync("""
                    while True:
                        try:
                            while True:
                                pass
                        except KeyboardInterrupt:
                            pass
                    """, 2);
                stopwatch.Stop();
                Assert.True(exec.Status == "crashed", exec.ToString());
                var next = await context.RunAsync("print('=> alive:', sum(range(10)))");
                SecurityCase.AssertExec(next, "ok", ["alive: 45"], []);
                return $"status {exec.Status} ({exec.ErrorName}: {exec.ErrorValue}) after {stopwatch.Elapsed.TotalSeconds:0.0} s; next: {next.Describe()}";
            });
    }
}
