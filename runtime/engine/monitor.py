"""A container's monitor: the role conmon plays for podman.

It prepares the container (mount, network, bundle), creates and starts it through pyrun-oci
as a child subreaper (so the container's init is reparented to it), copies the container's
output to the log (and, attached, to the terminal), records the exit code and time, and
undoes networking and mounts when the container ends.

Detached containers get their own monitor process:
    python -m runtime.engine.monitor ROOT CONTAINER_ID NOTIFY_FD GO_FD [STDIN_FD]
which waits for GO_FD's end (the record names it by then), and writes "ok\\n" or
"error CODE: MESSAGE\\n" (Docker's exit code: 125, 126, 127) to NOTIFY_FD once the
container runs (or failed).
"""

from __future__ import annotations

import os
import sys
import time

from runtime import paths
from runtime.engine import containers as cmod
from runtime.errors import PyrunError
from runtime.image.store import Store
from runtime.engine import oci
from runtime.oci.log import trace


def exit_code(e: BaseException) -> int:
    """Docker's exit code for a failed start: the runtime's 126 or 127, else 125."""
    return getattr(e, "exit_code", 125) if getattr(e, "exit_code", 0) in (126, 127) else 125


def start_time_of(pid: int) -> int:
    from runtime.oci.state import proc_start_time
    st = proc_start_time(pid)
    return st[0] if st else 0


