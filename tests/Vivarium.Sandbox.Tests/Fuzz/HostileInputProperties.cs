using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using Vivarium.Engine;
using Vivarium.Engine.Executions;
using Vivarium.Engine.Files;
using Vivarium.Engine.Output;
using Vivarium.Sandbox.Protocol;

namespace Vivarium.Sandbox.Tests.Fuzz;

/// <summary>
/// Property-based fuzzing of everything that takes input from a sandbox or a client: any input
/// yields a value or the one documented exception, never another exception, unbounded memory
/// or a hang. CsCheck runs 100 samples per property by default; a longer run is
/// <c>CsCheck_Iter=1000000 dotnet test tests/Vivarium.Sandbox.Tests --filter Fuzz</c>
/// (or <c>CsCheck_Time=600</c> for ten minutes per property); a failure prints the seed that
/// reproduces it.
/// </summary>
public sealed class HostileInputProperties
{
    private static readonly string[] KnownTypes =
        ["ready", "stream", "display_data", "execute_result", "clear_output", "error", "execute_reply", "reply", "fatal", "protocol_error", "unknown_kind"];

    private static readonly string[] KnownFields =
        ["type", "parent", "name", "text", "data", "metadata", "execution_count", "ename", "evalue", "traceback",
         "user_traceback", "status", "files", "ok", "code", "message", "protocol", "python", "startup_ms", "packages", "wait", "change", "path", "size"];

    /// <summary>Any JSON value, a few levels deep, with the awkward ones well represented.</summary>
    private static readonly Gen<JsonNode?> AnyJson = Gen.Recursive<JsonNode?>((depth, self) =>
    {
        var leaves = Gen.OneOf<JsonNode?>(
            Gen.Const(() => (JsonNode?)null),
            Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
            Gen.Long.Select(l => (JsonNode?)JsonValue.Create(l)),
            Gen.Double.Select(d => (JsonNode?)(double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(0))),
            Gen.String.Select(s => (JsonNode?)JsonValue.Create(s)),
            Gen.OneOf("stdout", "stderr", "ok", "error", "created", "text/plain", "image/png", "").Select(s => (JsonNode?)JsonValue.Create(s)));
        if (depth >= 3)
        {
            return leaves;
        }
        var arrays = self.Array[0, 4].Select(items => (JsonNode?)new JsonArray(items.Select(i => i?.DeepClone()).ToArray()));
        var objects = Gen.Select(Gen.OneOf<string>(Gen.OneOf(KnownFields), Gen.String[0, 20]), self).Array[0, 5]
            .Select(pairs =>
            {
                var obj = new JsonObject();
                foreach (var (key, value) in pairs)
                {
                    obj[key] = value?.DeepClone();
                }
                return (JsonNode?)obj;
            });
        return Gen.Frequency<JsonNode?>((4, leaves), (1, arrays), (2, objects));
    });

    /// <summary>A frame that is nearly a real message: a known type and known field names with arbitrary values.</summary>
    private static readonly Gen<byte[]> NearlyValidFrames =
        Gen.Select(Gen.OneOf(KnownTypes), Gen.Select(Gen.OneOf(KnownFields), AnyJson).Array[0, 8])
            .Select((type, fields) =>
            {
                var obj = new JsonObject { ["type"] = type };
                foreach (var (key, value) in fields)
                {
                    obj[key] = value?.DeepClone();
                }
                return Encoding.UTF8.GetBytes(obj.ToJsonString());
            });

    [Fact]
    public void Fuzz_RunnerMessageParser_AnyBytes_ParseOrProtocolViolation() =>
        Gen.Byte.Array[0, 512].Sample(ParseOrViolation);

    [Fact]
    public void Fuzz_RunnerMessageParser_NearlyValidMessages_ParseOrProtocolViolation() =>
        NearlyValidFrames.Sample(ParseOrViolation);

    private static void ParseOrViolation(byte[] frame)
    {
        try
        {
            var message = RunnerMessageParser.Parse(frame);
            if (message is StreamMessage stream)
            {
                Assert.True(stream.Name is "stdout" or "stderr");
            }
            if (message is ExecuteReplyMessage reply)
            {
                Assert.True(reply.Status is "ok" or "error");
                Assert.All(reply.Files, f => Assert.True(f.Change is "created" or "modified" or "deleted"));
            }
        }
        catch (ProtocolViolationException)
        {
        }
    }

