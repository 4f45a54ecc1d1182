namespace Vivarium.Security.Tests;

/// <summary>The table of attacks, in the order they run. Each group lives in its own file.</summary>
public static partial class SecurityCases
{
    public static IReadOnlyList<SecurityCase> All { get; } =
    [
        .. FileDescriptors(),
        .. ServerExfiltration(),
        .. HostFilesystemRead(),
        .. FilesystemEscape(),
        .. PrivilegeEscalation(),
        .. NetworkAccess(),
        .. CrossSessionLeakage(),
        .. MalformedOutput(),
        .. ResourceExhaustion(),
        .. PersistencePastTheSession(),
        .. ServerMemoryCaps(),
    ];
}
