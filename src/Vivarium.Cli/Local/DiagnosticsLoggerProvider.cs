using Microsoft.Extensions.Logging;

namespace Vivarium.Cli.Local;

/// <summary>
/// Writes the in-process engine's warnings as one plain line each to the diagnostics stream
/// (stderr), so they reach the person at the terminal without mixing with the code's output.
/// </summary>
internal sealed class DiagnosticsLoggerProvider(TextWriter writer, LogLevel minimum) : ILoggerProvider
{
    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new DiagnosticsLogger(writer, minimum);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class DiagnosticsLogger(TextWriter writer, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var level = logLevel >= LogLevel.Error ? "error" : "warning";
            lock (writer)
            {
                writer.WriteLine($"vivarium: {level}: {formatter(state, exception)}");
            }
        }
    }
}
