using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Vivarium.Sandbox.Bubblewrap;

/// <summary>
/// Gives each workspace its own small ext4 filesystem in a sparse image file, loop-mounted
/// (nosuid, nodev) at the workspace directory. Filling it ends in ENOSPC inside the sandbox,
/// its inode count bounds a million-tiny-files attack, and the host's disk only ever holds
/// what was actually written.
/// </summary>
/// <remarks>
/// One empty filesystem is made with mkfs at initialisation and kept in memory (its few
/// hundred KiB of metadata; the rest of the image is a hole). A workspace's image is a copy
/// of it, written into a new sparse file, and is attached to a loop device and mounted with
/// the system calls themselves: no process is spawned per workspace. Spawning mkfs and mount
/// cost ~8 ms of CPU per workspace in those processes, plus the server's own work to start
/// and reap them, on the critical path of every session created while the pool is empty
/// (docs/performance.md). The copies share the template's UUID and directory-hash seed, which
/// tell a sandbox nothing it could not read from its own volume.
/// </remarks>
internal sealed partial class WorkspaceVolumes(string imagesDirectory, long sizeBytes, int inodes)
{
    private IReadOnlyList<(long Offset, byte[] Data)> _template = [];
    private volatile bool _loopSyscalls = true; // false once this kernel lacked LOOP_CONFIGURE

    /// <summary>False when quotas are off (size 0): workspaces are then plain directories.</summary>
    public bool Enabled => sizeBytes > 0;

