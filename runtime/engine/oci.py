"""The engine's one way to the OCI runtime (pyrun-oci) for its containers: one state root,
and the runtime's failures turned into the engine's.

    argv(verb, ...)            pyrun-oci's command line (for a process of its own: exec,
                               ps, run in the foreground, kill with the fast native path)
    start(c) delete(c) pause(c) resume(c) update(c, resources)
                               in this process (no interpreter to start)
    Creating(c, ...)           create (and start) in a child forked early, which takes the
                               container's stdio; go(bundle), then check() raises its
                               failure, typed
    state(c) -> oci State or None       cgroup(c) -> its cgroup manager or None
    kill(c, sig) -> bool       False: it had ended (not an error for stop/rm -f)

The builder's RUN steps use pyrun-oci too, on a root of their own (BUILD_OCI_ROOT): they
are no container of the engine's, and a killed build's steps are reaped by their owner
annotation (runtime/oci/delete.py reap_orphans)."""

from __future__ import annotations

import os

from runtime import paths
from runtime.errors import PyrunError

ROOT = paths.OCI_ROOT


class RuntimeFailure(PyrunError):
    """pyrun-oci refused or failed; the message is its own."""


def failure(message: str, exit_code: int = 0) -> PyrunError:
    """The runtime's failure as the engine's, with Docker's exit codes: 127 the program is
    not there, 126 it cannot be run, 125 anything else."""
    from runtime.errors import CannotInvoke, CommandNotFound
    if exit_code == 127:
        return CommandNotFound(message)
    if exit_code == 126:
        return CannotInvoke(message)
    err = RuntimeFailure(message)
    err.exit_code = 125
    return err


def argv(verb: str, *args: str, log: str | None = None) -> list[str]:
    from runtime.oci import binary
    head = [binary(), "--root", ROOT]
    if log:
        head += ["--log", log, "--log-format", "json"]
    return head + [verb, *args]


class Creating:
    """create() run in a forked child instead of a new pyrun-oci (an interpreter's start
    saved): the child takes the container's stdio (None: /dev/null), logs as
    pyrun-oci would, and sends a failure whole over a pipe (message and exit code, as the
    runtime's typed error had them). poll() as Popen's; check() waits and raises it.

    The child is forked before the bundle exists: it imports the runtime's create (some
    milliseconds) while the engine mounts and writes the bundle, then waits for go(bundle);
    abort() sends it away with nothing made. The caller's warm-up thread (cgroups) may
    still run: it is the parent's, and the child forgets it.

    start=True: the child starts it too, as `pyrun-oci run --detach` does (over the
    channel it already has to the init: no start.sock, no second look at the state), so
    check() returns once the program runs. Not with a terminal, whose size the caller sets
    between create and start."""

    def __init__(self, c, pid_file: str, console_socket: str | None, stdio, log: str,
                 start: bool = False):
        self.returncode = None
        r, w = os.pipe()
        go_r, go_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                os.close(r)
                os.close(go_w)
                from runtime.linux import cgroups
                cgroups.forget_warm_up()
                devnull = os.open(os.devnull, os.O_RDWR)
                for target, fd in zip((0, 1, 2), stdio):
                    os.dup2(devnull if fd is None else fd, target)
                from runtime.oci import create as ocicreate
                from runtime.oci import log as ocilog
                # what create will need (the manager of this host's cgroup version)
                cgroups.manager(None, c.id)
                import runtime.linux.seccomp  # noqa: F401
                import runtime.oci.process  # noqa: F401
                bundle = os.read(go_r, 4096).decode()  # one write, under PIPE_BUF
                if not bundle:  # abort(): the engine gave up before the bundle was ready
                    os._exit(0)
                ocilog.configure(log, "json")
                try:
                    if start:
                        ocicreate.run(ROOT, c.id, bundle, detach=True, pid_file=pid_file)
                    else:
                        ocicreate.create(ROOT, c.id, bundle, pid_file=pid_file,
                                         console_socket=console_socket)
                    code = 0
                except (PyrunError, OSError) as e:
                    ocilog.error(str(e))
                    from runtime import jsonfast as json
                    os.write(w, json.dumps({"message": str(e) or type(e).__name__,
                                            "exit_code": getattr(e, "exit_code", 0)}).encode())
            finally:
                os._exit(code)
        os.close(w)
        os.close(go_r)
        self._failure = r
        self._go = go_w

    def go(self, bundle: str) -> None:
        """The bundle is ready: create it."""
        os.write(self._go, bundle.encode())
        os.close(self._go)
        self._go = -1

    def abort(self) -> None:
        """No bundle will come (the engine failed before go()): the child ends, having made
        nothing. After go(), nothing to do: check() reports what the child did."""
        if self._go < 0:
            return
        os.close(self._go)
        self._go = -1
        os.waitpid(self.pid, 0)
        self.returncode = 0
        os.close(self._failure)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def check(self) -> None:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        # The child wrote before it ended, so the message waits in the pipe: read what is
        # there, never to the end (the container's init, forked by the child, holds the
        # write end until it execs, which is after start).
        os.set_blocking(self._failure, False)
        try:
            data = os.read(self._failure, 65536) if self.returncode != 0 else b""
        except BlockingIOError:
            data = b""
        finally:
            os.close(self._failure)
        if self.returncode == 0:
            return
        if not data:
            raise failure(f"container create failed: the runtime ended with {self.returncode}")
        from runtime import jsonfast as json
        d = json.loads(data.decode())
        raise failure(d["message"], d["exit_code"])


def start(c) -> None:
    from runtime.oci import start as ocistart
    ocistart.start(ROOT, c.id)


def delete(c) -> None:
    """Its runtime state gone (forced; safe to repeat: a container never created, or
    deleted already, is no error)."""
    from runtime.oci import delete as ocidelete
    try:
        ocidelete.delete(ROOT, c.id, force=True)
    except PyrunError:
        pass


def pause(c) -> None:
    from runtime.oci import pause as ocipause
    ocipause.pause(ROOT, c.id)


def resume(c) -> None:
    from runtime.oci import pause as ocipause
    ocipause.resume(ROOT, c.id)


def update(c, resources: dict) -> None:
    from runtime.oci import update as ociupdate
    try:
        ociupdate.update(ROOT, c.id, resources)
    except PyrunError as e:
        raise RuntimeFailure(f"Cannot update container {c.id[:12]}: {e}") from None


def state(c):
    """The runtime's State of the container, or None where it has none."""
    from runtime.oci.state import State
    try:
        return State.load(ROOT, c.id)
    except PyrunError:
        return None


def cgroup(c):
    st = state(c)
    return st.cgroup() if st is not None else None


def kill(c, sig: str) -> str:
    """Signal the container's init through `pyrun-oci kill` (its plain case is native C: no
    interpreter). Returns "" when sent, else the runtime's last line."""
    import subprocess
    p = subprocess.run(argv("kill", c.id, sig), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode == 0:
        return ""
    return (p.stderr.strip().splitlines() or ["signal failed"])[-1]


def reap_build_steps() -> None:
    """Build steps (RUN) whose build was killed: their runtime state on the builder's root."""
    from runtime.oci import delete as ocidelete
    ocidelete.reap_orphans(paths.BUILD_OCI_ROOT)
