using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Vivarium.Security.Tests;

public static partial class SecurityCases
{
    private const string Output = "malformed output";

    private static IEnumerable<SecurityCase> MalformedOutput()
    {
        yield return new SecurityCase(Output, "invalid UTF-8 bytes on fd 1 and fd 2", "runner output decoding (UTF-8 with replacement)",
            "status ok; U+FFFD in place of the bad bytes; the answer is valid UTF-8 JSON", async context =>
            {
                var exec = await context.RunAsync("import os\nos.write(1, b'A\\xff\\xfe\\xc0\\x80B\\n')\nos.write(2, b'E\\xed\\xa0\\x80F\\n')\nos.write(1, b'split \\xe2\\x82')\nos.write(1, b'\\xac euro\\n')");
                Assert.Equal("ok", exec.Status);
                _ = new UTF8Encoding(false, true).GetString(exec.Bytes); // throws on invalid UTF-8
                Assert.Contains("A\uFFFD", exec.Stdout, StringComparison.Ordinal);
                Assert.Contains("B\n", exec.Stdout, StringComparison.Ordinal);
                Assert.Contains("split € euro", exec.Stdout, StringComparison.Ordinal);
                Assert.Contains("E\uFFFD", exec.Stderr, StringComparison.Ordinal);
                return $"stdout {JsonSerializer.Serialize(exec.Stdout)}, stderr {JsonSerializer.Serialize(exec.Stderr)}; strict UTF-8 decode of the answer OK";
            });

        yield return new SecurityCase(Output, "NUL bytes in stdout", "JSON encoding of the answer",
            "NULs arrive as \\u0000 inside the JSON string; no raw NUL byte in the answer", async context =>
            {
                var exec = await context.RunAsync("import os\nprint('a\\x00b')\nos.write(1, b'c\\x00d\\n')");
                Assert.Equal("ok", exec.Status);
                Assert.Contains("a\0b", exec.Stdout, StringComparison.Ordinal);
                Assert.Contains("c\0d", exec.Stdout, StringComparison.Ordinal);
                Assert.DoesNotContain((byte)0, exec.Bytes);
                return $"stdout {JsonSerializer.Serialize(exec.Stdout)}; no raw NUL in {exec.Bytes.Length} bytes";
            });

        yield return new SecurityCase(Output, "ANSI and OSC escape sequences (clear screen, set title, OSC 52 clipboard)", "JSON encoding of the answer",
            "delivered as data, escaped as \\u001B in the JSON; no raw ESC or BEL byte in the answer", async context =>
            {
                var exec = await context.RunAsync("print('\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07\\x1b[31mred\\x1b[0m')");
                Assert.Equal("ok", exec.Status);
                Assert.Contains("\u001b]52;c;", exec.Stdout, StringComparison.Ordinal);
                Assert.DoesNotContain((byte)0x1b, exec.Bytes);
                Assert.DoesNotContain((byte)0x07, exec.Bytes);
                return $"stdout {JsonSerializer.Serialize(exec.Stdout)}; no raw ESC/BEL byte in the answer (a client that prints stdout to a terminal must still neutralise them)";
            });

        yield return new SecurityCase(Output, "a 50 MB display object (display({'text/plain': 'x'*50_000_000}, raw=True))", "runner display cap",
            "replaced by a note; the answer stays small; the session stays usable", async context =>
            {
                var exec = await context.RunAsync("from IPython.display import display\ndisplay({'text/plain': 'x' * 50_000_000}, raw=True)\nprint('=> displayed')", 60);
                Assert.Equal("ok", exec.Status);
                var note = DisplayTexts(exec).Single();
                Assert.Contains("not shown: over the limit", note, StringComparison.Ordinal);
                Assert.True(exec.Raw.Length < 100_000, $"the answer is {exec.Raw.Length} chars");
                var next = await context.RunAsync("print('=> usable:', 1 + 1)");
                SecurityCase.AssertExec(next, "ok", ["usable: 2"], []);
                return $"display replaced by: {note}; answer {exec.Raw.Length:N0} chars; next execution OK";
            });

        yield return new SecurityCase(Output, "a 30 MB HTML display and a 30 MB execute_result", "runner display cap",
            "both replaced by a note; the session stays usable", async context =>
            {
                var exec = await context.RunAsync("from IPython.display import HTML, display\ndisplay(HTML('<table>' + '<tr><td>x</td></tr>' * 1_500_000))\n'y' * 30_000_000", 60);
                Assert.Equal("ok", exec.Status);
                var note = DisplayTexts(exec).Single();
                Assert.Contains("not shown: over the limit", note, StringComparison.Ordinal);
                Assert.Contains("not shown: over the limit", exec.ResultText ?? "", StringComparison.Ordinal);
                Assert.True(exec.Raw.Length < 100_000, $"the answer is {exec.Raw.Length} chars");
                var next = await context.RunAsync("print('=> usable:', 2 + 2)");
                SecurityCase.AssertExec(next, "ok", ["usable: 4"], []);
                return $"HTML: {note}; result: {exec.ResultText}; next execution OK";
            });

        yield return new SecurityCase(Output, "a flood of 500 display objects", "output caps (rich outputs per execution)",
            "50 kept, the rest counted and dropped", async context =>
            {
                var exec = await context.RunAsync("from IPython.display import display\nfor i in range(500):\n    display({'text/plain': f'chart {i}'}, raw=True)");
                Assert.Equal("ok", exec.Status);
                int kept = DisplayTexts(exec).Count;
                Assert.Equal(50, kept);
                return $"{kept} display outputs kept of 500; summary: {CaseContext.Shorten(exec.Json.GetProperty("summary").GetString()!.Replace('\n', ' '), 160)}";
            });

        yield return new SecurityCase(Output, "a file name of invalid UTF-8 bytes", "runner (names re-encoded) + host parser",
            "the execution and the file listing answer valid JSON; the session stays usable", async context =>
            {
                var exec = await context.RunAsync("import os\nos.close(os.open(b'/home/user/bad-\\xff\\xfe.txt', os.O_CREAT | os.O_WRONLY))\nprint('=> created')");
                Assert.Equal("ok", exec.Status);
                var files = exec.Json.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()).ToList();
                var (status, listing, bytes) = await context.SendAsync(context.Red, HttpMethod.Get, $"/v1/sessions/{context.Fixture.AttackerSessionId}/files");
                Assert.Equal(System.Net.HttpStatusCode.OK, status);
                _ = new UTF8Encoding(false, true).GetString(bytes);
                var cleanup = await context.RunAsync("import os\nos.unlink(b'/home/user/bad-\\xff\\xfe.txt')\nprint('=> removed')");
                SecurityCase.AssertExec(cleanup, "ok", ["removed"], []);
                return $"reported as {JsonSerializer.Serialize(files)}; listing {CaseContext.Shorten(listing, 160)}";
            });

