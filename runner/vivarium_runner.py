#!/usr/bin/python3
"""Vivarium's runner: one stateful IPython interpreter inside a sandbox.

The host talks to it over a framed protocol (4-byte big-endian length, then a
UTF-8 JSON object with a "type") carried by the process's original stdin and
stdout. Before any user code runs, the runner closes every other descriptor it
inherited, moves that channel to private descriptors and points fds 0, 1 and 2
at /dev/null and two pipes, so nothing the user's code (or a C extension, or a
subprocess) writes can corrupt it.

Host -> runner: execute, interrupt, read_file, write_file, list_files,
                delete_file, set_env, shutdown.
Runner -> host: ready, stream, display_data, clear_output, execute_result,
                error, execute_reply, reply (to every request but execute).

Three threads: the main thread runs cells (so SIGINT lands there), a control
thread reads frames (so interrupts and file operations are served while a cell
runs), and one forwarder per output pipe.
"""

import base64
import codecs
import gc
import io
import json
import os
import queue
import select
import signal
import stat
import struct
import sys
import threading
import time
import traceback

PROTOCOL_VERSION = 1
WORKSPACE = "/home/user"
MAX_FRAME_BYTES = 64 * 1024 * 1024
STREAM_CHUNK_BYTES = 64 * 1024
MAX_LISTED_FILES = 10_000
RUNNER_PID = os.getpid()


# --------------------------------------------------------------------------
# The channel to the host
# --------------------------------------------------------------------------

