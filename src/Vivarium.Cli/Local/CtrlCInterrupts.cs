namespace Vivarium.Cli.Local;

/// <summary>
/// Turns Ctrl+C into an interrupt of the running Python code (KeyboardInterrupt, the session
/// keeps its state) instead of the end of the process. A second Ctrl+C while the first is
/// still pending ends the process as usual.
/// </summary>
internal sealed class CtrlCInterrupts : IDisposable
{
    private readonly bool _enabled;
    private readonly Func<bool> _interrupt;
    private readonly TextWriter _notes;
    private readonly string _idleNote;
    private int _pending;

    /// <summary>Starts handling Ctrl+C, when <paramref name="enabled"/>.</summary>
    /// <param name="enabled">False in tests and wherever the process's console is not ours.</param>
    /// <param name="interrupt">Interrupts what runs; false when nothing was running.</param>
    /// <param name="notes">Where to say what happened.</param>
    /// <param name="idleNote">What to say when nothing was running (the REPL adds its prompt).</param>
    public CtrlCInterrupts(bool enabled, Func<bool> interrupt, TextWriter notes, string idleNote = "^C\n")
    {
        _enabled = enabled;
        _interrupt = interrupt;
        _notes = notes;
        _idleNote = idleNote;
        if (enabled)
        {
            Console.CancelKeyPress += OnCancelKeyPress;
        }
    }

    /// <summary>Call when an execution ended, so the next Ctrl+C interrupts again rather than exits.</summary>
    public void Reset() => Interlocked.Exchange(ref _pending, 0);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_enabled)
        {
            Console.CancelKeyPress -= OnCancelKeyPress;
        }
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (Interlocked.Exchange(ref _pending, 1) == 1)
        {
            return; // the second Ctrl+C: let the process end
        }
        e.Cancel = true;
        if (_interrupt())
        {
            _notes.WriteLine("^C interrupting (press Ctrl+C again to quit)");
        }
        else
        {
            _notes.Write(_idleNote);
            _notes.Flush();
            Reset();
        }
    }
}
