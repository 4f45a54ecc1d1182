using System.Security.Cryptography;
using System.Text;

namespace Vivarium.Cli.Local;

/// <summary>
/// Removes the parent cgroups that a bubblewrap backend made for one state directory.
/// </summary>
/// <remarks>
/// The backend names its parent cgroup after its state directory and sweeps it at its next
/// start, which suits a server's fixed directory. The CLI uses a fresh directory per run,
/// so no later start ever sweeps it: without this, each run would leave three empty cgroups
/// behind until the next boot. The name is derived the way the backend derives it
/// (<c>vivarium-</c> + the first 12 hex digits of the SHA-256 of the path); if that ever
/// changes, this finds nothing and the CLI's test for it fails.
/// </remarks>
internal static class InstanceCgroups
{
    private const string Root = "/sys/fs/cgroup";
    private static readonly string[] V1Controllers = ["memory", "pids", "cpu"];

    /// <summary>The cgroup directories that belong to <paramref name="stateDirectory"/>'s backend (existing or not).</summary>
    public static IReadOnlyList<string> DirectoriesFor(string stateDirectory)
    {
        var instance = "vivarium-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stateDirectory)))[..12];
        return [.. V1Controllers.Select(c => Path.Combine(Root, c, instance)), Path.Combine(Root, instance)];
    }

    /// <summary>Removes them, when they are empty (rmdir refuses otherwise, and then they stay).</summary>
    public static void RemoveFor(string stateDirectory)
    {
        foreach (var directory in DirectoriesFor(stateDirectory).Where(Directory.Exists))
        {
            try
            {
                Directory.Delete(directory); // rmdir: a cgroup's files are virtual, it goes when it has no tasks and no children
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Still busy: leave it; the kernel keeps it harmless and a reboot clears it.
            }
        }
    }
}