class Channel:
    """Length-prefixed JSON frames over a pair of file descriptors."""

    def __init__(self, in_fd, out_fd, max_message_bytes):
        self.max_message_bytes = max_message_bytes
        self._in = io.FileIO(in_fd, "rb", closefd=True)
        self._out_fd = out_fd
        self._send_lock = threading.Lock()
        self._held = b""
        self.closed = False

    def send(self, msg_type, **fields):
        self._send(msg_type, fields, hold=False)

    def send_with_next(self, msg_type, **fields):
        """Sends a message together with the next one, in one write.

        For the cell's value: it comes at the very end of the cell and the execute_reply
        follows it within tens of microseconds, so two writes would wake the host twice.
        Every send carries what is held, and every cell ends with one (its execute_reply).
        """
        self._send(msg_type, fields, hold=True)

    def _send(self, msg_type, fields, hold):
        if self.closed or os.getpid() != RUNNER_PID:
            return
        payload = self._encode(msg_type, fields)
        if len(payload) > self.max_message_bytes and msg_type in ("display_data", "execute_result"):
            # An oversized rich object is replaced by a note; the session goes on.
            note = (f"[output of {len(payload)} bytes not shown: over the limit of "
                    f"{self.max_message_bytes} bytes for one display object]")
            fields = {**fields, "data": {"text/plain": note}, "metadata": {}}
            payload = self._encode(msg_type, fields)
        frame = struct.pack(">I", len(payload)) + payload
        with self._send_lock:
            if hold:
                self._held += frame
                return
            frame, self._held = self._held + frame, b""
            view = memoryview(frame)
            while view:
                written = os.write(self._out_fd, view)
                view = view[written:]

    @staticmethod
    def _encode(msg_type, fields):
        return json.dumps({"type": msg_type, **fields}, ensure_ascii=False,
                          default=_json_fallback).encode("utf-8", "replace")

    def receive(self):
        """The next message, or None when the host has gone."""
        header = self._read_exactly(4)
        if header is None:
            return None
        (length,) = struct.unpack(">I", header)
        if length > MAX_FRAME_BYTES:
            return None
        body = self._read_exactly(length)
        if body is None:
            return None
        return json.loads(body)

    def _read_exactly(self, n):
        chunks = []
        while n > 0:
            chunk = self._in.read(n)
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close_in_child(self):
        # A child made by os.fork() must never write frames: it would
        # interleave with the runner's and corrupt the channel.
        self.closed = True
        for fd in (self._in.fileno(), self._out_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _json_fallback(value):
    return repr(value)


# --------------------------------------------------------------------------
# Output captured at the file-descriptor level
# --------------------------------------------------------------------------

class StreamForwarder(threading.Thread):
    """Reads one output pipe and forwards what arrives as stream messages.

    The lock makes drain() exact: whatever was written to the fd before
    drain() was called is sent before drain() returns.

    Per cell, at most max_bytes are forwarded; past that the pipe is still
    read (so the writer never blocks) but only the last TAIL_BYTES are kept,
    and finish() sends them with a note. A flood of output thus costs neither
    the channel nor the host more than a bounded amount.
    """

    TAIL_BYTES = 8 * 1024  # below the host's own tail (20k characters), so the note survives it

    def __init__(self, name, read_fd, session, max_bytes):
        super().__init__(name=f"forward-{name}", daemon=True)
        self.stream_name = name
        self.fd = read_fd
        self.session = session
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.sent = 0
        self.dropped = 0
        self.tail = bytearray()
        os.set_blocking(read_fd, False)

    def run(self):
        while True:
            select.select([self.fd], [], [])
            with self.lock:
                self._pump()

    def drain(self):
        with self.lock:
            self._pump()

    def begin(self):
        """Starts a cell's budget."""
        with self.lock:
            self._pump()
            self.sent = 0
            self.dropped = 0
            self.tail = bytearray()

    def finish(self):
        """Drains, and if the cell went over its budget, sends the kept tail with a note."""
        with self.lock:
            self._pump()
            if self.dropped:
                tail = bytes(self.tail).decode("utf-8", "replace")
                omitted = self.dropped - len(self.tail)
                self._send(f"\n[... {omitted:,} bytes of {self.stream_name} not sent: over the limit of "
                           f"{self.max_bytes:,} bytes per execution ...]\n{tail}")
                self.dropped = 0
                self.tail = bytearray()

    def _pump(self):
        while True:
            try:
                data = os.read(self.fd, STREAM_CHUNK_BYTES)
            except BlockingIOError:
                return
            if not data:
                return
            room = self.max_bytes - self.sent
            if room > 0:
                self.sent += min(room, len(data))
                text = self.decoder.decode(data[:room])
                if text:
                    self._send(text)
                data = data[room:]
            if data:
                self.dropped += len(data)
                self.tail += data
                del self.tail[:-self.TAIL_BYTES]

    def _send(self, text):
        self.session.channel.send("stream", parent=self.session.parent, name=self.stream_name, text=text)


# --------------------------------------------------------------------------
# Workspace files, seen from inside the sandbox
# --------------------------------------------------------------------------

class PathError(Exception):
    pass


def resolve_workspace_path(path, must_exist=False):
    """An absolute path inside the workspace, or PathError.

    Symlinks are resolved with the sandbox's own view of the filesystem; a
    path that resolves outside the workspace is refused.
    """
    if not isinstance(path, str) or "\x00" in path:
        raise PathError("path must be a string without NUL bytes")
    joined = os.path.join(WORKSPACE, path)  # an absolute path replaces the root
    real = os.path.realpath(joined)
    if real != WORKSPACE and not real.startswith(WORKSPACE + "/"):
        raise PathError("path resolves outside the workspace")
    if must_exist and not os.path.lexists(real):
        raise FileNotFoundError(path)
    return real


def relative(real):
    return os.path.relpath(real, WORKSPACE)


def snapshot_workspace():
    """path -> (size, mtime_ns, inode) for every regular file, bounded."""
    files = {}
    for root, dirs, names in os.walk(WORKSPACE):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in names:
            full = os.path.join(root, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files[relative(full)] = (st.st_size, st.st_mtime_ns, st.st_ino)
            if len(files) >= MAX_LISTED_FILES:
                return files
    return files


def diff_snapshots(before, after):
    changes = []
    for path, (size, mtime, ino) in after.items():
        old = before.get(path)
        if old is None:
            changes.append({"path": path, "size": size, "change": "created"})
        elif old != (size, mtime, ino):
            changes.append({"path": path, "size": size, "change": "modified"})
    for path, (size, _, _) in before.items():
        if path not in after:
            changes.append({"path": path, "size": 0, "change": "deleted"})
    changes.sort(key=lambda c: c["path"])
    return changes


class FileOperations:
    """The file_* requests, each answered with one reply."""

    def __init__(self, max_file_bytes):
        self.max_file_bytes = max_file_bytes

    def read_file(self, msg):
        real = resolve_workspace_path(msg.get("path"), must_exist=True)
        if os.path.isdir(real):
            raise IsADirectoryError(msg.get("path"))
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, and this
        # runs on the control thread, so the whole session (executions too) would hang.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise NotARegularFileError(msg.get("path"))
            size = st.st_size
            if size > self.max_file_bytes:
                raise FileTooLargeError(size)
            data = f.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise FileTooLargeError(len(data))
        return {"path": relative(real), "size": len(data),
                "data": base64.b64encode(data).decode("ascii")}

    def write_file(self, msg):
        data = base64.b64decode(msg.get("data", ""), validate=True)
        if len(data) > self.max_file_bytes:
            raise FileTooLargeError(len(data))
        real = resolve_workspace_path(msg.get("path"))
        if real == WORKSPACE or os.path.isdir(real):
            raise IsADirectoryError(msg.get("path"))
        parent = os.path.dirname(real)
        os.makedirs(parent, exist_ok=True)
        # Re-check after creating directories: a racing symlink must not
        # redirect the write outside the workspace.
        resolve_workspace_path(relative(parent))
        temp = os.path.join(parent, f".vivarium-upload-{os.getpid()}-{threading.get_ident()}")
        # Always a new file: whatever sits at the temporary name (a leftover, or a FIFO that
        # would block this open, and with it the control thread) is removed first.
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, real)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise
        return {"path": relative(real), "size": len(data)}

    def list_files(self, msg):
        files = []
        truncated = False
        for path, (size, mtime_ns, _) in sorted(snapshot_workspace().items()):
            files.append({"path": path, "size": size, "modified_ns": mtime_ns})
        if len(files) >= MAX_LISTED_FILES:
            truncated = True
        return {"files": files, "truncated": truncated}

    def delete_file(self, msg):
        real = resolve_workspace_path(msg.get("path"), must_exist=True)
        if real == WORKSPACE:
            raise PathError("the workspace itself cannot be deleted")
        if os.path.isdir(real) and not os.path.islink(real):
            raise IsADirectoryError(msg.get("path"))
        os.unlink(real)
        return {"path": relative(real)}


class NotARegularFileError(Exception):
    """A FIFO, socket or device node: never opened for reading."""


class FileTooLargeError(Exception):
    pass


# --------------------------------------------------------------------------
# The interpreter
# --------------------------------------------------------------------------

def build_shell(session):
    from IPython.core.displayhook import DisplayHook
    from IPython.core.formatters import DisplayFormatter
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type
    from traitlets.config import Config

    class ProtocolDisplayPublisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            session.flush_output()
            session.channel.send("display_data", parent=session.parent, data=data,
                                 metadata=metadata or {}, transient=transient or {})

        def clear_output(self, wait=False):
            session.flush_output()
            session.channel.send("clear_output", parent=session.parent, wait=wait)

    class ProtocolDisplayHook(DisplayHook):
        def write_output_prompt(self):
            pass

        def quiet(self):
            # IPython tokenizes the whole cell to see whether it ends with ';' (~25 us for
            # `1+1`, more for a long cell); a cell without a ';' anywhere cannot.
            cells = self.shell.history_manager.input_hist_parsed
            if cells and ";" not in cells[-1]:
                return False
            return super().quiet()

        def write_format_data(self, format_dict, md_dict=None):
            if session.parent is None:
                return  # the warm-up cell's value: no execution to send it to
            session.flush_output()
            session.channel.send_with_next("execute_result", parent=session.parent,
                                 execution_count=self.shell.execution_count,
                                 data=format_dict, metadata=md_dict or {})

        def finish_displayhook(self):
            pass

    # Values of these exact types have no _repr_*_ methods: unless a printer was registered for
    # the type (sympy's init_printing registers LaTeX ones, for instance), every formatter but
    # text/plain returns nothing for them. IPython still asks all eleven, through a decorator
    # that binds arguments with inspect: ~110 us of a ~300 us `1+1`.
    plain_only_types = (int, float, complex, bool, str, bytes, type(None))

    class FastScalarFormatter(DisplayFormatter):
        def format(self, obj, include=None, exclude=None):
            if type(obj) in plain_only_types and include is None and exclude is None and not self._has_printer_for(type(obj)):
                plain = self.formatters.get("text/plain")
                if plain is not None:
                    data = plain(obj)
                    if data is not None:
                        return {"text/plain": data}, {}
            return super().format(obj, include, exclude)

        def _has_printer_for(self, cls):
            others = [f for t, f in self.formatters.items() if t != "text/plain"]
            others += [self.ipython_display_formatter, self.mimebundle_formatter]
            for formatter in others:
                # Each attribute is a traitlets descriptor (~0.3 us a read): read each dict once.
                printers, deferred = formatter.type_printers, formatter.deferred_printers
                if printers and any(klass in printers for klass in cls.__mro__):
                    return True
                if deferred and any((klass.__module__, klass.__name__) in deferred for klass in cls.__mro__):
                    return True
            return False

    class VivariumShell(InteractiveShell):
        displayhook_class = Type(ProtocolDisplayHook)
        display_pub_class = Type(ProtocolDisplayPublisher)

        def init_display_formatter(self):
            self.display_formatter = FastScalarFormatter(parent=self)
            self.configurables.append(self.display_formatter)

        def enable_gui(self, gui=None):
            # Figures come back inline; there is no GUI event loop to start.
            pass

        def enable_matplotlib(self, gui=None):
            # Also reached by a cell's own `%matplotlib inline`, which re-registers IPython's printers.
            result = super().enable_matplotlib(gui)
            use_inline_png(self)
            return result

        def showtraceback(self, *args, **kwargs):
            if os.getpid() != RUNNER_PID:
                # A fork of the user's code that failed (a fork bomb's child, typically): its
                # channel is closed, so formatting the traceback (tens of ms of CPU, and of
                # copy-on-write faults in a forked sandbox) would only delay its exit.
                return
            super().showtraceback(*args, **kwargs)

        def _showtraceback(self, etype, evalue, stb):
            session.flush_output()
            session.last_error = {
                "ename": getattr(etype, "__name__", str(etype)),
                "evalue": str(evalue),
                "traceback": stb,
                "user_traceback": user_frames(evalue),
            }
            session.channel.send("error", parent=session.parent, **session.last_error)

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.xmode = "Context"
    config.InteractiveShell.autocall = 0
    config.InlineBackend.figure_formats = {"png"}
    shell = VivariumShell.instance(config=config)
    shell.display_formatter.active_types = [
        "text/plain", "text/html", "text/markdown", "text/latex", "image/png",
        "image/jpeg", "image/svg+xml", "application/json", "application/pdf",
        "application/javascript",
    ]
    return shell


def inline_png(fig):
    """A figure as base64 PNG, cropped like the inline backend's bbox_inches="tight".

    IPython's print_figure lays the figure out three times for "tight" (a pass with drawing
    disabled, the tight bounding box, then the real draw at the cropped size): ~60 ms for a
    simple line chart. This draws it once at its own size and crops to the pixels that were
    drawn, padded by savefig.pad_inches: ~38 ms, the same picture to within a pixel of
    margin. Whenever something might lie beyond the canvas (drawn pixels reach an edge) or
    the settings ask for what only savefig does, it hands over to IPython's print_figure.
    """
    import matplotlib
    import numpy
    from IPython.core.pylabtools import print_figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image, PngImagePlugin

    def as_ipython_would():
        return print_figure(fig, fmt="png", base64=True, bbox_inches="tight")

    if not fig.axes and not fig.lines:
        return None  # IPython shows nothing for an empty figure
    if not isinstance(fig.canvas, FigureCanvasAgg) or matplotlib.rcParams["savefig.transparent"]:
        return as_ipython_would()
    fig.canvas.draw()
    rgba = numpy.asarray(fig.canvas.buffer_rgba())
    pixels = rgba.view(numpy.uint32)[:, :, 0]  # one word per pixel: comparisons stay cheap
    height, width = pixels.shape
    background = pixels[0, 0]
    drawn = pixels != background
    rows = numpy.flatnonzero(drawn.any(axis=1))
    cols = numpy.flatnonzero(drawn.any(axis=0))
    if rows.size == 0 or rows[0] == 0 or cols[0] == 0 or rows[-1] == height - 1 or cols[-1] == width - 1:
        return as_ipython_would()
    pad = int(round(matplotlib.rcParams["savefig.pad_inches"] * fig.dpi))
    top, bottom = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, height)
    left, right = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, width)
    # Where the padding reaches past the canvas, it is background, as savefig would paint it.
    out_top, out_left = pad - (rows[0] - top), pad - (cols[0] - left)
    cropped = numpy.empty((rows[-1] - rows[0] + 1 + 2 * pad, cols[-1] - cols[0] + 1 + 2 * pad, 4), numpy.uint8)
    cropped.view(numpy.uint32)[:, :, 0] = background
    cropped[out_top:out_top + bottom - top, out_left:out_left + right - left] = rgba[top:bottom, left:right]
    mode = "RGBA"
    if (cropped[:, :, 3] == 255).all():
        mode, cropped = "RGB", numpy.ascontiguousarray(cropped[:, :, :3])  # opaque: 10 % fewer bytes
    image = Image.frombuffer(mode, (cropped.shape[1], cropped.shape[0]), cropped, "raw", mode, 0, 1)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    out = io.BytesIO()
    image.save(out, format="png", dpi=(fig.dpi, fig.dpi), pnginfo=info)
    return base64.b64encode(out.getvalue()).decode("ascii")


