using System.Runtime.InteropServices;

namespace Vivarium.Sandbox.Seccomp;

/// <summary>
/// Compiles <see cref="SeccompPolicy"/> to a classic BPF program with libseccomp, which
/// bubblewrap loads with <c>--seccomp FD</c> just before it runs the runner. Calls made under
/// another architecture's ABI (32-bit syscalls on x86-64) are killed by libseccomp's
/// architecture check, so they cannot slip past the rules.
/// </summary>
internal static partial class SeccompCompiler
{
    private const string Library = "libseccomp.so.2";
    private const uint ActAllow = 0x7fff0000;
    private const uint ActErrno = 0x00050000;
    private const int EPERM = 1;
    private const int ENOSYS = 38;
    private const int CompareMaskedEqual = 7; // SCMP_CMP_MASKED_EQ

    /// <summary>Writes the compiled filter to <paramref name="path"/>.</summary>
    /// <exception cref="SandboxStartException">libseccomp is missing or refused a rule.</exception>
    public static void WriteFilter(IReadOnlyList<SeccompRule> rules, string path)
    {
        IntPtr context;
        try
        {
            context = seccomp_init(ActAllow);
        }
        catch (DllNotFoundException e)
        {
            throw new SandboxStartException("libseccomp (libseccomp2) is not installed; sandboxes need it for their system-call filter", e);
        }
        if (context == IntPtr.Zero)
        {
            throw new SandboxStartException("libseccomp could not create a filter");
        }
        try
        {
            foreach (var rule in rules)
            {
                int number = seccomp_syscall_resolve_name(rule.Syscall);
                if (number < 0)
                {
                    continue; // not a system call on this architecture
                }
                uint action = ActErrno | (uint)(rule.Action == SeccompAction.NotImplemented ? ENOSYS : EPERM);
                var conditions = rule.Argument is { } a
                    ? new[] { new ArgumentComparison { Index = (uint)a.Index, Operator = CompareMaskedEqual, DatumA = a.Mask, DatumB = a.Value } }
                    : [];
                int result = seccomp_rule_add_array(context, action, number, (uint)conditions.Length, conditions);
                if (result < 0)
                {
                    throw new SandboxStartException($"libseccomp refused the rule for {rule.Syscall} (error {-result})");
                }
            }
            using var file = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None);
            int exported = seccomp_export_bpf(context, (int)file.DangerousGetHandle());
            if (exported < 0)
            {
                throw new SandboxStartException($"libseccomp could not export the filter (error {-exported})");
            }
        }
        finally
        {
            seccomp_release(context);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ArgumentComparison
    {
        public uint Index;
        public int Operator;
        public ulong DatumA;
        public ulong DatumB;
    }

    [LibraryImport(Library)]
    private static partial IntPtr seccomp_init(uint defaultAction);

    [LibraryImport(Library)]
    private static partial int seccomp_rule_add_array(IntPtr context, uint action, int syscall, uint count, [In] ArgumentComparison[] arguments);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int seccomp_syscall_resolve_name(string name);

    [LibraryImport(Library)]
    private static partial int seccomp_export_bpf(IntPtr context, int fd);

    [LibraryImport(Library)]
    private static partial void seccomp_release(IntPtr context);
}