    /// <summary>Prepares the images directory and, when quotas are on, the empty filesystem every workspace starts as.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(imagesDirectory);
        File.SetUnixFileMode(imagesDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (!Enabled)
        {
            return;
        }
        var template = Path.Combine(imagesDirectory, "template.img");
        File.Delete(template);
        using (var file = new FileStream(template, FileMode.CreateNew, FileAccess.Write))
        {
            file.SetLength(sizeBytes);
        }
        try
        {
            // Owned by root here; each copy's root directory is given to its workspace's uid
            // once mounted.
            await RunAsync("/usr/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", "-N", inodes.ToString(CultureInfo.InvariantCulture),
                "-O", "^has_journal", "-E", "root_owner=0:0,lazy_itable_init=1", template], cancellationToken);
            _template = ReadDataExtents(template);
        }
        finally
        {
            File.Delete(template);
        }
    }

    /// <summary>Creates the filesystem, owned by <paramref name="uid"/>, and mounts it on <paramref name="mountPoint"/>.</summary>
    /// <remarks>
    /// The copy, the attach and the mount run on a thread of their own: they cost ~0.6 ms of
    /// CPU but wait 1-15 ms (measured under load) for the kernel to read the new filesystem
    /// through the loop device, and blocking a thread-pool thread for that, on a 2-core host
    /// whose pool starts with 2 threads, stalls the requests in flight (as the awaited mkfs and
    /// mount processes once did when waited for synchronously: docs/performance.md).
    /// </remarks>
    public async Task CreateAsync(string workspaceId, string mountPoint, int uid, CancellationToken cancellationToken)
    {
        var image = ImagePath(workspaceId);
        bool mounted = await Task.Factory.StartNew(() => CopyAndMount(image, mountPoint), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!mounted)
        {
            _loopSyscalls = false;
            await RunAsync("/usr/bin/mount", ["-o", "loop,nosuid,nodev", image, mountPoint], cancellationToken);
        }
        if (Chown(mountPoint, uid, uid) != 0)
        {
            throw new SandboxStartException($"could not give the workspace's filesystem to uid {uid} (errno {Marshal.GetLastPInvokeError()})");
        }
        var lostAndFound = Path.Combine(mountPoint, "lost+found");
        if (Directory.Exists(lostAndFound))
        {
            Directory.Delete(lostAndFound);
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Writes the template into a new sparse image and mounts it; false if the caller must run mount instead.</summary>
    private bool CopyAndMount(string image, string mountPoint)
    {
        using var handle = File.OpenHandle(image, FileMode.CreateNew, FileAccess.ReadWrite);
        RandomAccess.SetLength(handle, sizeBytes); // sparse: costs nothing until written
        foreach (var (offset, data) in _template)
        {
            RandomAccess.Write(handle, data, offset);
        }
        return _loopSyscalls && TryMount(handle, image, mountPoint);
    }

    /// <summary>Unmounts and deletes a workspace's filesystem. Lazy, so a straggling process cannot block it.</summary>
    public void Delete(string workspaceId, string mountPoint)
    {
        if (IsMounted(mountPoint))
        {
            Unmount(mountPoint);
        }
        File.Delete(ImagePath(workspaceId));
    }

    /// <summary>Unmounts everything under <paramref name="workspacesDirectory"/> and deletes every image: what a crashed run left.</summary>
    public int SweepOrphans(string workspacesDirectory)
    {
        int count = 0;
        foreach (var mountPoint in MountPoints().Where(m => m.StartsWith(workspacesDirectory + "/", StringComparison.Ordinal)))
        {
            Unmount(mountPoint);
            count++;
        }
        if (Directory.Exists(imagesDirectory))
        {
            foreach (var image in Directory.EnumerateFiles(imagesDirectory, "*.img"))
            {
                File.Delete(image);
            }
        }
        return count;
    }

    private string ImagePath(string workspaceId) => Path.Combine(imagesDirectory, workspaceId + ".img");

    private static bool IsMounted(string mountPoint) => MountPoints().Contains(mountPoint);

    private static IEnumerable<string> MountPoints() =>
        File.ReadLines("/proc/self/mounts")
            .Select(line => line.Split(' '))
            .Where(fields => fields.Length > 1)
            .Select(fields => fields[1].Replace("\\040", " ", StringComparison.Ordinal));

    /// <summary>The parts of a sparse file that hold data, found with SEEK_DATA and SEEK_HOLE.</summary>
    private static List<(long Offset, byte[] Data)> ReadDataExtents(string path)
    {
        var extents = new List<(long, byte[])>();
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        long length = RandomAccess.GetLength(handle);
        int fd = (int)handle.DangerousGetHandle();
        for (long position = 0; position < length;)
        {
            long start = Lseek(fd, position, SeekData);
            if (start < 0)
            {
                break; // ENXIO: no data after position
            }
            long end = Lseek(fd, start, SeekHole);
            var data = new byte[end - start];
            int read = RandomAccess.Read(handle, data, start);
            if (read != data.Length)
            {
                throw new SandboxStartException("the template filesystem could not be read back");
            }
            extents.Add((start, data));
            position = end;
        }
        if (extents.Count == 0)
        {
            throw new SandboxStartException("mkfs.ext4 wrote nothing");
        }
        return extents;
    }

    /// <summary>
    /// Attaches the image to a free loop device (autoclear: the device is released when the
    /// filesystem is unmounted) and mounts it, as <c>mount -o loop,nosuid,nodev</c> does.
    /// False if this kernel has no LOOP_CONFIGURE (before 5.8): the caller then runs mount.
    /// </summary>
    private static bool TryMount(SafeFileHandle image, string imagePath, string mountPoint)
    {
        var config = new byte[LoopConfigSize];
        BinaryPrimitives.WriteUInt32LittleEndian(config.AsSpan(0), (uint)(int)image.DangerousGetHandle());
        BinaryPrimitives.WriteUInt32LittleEndian(config.AsSpan(LoopInfoOffset + LoFlagsOffset), LoFlagsAutoclear);
        var name = Encoding.UTF8.GetBytes(imagePath);
        name.AsSpan(0, Math.Min(name.Length, LoFileNameLength - 1)).CopyTo(config.AsSpan(LoopInfoOffset + LoFileNameOffset));
        SafeFileHandle? loop;
        string device;
        // One attach at a time in this process: concurrent creates would all be handed the same
        // free device and collide (EBUSY) over and over. The mount, the slow part, is outside.
        lock (AttachLock)
        {
            (loop, device) = Attach(config);
        }
        if (loop is null)
        {
            return false;
        }
        using (loop)
        {
            if (Mount(device, mountPoint, "ext4", MsNosuid | MsNodev, IntPtr.Zero) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                Ioctl((int)loop.DangerousGetHandle(), LoopClrFd, IntPtr.Zero);
                throw new SandboxStartException($"could not mount the workspace's filesystem (errno {errno})");
            }
        }
        return true;
    }

    /// <summary>The attached device (its handle open), or a null handle if LOOP_CONFIGURE is not supported.</summary>
    private static (SafeFileHandle? Loop, string Device) Attach(byte[] config)
    {
        using var control = File.OpenHandle("/dev/loop-control", FileMode.Open, FileAccess.ReadWrite);
        for (int attempt = 0; ; attempt++)
        {
            int number = Ioctl((int)control.DangerousGetHandle(), LoopCtlGetFree, IntPtr.Zero);
            if (number < 0)
            {
                throw new SandboxStartException($"no free loop device (errno {Marshal.GetLastPInvokeError()})");
            }
            var device = $"/dev/loop{number.ToString(CultureInfo.InvariantCulture)}";
            var loop = File.OpenHandle(device, FileMode.Open, FileAccess.ReadWrite);
            int result;
            unsafe
            {
                fixed (byte* p = config)
                {
                    result = Ioctl((int)loop.DangerousGetHandle(), LoopConfigure, (IntPtr)p);
                }
            }
            if (result == 0)
            {
                return (loop, device);
            }
            int errno = Marshal.GetLastPInvokeError();
            loop.Dispose();
            if (errno == Ebusy && attempt < 64)
            {
                continue; // another process (another server, losetup) took it between the two calls
            }
            if (errno is Enotty or Einval && attempt == 0)
            {
                return (null, device);
            }
            throw new SandboxStartException($"could not attach {device} (errno {errno})");
        }
    }

    private static void Unmount(string mountPoint)
    {
        if (Umount2(mountPoint, MntDetach) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Einval) // not (or no longer) a mount point
            {
                throw new SandboxStartException($"could not unmount {mountPoint} (errno {errno})");
            }
        }
    }

    private static async Task RunAsync(string fileName, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new SandboxStartException($"could not run {fileName}");
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        // Not cancelled half-way: a mkfs or mount left running would race the clean-up.
        await process.WaitForExitAsync(CancellationToken.None);
        await stdout;
        if (process.ExitCode != 0)
        {
            throw new SandboxStartException($"{Path.GetFileName(fileName)} failed (exit {process.ExitCode}): {(await stderr).Trim()}");
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static readonly object AttachLock = new();

    // <linux/loop.h>: struct loop_config { u32 fd; u32 block_size; struct loop_info64 info; u64 reserved[8]; }
    private const int LoopConfigSize = 304;
    private const int LoopInfoOffset = 8;
    private const int LoFlagsOffset = 52;      // after five u64 and three u32
    private const int LoFileNameOffset = 56;
    private const int LoFileNameLength = 64;
    private const uint LoFlagsAutoclear = 4;
    private const ulong LoopConfigure = 0x4C0A;
    private const ulong LoopClrFd = 0x4C01;
    private const ulong LoopCtlGetFree = 0x4C82;
    private const ulong MsNosuid = 2;
    private const ulong MsNodev = 4;
    private const int MntDetach = 2;
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int Ebusy = 16;
    private const int Einval = 22;
    private const int Enotty = 25;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, ulong request, IntPtr argument);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string fileSystemType, ulong flags, IntPtr data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chown(string path, int owner, int group);
}
