namespace Vivarium.Mcp.Tools;

/// <summary>
/// A problem with a tool call that the model can fix (a missing argument, a path outside the
/// workspace, an unknown session): answered as a tool result with <c>isError: true</c> whose
/// text names the argument and the rule, never as a protocol error, so the model reads it.
/// </summary>
internal sealed class ToolException(string message) : Exception(message);