def use_inline_png(shell):
    """Puts inline_png in the place of IPython's default PNG printer for figures.

    Only the default (png, bbox_inches="tight", no other print_figure arguments) is replaced:
    a user who chose other formats or arguments gets exactly what IPython does.
    """
    import functools
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure
    png = shell.display_formatter.formatters["image/png"]
    current = png.type_printers.get(Figure)
    if isinstance(current, functools.partial) and current.func is print_figure and not current.args \
            and current.keywords == {"fmt": "png", "base64": True, "bbox_inches": "tight"}:
        png.for_type(Figure, inline_png)


def user_frames(evalue):
    """The traceback restricted to the user's own cells, like a plain Python one."""
    if isinstance(evalue, SyntaxError):
        if evalue.filename and evalue.filename.startswith("<ipython-input-"):
            evalue.filename = "Cell In[%s]" % evalue.filename.split("-")[2]
        return "".join(traceback.format_exception_only(type(evalue), evalue)).rstrip()
    frames = [f for f in traceback.extract_tb(evalue.__traceback__)
              if f.filename.startswith("<ipython-input-") or f.filename.startswith("/tmp/ipykernel")]
    lines = []
    for f in frames:
        cell = f.filename.split("-")[2] if f.filename.startswith("<ipython-input-") else "?"
        lines.append(f"  Cell In[{cell}], line {f.lineno}, in {f.name}")
        if f.line:
            lines.append(f"    {f.line}")
    lines.append("".join(traceback.format_exception_only(type(evalue), evalue)).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The session: wiring and the two loops
# --------------------------------------------------------------------------

class Session:
    def __init__(self, config):
        self.config = config
        self.parent = None           # id of the execution whose output we are sending
        self.executing = False       # SIGINT raises KeyboardInterrupt only while True
        # An interrupt names its execution and can overtake it: the host may send it before
        # the execute request, or before the main thread takes that request off the queue.
        # It is then remembered for that cell instead of being dropped (the host would kill
        # the sandbox after its grace period, losing the state). A stale one, for a cell
        # already finished, never matches a later cell. The lock orders the two threads.
        self.state_lock = threading.Lock()
        self.interrupt_for = None
        self.sigints_handled = 0     # counts the SIGINT handler's runs, so a lost interrupt shows
        self.last_error = None
        self.requests = queue.Queue()
        self.channel = None
        self.forwarders = []
        self.shell = None
        self.configure(config)

    def configure(self, config):
        self.config = config
        self.files = FileOperations(int(config.get("max_file_bytes", 100 * 1024 * 1024)))

    # -- set-up ------------------------------------------------------------

    def take_over_stdio(self, in_fd=0, out_fd=1):
        proto_in = os.dup(in_fd)
        proto_out = os.dup(out_fd)
        for fd in {in_fd, out_fd} - {0, 1, 2}:
            os.close(fd)  # the channel now lives only on the private descriptors
        self.channel = Channel(proto_in, proto_out, int(self.config.get("max_display_bytes", 16 * 1024 * 1024)))
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            self.forwarders.append(StreamForwarder(name, read_end, self, int(self.config.get("max_stream_bytes", 8 * 1024 * 1024))))
        sys.stdin = open(os.devnull, "r")
        # Line buffering: a print reaches the fd as one write, newline included (so it is
        # one stream message, and an interrupt cannot split it), while every complete line
        # still lands before anything written straight to the fd afterwards (os.system,
        # C extensions, subprocesses). Partial lines wait for a newline or a flush, which
        # every display and the end of the cell do.
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
        for forwarder in self.forwarders:
            forwarder.start()
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self):
        self.channel.close_in_child()
        # The forwarder threads did not survive the fork, but their pipes' read ends did: a
        # child that drained them would swallow the runner's output, and one that took a
        # forwarder's lock (held by its thread at the moment of the fork) would hang forever.
        for forwarder in self.forwarders:
            try:
                os.close(forwarder.fd)
            except OSError:
                pass
        self.forwarders = []

    def apply_limits(self):
        import resource
        limits = {
            "core_bytes": resource.RLIMIT_CORE,
            "file_size_bytes": resource.RLIMIT_FSIZE,
            "open_files": resource.RLIMIT_NOFILE,
        }
        for key, which in limits.items():
            value = self.config.get("rlimits", {}).get(key)
            if value is not None:
                resource.setrlimit(which, (int(value), int(value)))

    def start_interpreter(self):
        # Like Jupyter: modules uploaded next to the notebook are importable.
        sys.path.insert(0, "")
        self.build_interpreter()
        self.finish_interpreter()

    def build_interpreter(self):
        """The shell, matplotlib's inline backend, the preload imports and the warm-up cell:
        nothing here depends on the sandbox, so a fork server does it once, before it forks
        (prepare_session), and each child only re-points its own paths (adopt_interpreter)."""
        self.shell = build_shell(self)
        if self.config.get("matplotlib_inline", True):
            import matplotlib
            matplotlib.use("module://matplotlib_inline.backend_inline")
            self.shell.enable_matplotlib("inline")
        for module in self.config.get("preload", []):
            try:
                __import__(module)
            except Exception:  # a missing optional package must not stop the sandbox
                pass
        # The first cell that shows a value pays 5-15 ms to set IPython's formatters up. Pay it
        # here, while the sandbox waits in the pool, not in the user's first request. The
        # cell is not counted, and flush() forgets its value (_ and Out).
        self.shell.run_cell("0", store_history=False)
        self.shell.displayhook.flush()

    def adopt_interpreter(self):
        """Makes a shell built by the fork server before the fork this sandbox's own.

        The shell computed a few paths from the fork server's process: its IPython directory
        and profile (created then on the host, in the server's runtime directory), its home
        and working directories. They are recomputed here from the sandbox's environment and
        working directory, as IPython computes them at start, and the profile directories are
        created in the sandbox's own /tmp. Nothing else of the shell is per-process: it holds
        no descriptor, thread or pid (the channel is reached through the session, set up
        after the fork).
        """
        import pathlib
        from IPython.core.profiledir import ProfileDir
        from IPython.paths import get_ipython_dir
        from IPython.utils.path import get_home_dir
        from pickleshare import PickleShareDB
        sys.path.insert(0, "")
        shell = self.shell
        shell.ipython_dir = get_ipython_dir()
        shell.profile_dir = ProfileDir.create_profile_dir_by_name(shell.ipython_dir, "default")
        shell.db = PickleShareDB(os.path.join(shell.profile_dir.location, "db"))
        shell.starting_dir = os.getcwd()
        shell.home_dir = get_home_dir()
        shell.logger.home_dir = shell.home_dir
        shell.history_manager.dir_hist[:] = [pathlib.Path.cwd()]
        self.finish_interpreter()

    def finish_interpreter(self):
        signal.signal(signal.SIGINT, self._on_sigint)
        # The imports left ~a million long-lived objects that every full collection would walk
        # again (tens of ms, in the middle of some user's cell: W5's p95 fell from ~160 to
        # ~100 ms). They live as long as the interpreter; the collector can leave them be.
        gc.freeze()

    def _on_sigint(self, signum, frame):
        self.sigints_handled += 1
        if self.executing:
            raise KeyboardInterrupt

    # -- loops -------------------------------------------------------------

    def control_loop(self):
        """Reads frames from the host; runs on its own thread."""
        handlers = {
            "read_file": self.files.read_file,
            "write_file": self.files.write_file,
            "list_files": self.files.list_files,
            "delete_file": self.files.delete_file,
            "set_env": self.set_env,
        }
        try:
            while True:
                msg = self.channel.receive()
                if msg is None or msg.get("type") == "shutdown":
                    break
                kind = msg.get("type")
                if kind == "execute":
                    self.requests.put(msg)
                elif kind == "interrupt":
                    self.interrupt(msg.get("execution"))
                elif kind in handlers:
                    self.answer_request(handlers[kind], msg)
                else:
                    self.channel.send("protocol_error", parent=msg.get("id"),
                                      message=f"unknown message type {kind!r}")
        except Exception as exc:  # a broken channel ends the runner
            self.report_fatal(exc)
        finally:
            self.requests.put(None)

    def interrupt(self, target):
        """Interrupts the running cell; with a target, only that one, now or when it starts."""
        with self.state_lock:
            if self.executing and target in (None, self.parent):
                self.signal_main_thread()
            elif target is not None:
                self.interrupt_for = target

    def signal_main_thread(self):
        # pthread_kill, not os.kill: the signal must land on the main thread, so a blocking call
        # there (time.sleep, a lock, a read) returns EINTR at once. Called with state_lock held.
        # The count is read first: the handler may run before pthread_kill returns here.
        handled_before = self.sigints_handled
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        # A signal that lands after the main thread let go of the GIL but before it entered
        # the blocking call only marks the handler pending: the call then blocks to its end
        # (time.sleep(1000) slept on, 1 in ~40 interrupts here). So the signal is repeated
        # until the handler has run or the cell is over. A SIGINT sent while one is pending
        # merges with it: the cell never sees two.
        try:
            threading.Thread(target=self._repeat_interrupt, args=(self.parent, handled_before),
                             name="interrupt", daemon=True).start()
        except RuntimeError:
            pass  # no thread to be had (a fork bomb took them): the host kills after its grace

    def _repeat_interrupt(self, parent, handled_before):
        for delay in (0.02, 0.05, 0.1, 0.2, 0.4):
            time.sleep(delay)
            with self.state_lock:
                if not self.executing or self.parent != parent or self.sigints_handled != handled_before:
                    return
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def set_env(self, msg):
        env = msg.get("env")
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError("env must map names to strings")
        os.environ.update(env)
        return {}

    def answer_request(self, handler, msg):
        try:
            reply = handler(msg)
            self.channel.send("reply", parent=msg.get("id"), ok=True, **reply)
        except PathError as exc:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="invalid_path", message=str(exc))
        except FileNotFoundError:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="file_not_found",
                              message=f"no such file: {msg.get('path')}")
        except IsADirectoryError:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="invalid_path",
                              message=f"is a directory: {msg.get('path')}")
        except NotARegularFileError:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="invalid_path",
                              message=f"not a regular file: {msg.get('path')}")
        except FileTooLargeError as exc:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="payload_too_large",
                              message=f"file is {exc.args[0]} bytes, over the limit of {self.files.max_file_bytes}")
        except (ValueError, TypeError) as exc:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="invalid_request", message=str(exc))
        except OSError as exc:
            self.channel.send("reply", parent=msg.get("id"), ok=False, code="io_error",
                              message=f"{exc.strerror or exc}")

    def main_loop(self):
        while True:
            msg = self.requests.get()
            if msg is None:
                return
            self.execute(msg)
            if os.getpid() != RUNNER_PID:  # a fork of the user's came back here
                os._exit(0)

    def execute(self, msg):
        self.last_error = None
        before = snapshot_workspace()
        status = "ok"
        for forwarder in self.forwarders:
            forwarder.begin()
        try:
            # Inside the try: SIGINT raises as soon as `executing` is set, and one landing while
            # the lock is released would otherwise escape this method and end the runner.
            with self.state_lock:
                self.parent = msg.get("id")
                interrupted_before_start = self.interrupt_for is not None and self.interrupt_for == self.parent
                self.interrupt_for = None
                self.executing = not interrupted_before_start
            if interrupted_before_start:
                raise KeyboardInterrupt
            try:
                result = self.shell.run_cell(msg.get("code", ""), store_history=True)
            finally:
                self.executing = False
            if not result.success:
                status = "error"
        except KeyboardInterrupt:
            # Interrupted before the cell began, or SIGINT landed outside the cell's own
            # handler (in a hook, say).
            self.executing = False
            status = "error"
            self.last_error = {"ename": "KeyboardInterrupt", "evalue": "", "traceback": ["KeyboardInterrupt"],
                               "user_traceback": "KeyboardInterrupt"}
            self.channel.send("error", parent=self.parent, **self.last_error)
        self.flush_output()
        for forwarder in self.forwarders:
            forwarder.finish()
        if status == "error" and os.getpid() == RUNNER_PID:
            self.stop_runaway_processes()
        files = diff_snapshots(before, snapshot_workspace())
        self.channel.send("execute_reply", parent=self.parent, status=status,
                          execution_count=self.shell.execution_count - 1, files=files)
        self.parent = None

    def stop_runaway_processes(self):
        """After a failed cell, stops every other process if the sandbox is at its process limit.

        A fork bomb fails in the runner with BlockingIOError, but its children go on forking
        into every slot freed by one of them exiting, burning the CPU quota and leaving no
        process for the session's later cells. Only a cell that failed and left the sandbox
        saturated is treated so; a cell that merely uses many processes is left alone.
        """
        limit = int(self.config.get("max_processes") or 0)
        if limit <= 0:
            return
        # Tasks outside the pid namespace (bubblewrap's outer process) also count against the
        # limit, and the population of a fork bomb flickers as its members fail and exit, then
        # refills from orphans still forking (for hundreds of ms when children are slow to
        # exit, as forked sandboxes' are): a margin, and looks 20 ms apart for as long as the
        # set of processes keeps changing. A stable set (background work, zombies) is no bomb.
        seen, stable = None, 0
        for _ in range(50):
            pids = set(other_pids())
            if not pids:
                return
            if count_tasks() >= limit - 4:
                break
            stable = stable + 1 if pids == seen else 0
            if stable >= 3:
                return
            seen = pids
            time.sleep(0.02)
        else:
            return
        stopped = stop_other_processes()
        if stopped:
            self.channel.send("stream", parent=self.parent, name="stderr",
                              text=f"\n[The sandbox reached its limit of {limit} processes and threads: "
                                   f"{stopped} runaway processes were stopped so that the session stays usable. "
                                   f"Variables are kept.]\n")

    def flush_output(self):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        for forwarder in self.forwarders:
            forwarder.drain()

    def report_fatal(self, exc):
        try:
            self.channel.send("fatal", message="".join(traceback.format_exception(exc)))
        except Exception:
            pass


