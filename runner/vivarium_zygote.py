#!/usr/bin/python3
"""Vivarium's fork server ("zygote"): imports the runner and its heavy modules once, then
forks one sandbox per request, so sandboxes share those pages copy-on-write and start in
milliseconds instead of importing numpy, pandas, matplotlib and IPython each time.

Started by the server as root with a clean environment. It holds no secret and no server
state: only the modules, and what the server sends it (below).

Control channel (stdin/stdout, frames of a 4-byte big-endian length and UTF-8 JSON):
  server -> zygote: config (first, once), spawn, kill
  zygote -> server: ready, spawned, spawn_failed, exited

Per spawn, three processes (the shape bubblewrap has too):
  A  outside the sandbox's namespaces; root only until it has joined the cgroups and
     connected the runner channel, then the workspace's host uid. It creates the
     namespaces (user, mount, pid, net, ipc, uts, cgroup), forks B and waits for it.
  B  pid 1 of the new pid namespace: builds the filesystem, pivots into it, drops every
     capability, sets no_new_privs, loads the seccomp filter, forks C and reaps orphans.
  C  the runner, in-process: vivarium_runner.serve() on the channel socket.
Standard library and ctypes only: this runs before, and outside, any sandbox.
"""

import ctypes
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

# -- Linux constants (x86_64 and aarch64 share these) ---------------------------------
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
MADV_COLLAPSE = 25
ST_NOSUID, ST_NODEV, ST_NOEXEC = 2, 4, 8
ST_NOATIME, ST_NODIRATIME, ST_RELATIME = 1024, 2048, 4096
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

SANDBOX_ID = 1000              # the uid and gid the sandbox sees, mapped to the workspace's host uid
WORKSPACE_MOUNT = "/home/user"
RUNNER_MOUNT = "/opt/vivarium/vivarium_runner.py"
MATPLOTLIB_MOUNT = "/tmp/matplotlib"
EXIT_SETUP_FAILED = 121
DEVICE_NODES = ("null", "zero", "full", "random", "urandom", "tty")

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.unshare.argtypes = [ctypes.c_int]
libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.syscall.restype = ctypes.c_long


def check(result, what):
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    return check(libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source.encode() if source else None, target.encode(),
                     fstype.encode() if fstype else None, flags, data.encode() if data else None),
          f"mount {source or fstype} on {target}")


# -- the control channel ----------------------------------------------------------------

