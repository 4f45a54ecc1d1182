using System.Text.Json.Serialization;
using Vivarium.Client.Serialization;

namespace Vivarium.Client;

/// <summary>What a session is doing (<c>status</c> in the Session).</summary>
[JsonConverter(typeof(LenientEnumConverter<SessionStatus>))]
public enum SessionStatus
{
    /// <summary>A status this client does not know; the server is newer than the client.</summary>
    Unknown = 0,
    /// <summary>Idle, ready to execute (<c>ready</c>).</summary>
    Ready,
    /// <summary>Running an execution (<c>busy</c>); another execute is refused with <see cref="SessionBusyException"/>.</summary>
    Busy,
}
