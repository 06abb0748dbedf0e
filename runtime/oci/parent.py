"""The host side's part in a container process's life, shared by create/run and exec (runc's
one parent-process abstraction): reach the caller's sockets, tell the pid, wait for the
process while passing signals on, reap the helpers."""

from __future__ import annotations

import os

# _signal, not signal: the signal module builds enums at import (scripts/bench imports).
import _signal as signal

from runtime.errors import SetupError


def connect_unix(path: str, what: str) -> int:
    """A stream socket connected to a unix socket of the caller's (--console-socket, a
    seccomp listenerPath), on the host side: the container side may not see the path."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise SetupError(f"{what} {path}: {e.strerror}") from None
    return s.detach()


def write_pid_file(path: str, pid: int) -> None:
    """--pid-file, as a whole file at once (a reader never sees it half-written)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def reap(pid: int) -> None:
    """Wait for a helper child (the intermediate, the joiner) that may be gone already."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def wait_forwarding_signals(pid: int) -> int:
    """Wait for pid (a child), passing on the signals a caller sends to stop or resize it;
    its exit code, or 128+n when signal n ended it (as a shell reports)."""

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGWINCH):
        signal.signal(s, forward)
    while True:
        try:
            wpid, status = os.wait()
        except ChildProcessError:
            return 255
        if wpid == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
                128 + os.WTERMSIG(status)
