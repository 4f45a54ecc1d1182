namespace Vivarium.Client;

/// <summary>
/// One Server-Sent Event of a streaming execution. Outputs arrive as <see cref="OutputEvent"/>s as
/// they happen; the stream always ends with one <see cref="DoneEvent"/>.
/// </summary>
public abstract record ExecutionEvent
{
    // Only this assembly derives events: the set mirrors the contract's event names.
    private protected ExecutionEvent()
    {
    }
}

/// <summary>An output, as soon as the code produced it (events <c>stream</c>, <c>display_data</c>, <c>execute_result</c>, <c>error</c>).</summary>
/// <param name="Output">The output.</param>
public sealed record OutputEvent(ExecutionOutput Output) : ExecutionEvent;

/// <summary>The code asked to clear what it showed so far (event <c>clear_output</c>, from IPython's <c>clear_output()</c>).</summary>
/// <param name="Wait">True when the clearing should wait for the next output, as Jupyter's <c>wait=True</c>.</param>
public sealed record ClearOutputEvent(bool Wait) : ExecutionEvent;

/// <summary>Always last (event <c>done</c>): the whole execution, as the non-streaming call returns it.</summary>
/// <param name="Execution">The execution.</param>
public sealed record DoneEvent(Execution Execution) : ExecutionEvent;

/// <summary>An event name this client does not know (a newer server); kept so the caller may log it.</summary>
/// <param name="EventName">The SSE event name (<c>message</c> when the server sent none).</param>
/// <param name="Data">The event's data, as text.</param>
public sealed record UnknownEvent(string EventName, string Data) : ExecutionEvent;
