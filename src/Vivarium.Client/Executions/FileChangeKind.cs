using System.Text.Json.Serialization;
using Vivarium.Client.Serialization;

namespace Vivarium.Client;

/// <summary>What an execution did to a workspace file (<c>change</c> in <see cref="FileChange"/>).</summary>
[JsonConverter(typeof(LenientEnumConverter<FileChangeKind>))]
public enum FileChangeKind
{
    /// <summary>A kind this client does not know; the server is newer than the client.</summary>
    Unknown = 0,
    /// <summary>The file did not exist before the execution (<c>created</c>).</summary>
    Created,
    /// <summary>The file existed and its content changed (<c>modified</c>).</summary>
    Modified,
    /// <summary>The file existed before and is gone (<c>deleted</c>).</summary>
    Deleted,
}
