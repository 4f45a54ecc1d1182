namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Caps = "server memory caps";

    /// <summary>
    /// Outputs and files that are large on purpose. They run last: when a cap does not hold, the
    /// server keeps hundreds of MB in its buffer pools afterwards, which would blur the memory
    /// measurements of the cases after them.
    /// </summary>
    private static IEnumerable<SecurityCase> ServerMemoryCaps()
    {
        yield return Budget("20 display objects each just under the per-object cap (20 × 15 MB)", "output caps (rich outputs per execution)", """
            from IPython.display import display
            s = 'x' * 15_000_000
            for i in range(20):
                display({'text/plain': s}, raw=True)
            """);

        yield return Budget("20 execute_result outputs of 15 MB each through sys.displayhook", "output caps (rich outputs per execution)", """
            import sys
            s = 'x' * 15_000_000
            for i in range(20):
                sys.displayhook(s)
            """);

        yield return Budget("20 error outputs with a 5 MB message each through showtraceback", "output caps (errors per execution)", """
            ip = get_ipython()
            for i in range(20):
                try:
                    raise ValueError('x' * 5_000_000)
                except ValueError:
                    ip.showtraceback()
            """);

        yield return Budget("forge display frames over the per-object cap on the runner's channel (10 × 40 MB)", "host protocol validation (display cap enforced by the host)", """
            import gc, json, os, struct
            gc.unfreeze()  # the runner keeps its start-up objects out of gc's view; an attacker brings them back
            channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')
            session = next(o for o in gc.get_objects() if type(o).__name__ == 'Session' and hasattr(o, 'parent') and hasattr(o, 'channel'))
            body = json.dumps({'type': 'display_data', 'parent': session.parent, 'data': {'text/plain': 'y' * 40_000_000}, 'metadata': {}}).encode()
            frame = struct.pack('>I', len(body)) + body
            for i in range(10):
                with channel._send_lock:
                    view = memoryview(frame)
                    while view:
                        view = view[os.write(channel._out_fd, view):]
            print('=> forged 10 frames of', len(body), 'bytes')
            """);

        yield return new SecurityCase(Caps, "one-shot execute: report produced files as empty to get past the returned-bytes cap", "one-shot returned-files cap (Vivarium:Server:MaxReturnedFileBytes, 50 MiB)",
            "at most 50 MiB of produced files come back (about 67 MB of base64): the cap counts the bytes read, not the sizes the runner reports", async context =>
            {
                const long cap = 50L * 1024 * 1024;
                var sampler = new WorkingSetSampler();
                (int Status, long Bytes, string Head) answer;
                try
                {
                    answer = await context.PostStreamingAsync("/v1/execute", new
                    {
                        code = """
                            import gc
                            gc.unfreeze()  # the runner keeps its start-up objects out of gc's view; an attacker brings them back
                            operations = next(o for o in gc.get_objects() if type(o).__name__ == 'FileOperations')
                            runner_globals = type(operations).read_file.__globals__
                            real_diff = runner_globals['diff_snapshots']
                            runner_globals['diff_snapshots'] = lambda before, after: [dict(c, size=0) for c in real_diff(before, after)]
                            for i in range(3):
                                with open(f'big-{i}.bin', 'wb') as f:
                                    f.write(b'\x07' * (20 * 1024 * 1024))
                            print('=> wrote 60 MiB, reported as 0 bytes')
                            """,
                        timeout_seconds = 30,
                    });
                }
                finally
                {
                    await sampler.DisposeAsync();
                }
                var observed = $"HTTP {answer.Status}; answer {answer.Bytes:N0} bytes; {sampler.Describe()}";
                Assert.True(answer.Status == 200, observed);
                Assert.True(answer.Bytes < cap * 4 / 3 + 1024 * 1024, observed);
                return observed;
            });
    }

    /// <summary>
    /// An execution whose rich output could be enormous: the answer must stay small and the
    /// server's memory bounded, whatever the runner sends. The answer's size is the decisive
    /// measure: the server builds the whole execution in memory before it writes it.
    /// </summary>
    private static SecurityCase Budget(string name, string layer, string code) => new(Caps, name, layer,
        "the answer stays under 64 MB and the server's working set after is within 300 MB of before (the live-heap peak is reported: it also counts frames in flight and pooled buffers); the session stays usable", async context =>
        {
            var sampler = new WorkingSetSampler();
            (int Status, long Bytes, string Head) answer;
            try
            {
                answer = await context.RunStreamingAsync(code, 60);
            }
            finally
            {
                await sampler.DisposeAsync();
            }
            GC.Collect();
            var next = await context.RunAsync("print('=> usable:', 3 * 3)");
            var observed = $"answer {answer.Bytes:N0} bytes (HTTP {answer.Status}); {sampler.Describe()}; next execution {next.Status}";
            Assert.True(answer.Status == 200, observed);
            Assert.True(answer.Bytes < 64L * 1024 * 1024 && sampler.RetainedMb < 300, observed);
            SecurityCase.AssertExec(next, "ok", ["usable: 9"], []);
            return observed;
        });
}
