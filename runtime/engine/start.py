"""start: a container's own monitor process (runtime/engine/monitor.py) is started, and the
container with it; returns once the container runs."""

from __future__ import annotations

import os
import sys

from runtime.errors import PyrunError


def start(store, c, stdin: int | None = None) -> None:
    """(Re)start a created or stopped container: a user's earlier stop no longer holds.
    stdin: see start_detached."""
    if not c.can_start():
        return
    if c.state.stopped_by_user:
        c.mark_stopped_by_user(False)
    start_detached(store, c, stdin)


def start_detached(store, c, stdin: int | None = None) -> None:
    """Start the container's own monitor process and wait until the container runs.
    stdin: a descriptor the container reads as its input (with a terminal, the monitor
    copies it to the terminal), kept by the monitor alone; None: /dev/null."""
    import subprocess
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    extra = (stdin,) if stdin is not None else ()
    # -I -S and this process's own path: the interpreter without `site` and its .pth files
    # (the command line still names runtime.engine.monitor, for ps and the tests)
    code = (f"import sys; sys.path[:] = {[p for p in sys.path if p]!r}; "
            "from runtime.engine.monitor import main; sys.exit(main(sys.argv[1:]))")
    monitor = subprocess.Popen([sys.executable, "-I", "-S", "-c", code, store.root,
                                c.id, str(w), str(go_r), *map(str, extra)],
                               pass_fds=(w, go_r, *extra),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               close_fds=True)
    os.close(w)
    os.close(go_r)
    # Hand the container over: the record names the monitor before the monitor reads it (it
    # waits for go_w to close), so that a kill of this command at any moment leaves either
    # a record naming a dead process (repaired by the next command; the monitor then exits
    # untouched) or one naming the live monitor.
    from runtime.engine.monitor import start_time_of
    c.mark_monitored_by(monitor.pid, start_time_of(monitor.pid))
    os.close(go_w)
    with os.fdopen(r) as f:
        answer = f.readline().strip()
    if answer != "ok":
        code, _, msg = answer[len("error "):].partition(": ")
        if not answer.startswith("error ") or not code.isdigit():
            code, msg = "125", "the container's monitor exited before the container started"
        if c.host.auto_remove:
            from runtime.engine import containers as cmod
            cmod.remove_files(c)
        if code in ("126", "127"):  # the runtime's: the program is not there, or not runnable
            from runtime.engine import oci
            raise oci.failure(msg, int(code))
        raise PyrunError(msg)