        yield return new SecurityCase(Output, "forge a protocol frame claiming 2 GiB on the runner's channel", "host protocol validation (frame size checked before allocating)",
            "the sandbox is killed for breaking the protocol (crashed); the server does not allocate; the next execution works", async context =>
            {
                var sampler = new WorkingSetSampler();
                Exec exec;
                try
                {
                    exec = await context.RunAsync("""
                        import gc, os, struct
                        gc.unfreeze()  # the runner keeps its start-up objects out of gc's view; an attacker brings them back
                        channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')
                        os.write(channel._out_fd, struct.pack('>I', 0x7FFFFFF0) + b'{"type":"stream"')
                        print('forged')
                        """);
                }
                finally
                {
                    await sampler.DisposeAsync();
                }
                Assert.True(exec.Status == "crashed", exec.ToString());
                Assert.True(sampler.LiveGrowthMb < 100, sampler.Describe());
                var next = await context.RunAsync("print('=> alive after the forged frame')");
                SecurityCase.AssertExec(next, "ok", ["alive after the forged frame"], []);
                return $"status {exec.Status} ({exec.ErrorName}: {exec.ErrorValue}); {sampler.Describe()}; next execution OK";
            });

        yield return new SecurityCase(Output, "forge a malformed protocol frame (wrong types) on the runner's channel", "host protocol validation (RunnerMessageParser)",
            "the sandbox is killed for breaking the protocol (crashed); the next execution works", async context =>
            {
                var exec = await context.RunAsync("""
                    import gc, json, os, struct
                    gc.unfreeze()  # the runner keeps its start-up objects out of gc's view; an attacker brings them back
                    channel = next(o for o in gc.get_objects() if type(o).__name__ == 'Channel')
                    body = json.dumps({'type': 'execute_reply', 'parent': 12345, 'status': ['ok'], 'files': 'nope'}).encode()
                    os.write(channel._out_fd, struct.pack('>I', len(body)) + body)
                    print('forged')
                    """);
                Assert.True(exec.Status == "crashed", exec.ToString());
                var next = await context.RunAsync("print('=> alive after the malformed frame')");
                SecurityCase.AssertExec(next, "ok", ["alive after the malformed frame"], []);
                return $"status {exec.Status} ({exec.ErrorName}: {exec.ErrorValue}); next execution OK";
            });
    }

    private static List<string> DisplayTexts(Exec exec) =>
        exec.Json.GetProperty("outputs").EnumerateArray()
            .Where(o => o.GetProperty("type").GetString() == "display_data")
            .Select(o => o.GetProperty("data").TryGetProperty("text/plain", out var t) ? t.GetString() ?? "" : "")
            .ToList();
}