def supervise(store: Store, c: cmod.Container, attach: bool = False, notify=None,
              stdin=None, resident=False) -> int:
    """Run the container to its end; returns its exit code (125 if pyrun failed).
    stdin: the fd the container reads (-i: ours), or None for /dev/null (or, for a
    detached container with OpenStdin, its input FIFO: engine/stdin.py).
    resident=True (a detached container's own monitor process): once the container runs,
    exec the small pump (runtime/engine/pump.py) instead of returning."""
    from runtime.linux import capabilities
    capabilities.set_subreaper()
    c.mark_monitored_by(os.getpid(), start_time_of(os.getpid()))
    if stdin is None and resident and c.config.open_stdin:
        from runtime.engine import stdin as stdinmod
        stdin = stdinmod.open_for_container(c)
    max_size, max_file = cmod.log_limits(c.host.log_config)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = 0
    code = 125
    tty = c.config.tty
    console = None
    creating = None
    try:
        try:
            oci_log = c.path("oci.log")
            if not (tty and attach):
                console_path = None
                if tty:
                    # sun_path holds 108 bytes: a short path, not one under the store
                    os.makedirs(paths.RUN, exist_ok=True)
                    console = _ConsoleReceiver(paths.console_socket(c.id))
                    console_path = console.path
                # forked now: it imports the runtime while this process prepares
                creating = oci.Creating(c, c.path("pid"), console_path,
                                        (None if tty else stdin, out_w, err_w), log=oci_log,
                                        start=not tty)
            bundle = cmod.prepare(c)
            trace("engine: prepared (mount, network, bundle)")
            if tty and attach:
                # In the foreground pyrun-oci relays the terminal itself (as runc run does).
                c.mark_running()
                import subprocess
                code = subprocess.run(oci.argv("run", "--bundle", bundle, "--pid-file",
                                               c.path("pid"), c.id, log=oci_log)).returncode
                c.mark_exited(code)
                cmod.teardown(c)
                cmod.after_last()
                if c.host.auto_remove and not c.reload().state.restarting:
                    cmod.remove_files(c)
                return code
            creating.go(bundle)
            master = console.receive(creating) if console else None
            creating.check()
            from runtime.linux import cgroups
            cgroups.finish_warm_up()  # the container's process has moved: no more need
            if master is not None and c.host.console_size:
                # the client's size before the program runs (`docker run -t stty size`);
                # without it the terminal is 0x0 until the client's first resize
                from runtime.engine.resize import set_size
                set_size(master, *c.host.console_size)
            if master is not None:
                os.close(out_r)
                out_r = master  # a terminal has one stream: it is the container's stdout
            with open(c.path("pid")) as f:
                pid = int(f.read())
            if tty:  # else the child started it
                oci.start(c)  # in-process: no interpreter to start
        except BaseException as e:
            msg = str(e) or type(e).__name__
            if creating is not None:
                creating.abort()  # if prepare failed: the child has made nothing
            if console is not None:
                console.close()  # made before prepare, which may have failed
            cmod.teardown(c)
            c.mark_exited(exit_code(e), error=msg)
            cmod.after_last()
            if notify:
                notify(f"error {exit_code(e)}: {msg}")
            raise
        os.close(out_w)
        os.close(err_w)
        out_w = err_w = -1
        c.mark_running(pid)
        if c.config.healthcheck:
            from runtime.engine import health
            health.start_watching(store, c)
        if notify:
            notify("ok")
        if resident:
            # From here only pipes and a wait are left: do them in a bare interpreter.
            # The input (what attaches write) goes to the terminal through the pump; without
            # a terminal the container holds it itself, and our copy goes.
            into_tty = stdin if tty and stdin is not None else -1
            if stdin is not None and not tty:
                os.close(stdin)
            for fd in (out_r, err_r, into_tty):
                if fd >= 0:
                    os.set_inheritable(fd, True)
            here = os.path.dirname(os.path.abspath(__file__))
            native = os.path.join(os.path.dirname(here), "_bin", "pyrun-pump")
            args = [store.root, c.id, str(pid), c.path("container.log"), str(out_r),
                    str(err_r) if not tty else "-1", str(max_size), str(max_file),
                    str(into_tty)]
            if os.access(native, os.X_OK):  # the C pump: a fraction of the memory
                os.execv(native, [native, sys.executable] + args)
            os.execv(sys.executable, [sys.executable, "-S", "-I",
                                      os.path.join(here, "pump.py")] + args)
        from runtime.engine.pump import LogFile, pump
        log = LogFile(c.path("container.log"), max_size, max_file)
        try:
            code = pump(pid, log, {out_r: "stdout", err_r: "stderr"}, echo=attach)
        finally:
            log.close()
        out_r = err_r = -1  # the pump closed them
        trace("engine: container exited")
        finish(store, c, code)
        trace("engine: torn down")
        return code
    finally:
        for fd in (out_r, err_r, out_w, err_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


def finish(store: Store, c: cmod.Container, code: int) -> None:
    """The container ended: undo networking and mounts, then record it (in this order, so
    that whoever waits for "exited" can start it again at once), --rm."""
    c.reload()
    oom = cmod.oom_killed(c)  # before teardown, which removes the cgroup that counted it
    cmod.teardown(c)
    c.mark_exited(code, oom_killed=oom)
    cmod.after_last()
    if c.host.auto_remove and not c.state.restarting:  # a restart starts it again
        cmod.remove_files(c)


class _ConsoleReceiver:
    """Where pyrun-oci sends the pty master of a detached container with -t."""

    def __init__(self, path: str):
        import socket
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)

    def receive(self, creating) -> int | None:
        import socket
        self.sock.settimeout(0.1)
        try:
            while True:
                try:
                    conn, _ = self.sock.accept()
                    break
                except socket.timeout:
                    if creating.poll() is not None:
                        return None  # create failed before sending it
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
            return fds[0] if fds else None
        finally:
            self.close()

    def close(self) -> None:
        """The socket and its file gone (again: no error)."""
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    if argv[0] == "--finish":  # back from the pump: the container has exited
        store = Store(argv[1])
        c = cmod.load(store, argv[2])
        code = int(argv[3])
        finish(store, c, code)
        return _restart_loop(store, c, code)
    root, cid, notify_fd, go_fd = argv[0], argv[1], int(argv[2]), int(argv[3])
    stdin = int(argv[4]) if len(argv) > 4 else None  # start_detached's stdin
    from runtime.linux import cgroups
    cgroups.start_warm_up()  # a kernel grace period passes while we prepare (see there)
    while os.read(go_fd, 64):  # until the starting command has named us in the record
        pass
    os.close(go_fd)
    store = Store(root)
    c = cmod.load(store, cid)
    if c.state.monitor_pid != os.getpid():
        return 0  # it was killed before it handed the container over: not ours
    sent = []

    def notify(msg: str) -> None:
        if not sent:
            sent.append(msg)
            try:
                os.write(notify_fd, msg.encode() + b"\n")
                os.close(notify_fd)
            except OSError:
                pass
    try:
        return supervise(store, c, notify=notify, stdin=stdin, resident=True)  # execs the pump
    except BaseException as e:  # noqa: BLE001 - reported through notify
        notify(f"error {exit_code(e)}: {str(e) or type(e).__name__}")
        return 125


def _restart_loop(store: Store, c: cmod.Container, code: int) -> int:
    """Apply the restart policy after an exit; a restarted container's monitor becomes the
    pump again (supervise execs it)."""
    if not (os.path.isdir(c.dir) and cmod.should_restart(c.reload(), code)):
        return code
    time.sleep(min(0.1 * 2 ** c.restart_count, 60))  # Docker doubles the delay, too
    c.mark_restarting()
    try:
        return supervise(store, c, resident=True)
    except PyrunError:
        return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
