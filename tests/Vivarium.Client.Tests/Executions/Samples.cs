namespace Vivarium.Client.Tests.Executions;

/// <summary>Wire samples shaped as docs/api.md shows them.</summary>
public static class Samples
{
    // A 1x1 PNG's first bytes are enough to check decoding: \x89PNG\r\n\x1a\n.
    public static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x01];
    public static readonly string PngBase64 = Convert.ToBase64String(Png);

    public static string Execution(string status = "ok") => $$$"""
        {"id": "exe_1", "session_id": "ses_1", "status": "{{{status}}}",
         "execution_count": 3, "stdout": "hello\n", "stderr": "", "stdout_truncated": false, "stderr_truncated": true,
         "outputs": [
           {"type": "stream", "name": "stdout", "text": "hello\n"},
           {"type": "display_data", "data": {"image/png": "{{{PngBase64}}}", "text/plain": "<Figure>"}, "metadata": {}},
           {"type": "execute_result", "execution_count": 3, "data": {"text/plain": "2"}},
           {"type": "error", "name": "KeyError", "value": "'date'", "traceback": "Traceback..."}],
         "result": {"text/plain": "2"}, "error": {"name": "KeyError", "value": "'date'", "traceback": "Traceback..."},
         "files": [{"path": "out.csv", "size": 1234, "change": "created"}],
         "duration_ms": 3.1, "summary": "ran"}
        """;

    /// <summary>The Execution on one line, as an SSE data field carries it.</summary>
    public static string ExecutionLine(string status = "ok") =>
        string.Join(' ', Execution(status).Split('\n', StringSplitOptions.TrimEntries));
}