    [Fact]
    public void Fuzz_FrameReader_AnyStream_FramesWithinTheLimitOrProtocolViolation()
    {
        // Streams that mostly start with plausible lengths, so frames are actually reached.
        var gen = Gen.Select(Gen.Int[0, 300].Array[0, 6], Gen.Byte.Array[0, 600], Gen.Bool).Select((lengths, body, raw) =>
        {
            if (raw)
            {
                return body;
            }
            using var stream = new MemoryStream();
            var header = new byte[4];
            int offset = 0;
            foreach (var length in lengths)
            {
                BinaryPrimitives.WriteInt32BigEndian(header, length);
                stream.Write(header);
                int take = Math.Min(length, body.Length - offset);
                stream.Write(body, offset, Math.Max(0, take));
                offset += Math.Max(0, take);
            }
            return stream.ToArray();
        });
        gen.Sample(bytes =>
        {
            const int Max = 256;
            var reader = new FrameReader(new MemoryStream(bytes), Max);
            try
            {
                for (int i = 0; i < 1000; i++) // a stream of n bytes holds at most n/4 frames
                {
                    var frame = reader.ReadFrameAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
                    if (frame is null)
                    {
                        return;
                    }
                    Assert.True(frame.Length <= Max);
                }
                Assert.Fail("the reader did not reach the end of a finite stream");
            }
            catch (ProtocolViolationException)
            {
            }
        });
    }

    [Fact]
    public void Fuzz_RunnerClient_AnyBytesFromTheRunner_StartFailsCleanlyOrIsReady()
    {
        Gen.OneOf<byte[]>(Gen.Byte.Array[0, 200], NearlyValidFrames.Select(Framed)).Sample(bytes =>
        {
            var client = new RunnerClient(new MemoryStream(bytes), Stream.Null, 1 << 16, NullLogger.Instance);
            try
            {
                var ready = client.HandshakeAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
                Assert.NotNull(ready);
                // After "ready", whatever follows ends the channel in a described way, never by hanging.
                var closed = client.Completion.WaitAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
                Assert.False(string.IsNullOrEmpty(closed.Detail));
            }
            catch (SandboxStartException)
            {
            }
            finally
            {
                client.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        });
    }

    [Fact]
    public void Fuzz_WorkspacePath_AnyString_IsInsideTheWorkspaceOrInvalidPath()
    {
        var pieces = Gen.OneOf<string>(Gen.OneOf("..", ".", "", "/", "/home/user", "/home/user/", "a", "b.csv", "\0", "~", "\\..", "%2e%2e"), Gen.String[0, 8]);
        Gen.OneOf<string>(Gen.String, pieces.Array[0, 8].Select(p => string.Join('/', p))).Sample(path =>
        {
            try
            {
                var normalized = WorkspacePath.Normalize(path);
                Assert.False(normalized.StartsWith('/'));
                Assert.DoesNotContain('\0', normalized);
                Assert.All(normalized.Split('/'), segment => Assert.True(segment is not ("" or "." or "..")));
            }
            catch (VivariumException e) when (e.Code == ErrorCodes.InvalidPath)
            {
            }
        });
    }

    [Fact]
    public void Fuzz_CappedText_AnyAppends_StaysWithinItsBoundsAndKeepsTheHead()
    {
        Gen.Select(Gen.Int[1, 64], Gen.Int[1, 64], Gen.String[0, 100].Array[0, 30]).Sample((head, tail, chunks) =>
        {
            var text = new CappedText(head, tail);
            foreach (var chunk in chunks)
            {
                text.Append(chunk);
            }
            var all = string.Concat(chunks);
            var kept = text.ToString();
            Assert.Equal(all.Length, text.TotalChars);
            Assert.StartsWith(all[..Math.Min(head, all.Length)], kept);
            Assert.True(kept.Length <= head + tail + 64, $"{kept.Length} chars kept for head {head}, tail {tail}");
            // Truncated exactly when something was elided, and then the note says so.
            Assert.Equal(!kept.StartsWith(all, StringComparison.Ordinal) || kept.Length != all.Length, text.Truncated);
            Assert.Equal(text.Truncated, kept.Contains("characters omitted", StringComparison.Ordinal) && !all.Contains("characters omitted", StringComparison.Ordinal));
        });
    }

    [Fact]
    public void Fuzz_Summary_AnyExecution_FitsTheBudget()
    {
        Gen.Select(Gen.String[0, 3000], Gen.String[0, 3000], Gen.String[0, 500], Gen.Int[200, 5000]).Sample((stdout, stderr, error, budget) =>
        {
            var execution = new Execution
            {
                Id = "exe_1",
                SessionId = "ses_1",
                Status = error.Length > 0 ? ExecutionStatus.Error : ExecutionStatus.Ok,
                Stdout = stdout,
                Stderr = stderr,
                Outputs = [],
                Result = new Dictionary<string, JsonElement> { ["text/plain"] = JsonSerializer.SerializeToElement(stdout) },
                Error = error.Length > 0 ? new ExecutionError("ValueError", error, error) : null,
                Files = [],
                Summary = "",
            };
            var summary = SummaryRenderer.Render(execution, new SummaryFacts(error, 0, TimeSpan.FromSeconds(30)), budget);
            Assert.True(summary.Length <= budget, $"{summary.Length} > {budget}");
            Assert.NotEmpty(summary);
        });
    }

    private static byte[] Framed(byte[] payload)
    {
        var framed = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(framed, payload.Length);
        payload.CopyTo(framed, 4);
        return framed;
    }
}
