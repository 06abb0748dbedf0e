"""resize: a running container's terminal takes its client's size (Docker's POST
/containers/{id}/resize, which the docker CLI sends after `run -t` starts and whenever its
own window changes). The master side of the terminal is the monitor's (its pump reads
it), so the size is set on the side the container's process holds, reached through /proc:
the kernel then tells the foreground process group (SIGWINCH), as from the master."""

from __future__ import annotations

import os

from runtime.engine import journal
from runtime.engine.execute import check


def set_size(fd: int, height: int, width: int) -> None:
    """TIOCSWINSZ on a terminal (either side of a pty)."""
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def resize(c, height: int, width: int) -> None:
    """Not running: the engine's conflict; no terminal (a container without -t): nothing
    to size, as Docker answers."""
    check(c)
    if not c.config.tty:
        return
    for n in (0, 1, 2):  # the init's stdio, unless it pointed one elsewhere
        try:
            fd = os.open(f"/proc/{c.state.pid}/fd/{n}", os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if os.isatty(fd):
                set_size(fd, height, width)
                journal.record(c, "resize", height=height, width=width)
                return
        finally:
            os.close(fd)