def read_exactly(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def receive(fd):
    header = read_exactly(fd, 4)
    if header is None:
        return None
    body = read_exactly(fd, struct.unpack(">I", header)[0])
    return None if body is None else json.loads(body)


def send(fd, msg_type, **fields):
    payload = json.dumps({"type": msg_type, **fields}).encode()
    view = memoryview(struct.pack(">I", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


# -- the server loop ----------------------------------------------------------------------

def main():
    # Die with the server's launcher thread, and stay out of its terminal's process group.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)
    os.setsid()
    # No core files: not of this root process, nor of the outer processes it forks (a runner's
    # own limits come from its config).
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    config = receive(0)
    if config is None or config.get("type") != "config":
        os._exit(2)
    started = time.monotonic()
    # Set here, not at exec: the environment block a process was started with stays readable
    # (/proc/PID/environ) in every sandbox forked from it, and must hold no host path.
    os.environ.update(config.get("env", {}))
    runner = load_runner(config["runner_path"])
    runner.preimport(config.get("preload", []), config.get("report_packages", []))
    # The IPython shell too, once, for every sandbox (the runner re-points its paths in the
    # child). fd 1 is the control channel: whatever the shell's set-up might print goes to
    # /dev/null instead of corrupting it.
    control = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    try:
        runner.prepare_session(config.get("preload", []))
    finally:
        sys.stdout.flush()
        os.dup2(control, 1)
        os.close(control)
    # Everything imported so far is never collected: the collector would otherwise write to
    # (and so copy) every page of it in every sandbox.
    gc.collect()
    gc.freeze()
    collapse_heap()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise SystemExit(f"vivarium-zygote: {threads} threads after the imports; fork needs exactly one")
    send(1, "ready", pid=os.getpid(), startup_ms=round((time.monotonic() - started) * 1000, 1))
    Zygote(runner, config["socket_path"]).serve()


def collapse_heap():
    """Backs the heap with huge pages where it can (MADV_COLLAPSE, Linux 6.1+; a no-op before).

    Every sandbox is three forks of this process, and a fork copies one page-table entry per
    4 KiB page of private memory (~85 MiB here): that copy was the largest single cost of a
    start. A 2 MiB huge page is one entry. A child that writes into one still copies only the
    4 KiB it writes (the kernel splits the mapping in the child), so sharing is unchanged.
    """
    huge = 1 << 21
    with open("/proc/self/maps") as f:
        regions = [line.split() for line in f]
    for fields in regions:
        # Anonymous private writable memory: Python's arenas, malloc's heap.
        if fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start = (start + huge - 1) & ~(huge - 1)
        end &= ~(huge - 1)
        if end > start:
            libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_COLLAPSE)


def load_runner(path):
    """The runner module, compiled under the path sandboxes see it at (tracebacks name it)."""
    import types
    with open(path, "rb") as f:
        source = f.read()
    module = types.ModuleType("vivarium_runner")
    module.__file__ = RUNNER_MOUNT
    sys.modules["vivarium_runner"] = module
    exec(compile(source, RUNNER_MOUNT, "exec"), module.__dict__)
    return module


class Zygote:
    def __init__(self, runner, socket_path):
        self.runner = runner
        self.socket_path = socket_path
        self.children = {}  # pid of A -> sandbox id

    def serve(self):
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(0, selectors.EVENT_READ, "control")
        selector.register(wake_read, selectors.EVENT_READ, "child")
        while True:
            for key, _ in selector.select():
                if key.data == "child":
                    try:
                        while os.read(wake_read, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                    continue
                msg = receive(0)
                if msg is None:
                    return  # the server closed the channel; children die with us (PDEATHSIG)
                if msg.get("type") == "spawn":
                    self.spawn(msg, wake_read, wake_write)
                elif msg.get("type") == "kill":
                    for pid, sandbox in self.children.items():
                        if sandbox == msg.get("id"):
                            os.kill(pid, signal.SIGKILL)  # still ours, not reaped: never a reused pid

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            sandbox = self.children.pop(pid, None)
            if sandbox is not None:
                code = os.waitstatus_to_exitcode(status)
                send(1, "exited", id=sandbox, pid=pid, status=code)

    def spawn(self, request, *own_fds):
        sandbox = request.get("id")
        try:
            if len(os.listdir("/proc/self/task")) != 1:
                raise RuntimeError("the fork server has more than one thread")
            pid = os.fork()
        except Exception as exc:
            send(1, "spawn_failed", id=sandbox, message=str(exc))
            return
        if pid == 0:
            code = EXIT_SETUP_FAILED
            try:
                code = SandboxSetup(self.runner, request, self.socket_path, own_fds).run()
            except BaseException as exc:  # noqa: B036 (this process must never return to the loop)
                try:
                    os.write(2, f"vivarium-zygote: {sandbox}: {exc}\n".encode())
                except OSError:
                    pass
            os._exit(code)
        self.children[pid] = sandbox
        send(1, "spawned", id=sandbox, pid=pid)


# -- one sandbox ---------------------------------------------------------------------------

class SandboxSetup:
    def __init__(self, runner, request, socket_path, zygote_fds):
        self.runner = runner
        self.request = request
        self.socket_path = socket_path
        self.zygote_fds = zygote_fds
        self.uid = int(request["host_uid"])
        self.channel = None

    # Process A ---------------------------------------------------------------------------

    def run(self):
        zygote = os.getppid()
        os.setsid()  # a session of its own: no terminal's signals, no TIOCSTI target
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote:
            return EXIT_SETUP_FAILED
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in self.zygote_fds:
            os.close(fd)
        # Nothing of the zygote's control channel may reach the sandbox.
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)

        # As root, and before anything else: the cgroups (so every later process is limited),
        # then the runner channel (its directory is root's only).
        for path in self.request["cgroup_files"]:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        self.channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channel.connect(self.socket_path)
        hello = json.dumps({"type": "hello", "sandbox": self.request["id"]}).encode()
        self.channel.sendall(struct.pack(">I", len(hello)) + hello)
        with open(self.request["seccomp_path"], "rb") as f:
            self.seccomp = f.read()
        # Bind sources resolved now, against the host's root: after the first pivot they are read
        # through /oldroot, where an absolute symlink (/etc/localtime) would point nowhere.
        r = self.request
        self.optional = [p for p in r["optional_files"] if os.path.exists(p)]
        sources = ["/usr", r["passwd_path"], r["group_path"], r["workspace"], r["runner_path"],
                   *r["matplotlib_files"], *self.optional, *("/dev/" + n for n in DEVICE_NODES)]
        self.sources = {path: os.path.realpath(path) for path in sources}
        os.closerange(3, self.channel.fileno())
        os.closerange(self.channel.fileno() + 1, 1 << 16)

        # Then the workspace's host uid, for good: the namespaces are created unprivileged,
        # as bubblewrap creates them, so root never exists inside.
        os.setgroups([])
        os.setresgid(self.uid, self.uid, self.uid)
        os.setresuid(self.uid, self.uid, self.uid)
        # Changing uid made the process non-dumpable, which gives /proc/self to root and would
        # keep it from writing its own uid_map.
        prctl(PR_SET_DUMPABLE, 1)
        check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                           CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP), "unshare")
        for name, text in (("setgroups", "deny"), ("uid_map", f"{SANDBOX_ID} {self.uid} 1\n"),
                           ("gid_map", f"{SANDBOX_ID} {self.uid} 1\n")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        # The credential changes cleared the parent-death signal: set it again, and make sure
        # the zygote did not die in between.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote:
            return EXIT_SETUP_FAILED
        mount(None, "/", None, MS_REC | MS_PRIVATE)

        alive_read, alive_write = os.pipe()
        pid = os.fork()  # B: pid 1 of the new pid namespace
        if pid == 0:
            os.close(alive_write)
            code = EXIT_SETUP_FAILED
            try:
                code = self.init(alive_read)
            except BaseException as exc:  # noqa: B036
                self.fatal(exc)
            os._exit(code)
        os.close(alive_read)
        self.channel.close()
        # Dumpable only as long as writing its own uid_map needed it.
        prctl(PR_SET_DUMPABLE, 0)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            except InterruptedError:
                continue

    def fatal(self, exc):
        """Tells the server why the sandbox could not be set up, over the runner channel."""
        try:
            payload = json.dumps({"type": "fatal", "message": f"sandbox setup failed: {exc}"}).encode()
            self.channel.sendall(struct.pack(">I", len(payload)) + payload)
        except Exception:
            pass

    # Process B ---------------------------------------------------------------------------

    def init(self, alive_read):
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.set_blocking(alive_read, False)
        try:
            if os.read(alive_read, 1) == b"":
                return EXIT_SETUP_FAILED  # A died before the death signal was armed
        except BlockingIOError:
            pass
        os.close(alive_read)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 2)  # the zygote's stderr goes to the server: not for the sandbox
        os.close(null)

        self.build_root()
        # 0, 1 and 2 pointed at the host's /dev/null, a descriptor on a host mount: the
        # sandbox's own node replaces it.
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        libc.sethostname(b"sandbox", 7)
        self.bring_up_loopback()
        os.chdir(WORKSPACE_MOUNT)
        self.drop_privileges()
        self.load_seccomp()

        pid = os.fork()  # C: the runner
        if pid == 0:
            self.become_runner()  # never returns
        self.channel.close()
        # pid 1: reap every orphan, end with the runner.
        while True:
            try:
                reaped, status = os.waitpid(-1, 0)
            except InterruptedError:
                continue
            except ChildProcessError:
                return 0
            if reaped == pid:
                return os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)

    def build_root(self):
        """The filesystem bubblewrap's recipe builds, on a tmpfs, then pivots into it."""
        r = self.request
        # Like bubblewrap: a scratch tmpfs becomes the root, the host's moves to /oldroot, and
        # every bind source is read through /oldroot.
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        os.mkdir("/tmp/newroot")
        os.mkdir("/tmp/oldroot")
        check(libc.syscall(155 if os.uname().machine == "x86_64" else 41, b"/tmp", b"/tmp/oldroot"), "pivot_root")
        os.chdir("/")
        mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")

        def host(path):
            return "/oldroot" + self.sources[path]

        def target(path):
            return "/newroot" + path

        def bind(source, dest, read_only, recursive=True):
            if os.path.isdir(host(source)):
                os.makedirs(target(dest), exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target(dest)), exist_ok=True)
                os.close(os.open(target(dest), os.O_WRONLY | os.O_CREAT, 0o644))
            mount(host(source), target(dest), None, MS_BIND | (MS_REC if recursive else 0))
            # nosuid and nodev on every bind, as bubblewrap does; the remount must keep the
            # flags the kernel locked on the source (noexec, atime).
            locked = os.statvfs(target(dest)).f_flag
            flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)
            for st_flag, ms_flag in ((ST_NOEXEC, MS_NOEXEC), (ST_NOATIME, MS_NOATIME),
                                     (ST_NODIRATIME, MS_NODIRATIME), (ST_RELATIME, MS_RELATIME)):
                if locked & st_flag:
                    flags |= ms_flag
            mount(None, target(dest), None, flags)

        bind("/usr", "/usr", read_only=True)
        for name, dest in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"), ("sbin", "usr/sbin")):
            os.symlink(dest, target("/" + name))
        for path in self.optional:
            bind(path, path, read_only=True)
        bind(r["passwd_path"], "/etc/passwd", read_only=True)
        bind(r["group_path"], "/etc/group", read_only=True)

        # /proc of the new pid namespace, with the kernel's knobs read-only (as bubblewrap does).
        os.mkdir(target("/proc"))
        mount("proc", target("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for knob in ("sys", "sysrq-trigger", "irq", "bus"):
            path = target("/proc/" + knob)
            if os.path.exists(path):
                mount(path, path, None, MS_BIND | MS_REC)
                mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

        # A minimal /dev: the harmless nodes, bound from the host's.
        os.mkdir(target("/dev"))
        mount("tmpfs", target("/dev"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        for node in DEVICE_NODES:
            os.close(os.open(target("/dev/" + node), os.O_WRONLY | os.O_CREAT, 0o644))
            mount(host("/dev/" + node), target("/dev/" + node), None, MS_BIND)
        for name, dest in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                           ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore"), ("ptmx", "pts/ptmx")):
            os.symlink(dest, target("/dev/" + name))
        os.mkdir(target("/dev/pts"))
        mount("devpts", target("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
        os.mkdir(target("/dev/shm"))
        mount("tmpfs", target("/dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={int(r['shm_bytes'])}")
        # Nodes and links are all there: nothing more may be created in /dev.
        mount(None, target("/dev"), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)

        os.mkdir(target("/tmp"))
        mount("tmpfs", target("/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={int(r['tmp_bytes'])}")
        os.mkdir(target(MATPLOTLIB_MOUNT))
        for path in r["matplotlib_files"]:
            bind(path, MATPLOTLIB_MOUNT + "/" + os.path.basename(path), read_only=True)
        bind(r["workspace"], WORKSPACE_MOUNT, read_only=False)
        bind(r["runner_path"], RUNNER_MOUNT, read_only=True)

        # Into the new root; the host's tree (and the scratch tmpfs holding it) is detached.
        os.chdir("/newroot")
        check(libc.syscall(155 if os.uname().machine == "x86_64" else 41, b".", b"."), "pivot_root")
        check(libc.umount2(b".", MNT_DETACH), "umount the host's root")
        os.chdir("/")
        # Nothing may be created at the top of the tree (bubblewrap's root stays writable).
        mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)

    def bring_up_loopback(self):
        # The new network namespace has only lo, and it starts down; bubblewrap brings it up.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack("16sH22x", b"lo", 0)
            flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))

    def drop_privileges(self):
        """Every capability of the user namespace goes, the bounding set too; then no_new_privs."""
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
        for cap in range(last + 1):
            prctl(PR_CAPBSET_DROP, cap)
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        data = (ctypes.c_uint32 * 6)()                  # effective, permitted, inheritable: all empty
        check(libc.capset(header, data), "capset")
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        with open("/proc/self/status") as f:
            caps = {line.split(":")[0]: int(line.split()[1], 16) for line in f if line.startswith("Cap")}
        if any(caps.values()) or len(caps) < 5:
            raise RuntimeError(f"capabilities left after dropping them: {caps}")
        pdeathsig = ctypes.c_int(0)
        check(libc.prctl(PR_GET_PDEATHSIG, ctypes.addressof(pdeathsig), 0, 0, 0), "prctl(PR_GET_PDEATHSIG)")
        if pdeathsig.value != signal.SIGKILL:
            raise RuntimeError("the parent-death signal was lost")

    def load_seccomp(self):
        count = len(self.seccomp) // 8
        if count == 0 or len(self.seccomp) % 8:
            raise RuntimeError("the seccomp filter is not a BPF program")

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        program = ctypes.create_string_buffer(self.seccomp, len(self.seccomp))
        fprog = SockFprog(count, ctypes.cast(program, ctypes.c_void_p))
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")

    # Process C ---------------------------------------------------------------------------

    def become_runner(self):
        code = 70
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != 1:
                os._exit(EXIT_SETUP_FAILED)
            r = self.request
            os.environ.clear()
            os.environ.update(r["env"])
            sys.argv = [RUNNER_MOUNT]
            sys.path[:0] = [os.path.dirname(RUNNER_MOUNT)]
            self.forget_zygote_state()
            fd = self.channel.detach()
            self.runner.serve(r["runner"], fd, fd)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 70
        except BaseException as exc:  # noqa: B036
            self.fatal(exc)
        os._exit(code)

    def forget_zygote_state(self):
        """What the imports computed from the zygote's process and paths, recomputed for this one."""
        import random
        random.seed()  # every child would otherwise draw the same numbers
        if "numpy.random" in sys.modules:
            sys.modules["numpy.random"].seed()
        mpl = sys.modules.get("matplotlib")
        if mpl is not None:
            # Cached at import from the zygote's MPLCONFIGDIR, a host path that does not exist here.
            for name in ("get_configdir", "get_cachedir"):
                cached = getattr(mpl, name, None)
                if hasattr(cached, "__wrapped__") and hasattr(mpl, "_logged_cached"):
                    setattr(mpl, name, mpl._logged_cached(name.upper()[4:] + "=%s")(cached.__wrapped__))
            style = sys.modules.get("matplotlib.style.core")
            if style is not None and hasattr(style, "USER_LIBRARY_PATHS"):
                style.USER_LIBRARY_PATHS[:] = [os.path.join(MATPLOTLIB_MOUNT, "stylelib")]


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
