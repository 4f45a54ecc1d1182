using System.Text.Json.Serialization;
using Vivarium.Client.Serialization;

namespace Vivarium.Client;

/// <summary>How an execution ended (<c>status</c> in the Execution).</summary>
[JsonConverter(typeof(LenientEnumConverter<ExecutionStatus>))]
public enum ExecutionStatus
{
    /// <summary>A status this client does not know; the server is newer than the client.</summary>
    Unknown = 0,
    /// <summary>The code ran to the end (<c>ok</c>).</summary>
    Ok,
    /// <summary>The code raised an exception (<c>error</c>); see <see cref="Execution.Error"/>.</summary>
    Error,
    /// <summary>The timeout fired and the code was interrupted (<c>timeout</c>); the session's state is kept.</summary>
    Timeout,
    /// <summary>Interrupted on request or because the client went away (<c>interrupted</c>); state kept.</summary>
    Interrupted,
    /// <summary>The sandbox died (<c>crashed</c>); the interpreter's state is lost, files are kept.</summary>
    Crashed,
}
