namespace Vivarium.Client;

/// <summary>
/// One file of a multipart upload (<see cref="VivariumClient.UploadFilesAsync"/>): a name and its
/// bytes, from memory or from a stream. A stream is read when the request is sent and is left open:
/// the caller owns it.
/// </summary>
public sealed class FileUpload
{
    /// <summary>A file whose bytes are in memory.</summary>
    /// <param name="fileName">The multipart file name; the server stores the file under it.</param>
    /// <param name="content">The bytes.</param>
    public FileUpload(string fileName, ReadOnlyMemory<byte> content)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        FileName = fileName;
        Bytes = content;
    }

    /// <summary>A file read from a stream when the request is sent.</summary>
    /// <param name="fileName">The multipart file name; the server stores the file under it.</param>
    /// <param name="content">The stream, read from its current position; not disposed.</param>
    public FileUpload(string fileName, Stream content)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        ArgumentNullException.ThrowIfNull(content);
        FileName = fileName;
        Stream = content;
    }

    /// <summary>The multipart file name.</summary>
    public string FileName { get; }

    internal ReadOnlyMemory<byte> Bytes { get; }

    internal Stream? Stream { get; }
}
