namespace Vivarium.Client;

/// <summary>A file in a session's workspace (<c>GET /v1/sessions/{id}/files</c>).</summary>
/// <param name="Path">Path relative to the workspace.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="ModifiedAt">Last modification (UTC), when the server knows it.</param>
public sealed record WorkspaceFile(string Path, long Size, DateTimeOffset? ModifiedAt);

/// <summary>A file the server stored from an upload.</summary>
/// <param name="Path">Where it was written, relative to the workspace.</param>
/// <param name="Size">Its size in bytes.</param>
public sealed record UploadedFile(string Path, long Size);
