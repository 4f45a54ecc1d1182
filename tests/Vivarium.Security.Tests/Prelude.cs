namespace Vivarium.Security.Tests;

/// <summary>Python helpers the attack programs start with.</summary>
public static class Prelude
{
    /// <summary>
    /// <c>attempt(label, fn, *args)</c> runs one hostile step and prints its verdict line
    /// (<c>=> label: SUCCEEDED …</c> or <c>=> label: PermissionError EPERM</c>);
    /// <c>sys_call(name, *args)</c> makes a raw system call through ctypes, so a denial by the
    /// seccomp filter cannot be confused with a refusal by a Python wrapper.
    /// </summary>
    public const string Python = """
        import ctypes, errno, os, platform, socket, subprocess, sys, time
        def _describe(e):
            if isinstance(e, OSError) and e.errno:
                return f'{type(e).__name__} {errno.errorcode.get(e.errno, e.errno)}'
            return f'{type(e).__name__}: {e}'
        def attempt(label, fn, *args):
            try:
                r = fn(*args)
            except Exception as e:
                print('=>', label + ':', _describe(e))
                return
            print('=>', label + ': SUCCEEDED', repr(r)[:120])
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _NR = {
            'x86_64': dict(keyctl=250, add_key=248, bpf=321, perf_event_open=298, userfaultfd=323, io_uring_setup=425,
                           init_module=175, finit_module=313, unshare=272, setns=308, pivot_root=155, chroot=161,
                           mount=165, umount2=166, ptrace=101, clone=56, kexec_load=246, open_by_handle_at=304,
                           name_to_handle_at=303, syslog=103, process_vm_readv=310),
            'aarch64': dict(keyctl=219, add_key=217, bpf=280, perf_event_open=241, userfaultfd=282, io_uring_setup=425,
                            init_module=105, finit_module=273, unshare=97, setns=268, pivot_root=41, chroot=51,
                            mount=40, umount2=39, ptrace=117, clone=220, kexec_load=104, open_by_handle_at=265,
                            name_to_handle_at=264, syslog=116, process_vm_readv=270),
        }[platform.machine()]
        def sys_call(name, *args):
            conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
            r = _libc.syscall(ctypes.c_long(_NR[name]), *conv)
            if r == 0 and name == 'clone':
                os._exit(0)  # only a child made by a clone that should have been denied gets here
            if r < 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            return r

        """;
}
