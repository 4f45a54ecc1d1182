namespace Vivarium.Sandbox.Seccomp;

/// <summary>What a rule does to a matching system call.</summary>
public enum SeccompAction
{
    /// <summary>Fail with EPERM: Python reports it as PermissionError, the session goes on.</summary>
    PermissionDenied,
    /// <summary>Fail with ENOSYS: callers fall back (glibc retries clone3 as clone, whose flags can be checked).</summary>
    NotImplemented,
}

/// <summary>A condition on one argument: <c>(arg &amp; Mask) == Value</c>.</summary>
/// <param name="Index">Argument index, 0-based.</param>
/// <param name="Mask">Bits to look at.</param>
/// <param name="Value">What they must equal for the rule to apply.</param>
public sealed record SeccompArgument(int Index, ulong Mask, ulong Value);

/// <summary>One rule: a system call, optionally narrowed to argument values.</summary>
/// <param name="Syscall">The call's name, as libseccomp knows it.</param>
/// <param name="Action">What happens when it matches.</param>
/// <param name="Argument">An argument condition, or null for every call.</param>
/// <param name="Why">What the rule protects against.</param>
public sealed record SeccompRule(string Syscall, SeccompAction Action, SeccompArgument? Argument, string Why);

/// <summary>
/// The system calls every sandbox is denied, on top of namespaces and dropped capabilities.
/// Modelled on Docker's default profile and gVisor's and sandbox2's deny lists: everything is
/// allowed except calls that reach kernel surface a code interpreter never needs. Denials
/// return an error instead of killing, so Python raises and the user sees why.
/// </summary>
public static class SeccompPolicy
{
    private const ulong CloneNewNamespaceFlags =
        0x00020000 /* NEWNS */ | 0x04000000 /* NEWUTS */ | 0x08000000 /* NEWIPC */ | 0x10000000 /* NEWUSER */ |
        0x20000000 /* NEWPID */ | 0x40000000 /* NEWNET */ | 0x02000000 /* NEWCGROUP */;

    private const ulong TIOCSTI = 0x5412;
    private const ulong TIOCLINUX = 0x541C;

    /// <summary>The rules, in the order they are compiled.</summary>
    public static IReadOnlyList<SeccompRule> Rules { get; } = Build();

    private static List<SeccompRule> Build()
    {
        var rules = new List<SeccompRule>();
        void Deny(string why, params string[] calls) =>
            rules.AddRange(calls.Select(c => new SeccompRule(c, SeccompAction.PermissionDenied, null, why)));

        Deny("changing the filesystem tree", "mount", "umount2", "pivot_root", "chroot",
            "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr");
        Deny("reading or writing other processes' memory", "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp");
        Deny("kernel attack surface with a history of privilege escalations", "bpf", "perf_event_open", "userfaultfd",
            "io_uring_setup", "io_uring_enter", "io_uring_register");
        Deny("the kernel keyring, shared across the host", "keyctl", "add_key", "request_key");
        Deny("loading kernel code", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module");
        Deny("leaving or creating namespaces", "unshare", "setns");
        Deny("opening files by handle, which bypasses the mount namespace", "open_by_handle_at", "name_to_handle_at");
        Deny("host administration", "swapon", "swapoff", "reboot", "syslog", "acct", "quotactl", "quotactl_fd",
            "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup", "iopl", "ioperm", "lookup_dcookie", "nfsservctl", "uselib");

        // clone with a namespace flag is unshare by another name. clone3 passes its flags in
        // memory, where a filter cannot read them, so it answers ENOSYS and glibc falls back to clone.
        for (int bit = 0; bit < 64; bit++)
        {
            ulong flag = 1UL << bit;
            if ((CloneNewNamespaceFlags & flag) != 0)
            {
                rules.Add(new SeccompRule("clone", SeccompAction.PermissionDenied, new SeccompArgument(0, flag, flag), "creating namespaces through clone"));
            }
        }
        rules.Add(new SeccompRule("clone3", SeccompAction.NotImplemented, null, "clone3 hides its flags from the filter"));

        // Typing into a terminal that is not ours (bwrap's --new-session stops it too).
        rules.Add(new SeccompRule("ioctl", SeccompAction.PermissionDenied, new SeccompArgument(1, 0xFFFFFFFF, TIOCSTI), "injecting keystrokes into a terminal"));
        rules.Add(new SeccompRule("ioctl", SeccompAction.PermissionDenied, new SeccompArgument(1, 0xFFFFFFFF, TIOCLINUX), "the Linux console's keystroke injection"));
        return rules;
    }
}
