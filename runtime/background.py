"""Work that nobody should wait for, done by a detached child.

    later(fn, *args, delay=0.0)

forks; the child leaves the caller's session, lets go of its stdio, pipes and locks (a
caller that reads our output to the end, a test or a shell's $(...), would otherwise wait for
the child too), sleeps `delay`, runs fn(*args), and exits. The caller goes on at once. Used
where the kernel or the disk makes a clean-up slow: the bridge's deletion (grace periods),
a removed container's files (an unlink each, slow on some disks).
"""

from __future__ import annotations

import os


def later(fn, *args, delay: float = 0.0) -> None:
    if os.fork() != 0:
        return
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 1 << 16)
        if delay:
            import time
            time.sleep(delay)
        fn(*args)
    finally:
        os._exit(0)
