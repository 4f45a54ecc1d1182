namespace Vivarium.Client.Http;

/// <summary>
/// The contract's routes, relative to the base address (no leading slash, so a base address with
/// a path prefix such as <c>https://host/vivarium/</c> keeps it). Every value put into a path is
/// escaped here and nowhere else.
/// </summary>
internal static class ApiRoutes
{
    public const string Health = "healthz";
    public const string Ready = "readyz";
    public const string Sessions = "v1/sessions";
    public const string ExecuteOnce = "v1/execute";

    public static string Session(string sessionId) => $"{Sessions}/{SessionSegment(sessionId)}";

    public static string Execute(string sessionId) => $"{Session(sessionId)}/execute";

    public static string Interrupt(string sessionId) => $"{Session(sessionId)}/interrupt";

    public static string Restart(string sessionId) => $"{Session(sessionId)}/restart";

    public static string Files(string sessionId) => $"{Session(sessionId)}/files";

    public static string File(string sessionId, string path) => $"{Files(sessionId)}/{WorkspaceUrlPath.Encode(path)}";

    private static string SessionSegment(string sessionId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        // "." and ".." would be resolved by Uri before sending and address another route.
        if (sessionId is "." or "..")
        {
            throw new ArgumentException($"'{sessionId}' is not a session id", nameof(sessionId));
        }
        return Uri.EscapeDataString(sessionId);
    }
}