def close_inherited_descriptors():
    """Closes every descriptor beyond stdin, stdout and stderr, before anything else.

    The server's own descriptors are close-on-exec, but whatever it inherited from what started
    it (a supervisor's or a shell's pipe, a terminal, a socket-activation listener) is not, and
    setpriv, bubblewrap and Python all pass descriptors on. Without this, user code would hold
    them: a channel to host processes, shared by every sandbox of the server.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass  # the descriptor listdir used, already closed


def main():
    close_inherited_descriptors()
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    serve(config)


def serve(config, in_fd=0, out_fd=1):
    """Runs the session until the host goes. Called by main() in a fresh interpreter, or by
    the fork server in a forked child that already imported everything, with the channel on
    a socket instead of stdin and stdout."""
    global RUNNER_PID
    RUNNER_PID = os.getpid()  # a forked child is not the process that imported this module
    session = _PREPARED if _PREPARED is not None else Session(config)
    session.configure(config)
    session.take_over_stdio(in_fd, out_fd)
    started = time.monotonic()
    try:
        session.apply_limits()
        if session.shell is None:
            session.start_interpreter()
        else:
            session.adopt_interpreter()
    except BaseException as exc:
        session.report_fatal(exc)
        raise SystemExit(70)
    session.channel.send(
        "ready",
        protocol=PROTOCOL_VERSION,
        python=sys.version.split()[0],
        pid=os.getpid(),
        startup_ms=round((time.monotonic() - started) * 1000, 1),
        packages=installed_versions(config.get("report_packages", [])),
    )
    threading.Thread(target=session.control_loop, name="control", daemon=True).start()
    session.main_loop()


_PREPARED = None  # a fork server's session, its shell built before the fork: serve() takes it over


def prepare_session(preload):
    """For a fork server, after preimport(): builds the session's interpreter once, before any
    fork, so each child skips the ~25 ms of CPU IPython's shell costs to build (traitlets
    set-up, magics) and the warm-up cell. Must leave no thread behind (the zygote checks)."""
    global _PREPARED
    session = Session({"preload": list(preload)})
    session.build_interpreter()
    _PREPARED = session


def preimport(preload, report_packages=()):
    """Imports what start_interpreter() and the preload list need, without creating the shell
    (which writes IPYTHONDIR), so that a fork server can share these pages with its children."""
    import IPython.core.displayhook  # noqa: F401
    import IPython.core.displaypub  # noqa: F401
    import IPython.core.formatters  # noqa: F401
    import IPython.core.interactiveshell  # noqa: F401
    import traitlets.config  # noqa: F401
    try:
        import matplotlib
        matplotlib.use("module://matplotlib_inline.backend_inline")
        import matplotlib_inline.backend_inline  # noqa: F401
        import IPython.core.pylabtools  # noqa: F401
    except Exception:
        pass
    for module in preload:
        try:
            __import__(module)
        except Exception:  # as in start_interpreter: a missing optional package is not fatal
            pass
    # Scanning the dist-info directories costs each sandbox ~10 ms: done once here.
    installed_versions(report_packages)


def count_tasks():
    """Threads of every process in the sandbox's pid namespace."""
    total = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                total += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return total


def other_pids():
    """Processes in the sandbox other than the runner and bubblewrap's init (pid 1)."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in (1, RUNNER_PID)]


def stop_other_processes():
    """SIGKILLs every process but the runner and bubblewrap's init; returns how many there were."""
    count = len(other_pids())
    deadline = time.monotonic() + 2
    while other_pids() and time.monotonic() < deadline:
        try:
            # In a pid namespace, -1 means every process but its init and the caller. A
            # process forking meanwhile cannot escape: fork fails once SIGKILL is pending.
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # The runner's own children stay zombies (and keep their pid slots) until reaped;
        # orphans of the others are reaped by bubblewrap's init.
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        time.sleep(0.01)
    return count


_VERSIONS = {}  # names -> versions: filled once by a fork server, for all its children


def installed_versions(names):
    cached = _VERSIONS.get(tuple(names))
    if cached is not None:
        return dict(cached)  # the packages are the host's read-only /usr: they cannot have changed
    from importlib import metadata
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except Exception:
            pass
    _VERSIONS[tuple(names)] = dict(versions)
    return versions


if __name__ == "__main__":
    main()
