"""Work that nobody should wait for, done by a detached child.

    later(fn, *args, delay=0.0)

forks; the child leaves the caller's session, lets go of its stdio, pipes and locks (a
caller that reads our output to the end, a test or a shell's $(...), would otherwise wait for
the child too), sleeps `delay`, runs fn(*args), and exits. The caller goes on at once. Used
where the kernel or the disk makes a clean-up slow: the bridge's deletion (grace periods),
a removed container's files (an unlink each, slow on some disks).

fn is a module-level function and args are strings: a threaded caller's child runs fn in a
fresh interpreter (see later).
"""

from __future__ import annotations

import os
import sys

# What the fresh interpreter of a threaded caller's child runs:
#   -c FRESH pyrun-later MODULE FUNCTION DELAY N PATH1..PATHN ARGS...
FRESH = ("import sys, time\n"
         "mod, name, delay, n = sys.argv[2:6]\n"
         "n = int(n)\n"
         "sys.path[:] = sys.argv[6:6 + n]\n"
         "time.sleep(float(delay))\n"
         "getattr(__import__(mod, fromlist=['_']), name)(*sys.argv[6 + n:])\n")


def later(fn, *args: str, delay: float = 0.0) -> None:
    argv = None
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        # A fork copies this thread alone: a lock another thread held at that moment (an
        # import's module lock, a file's buffer lock) stays held in the child for ever. The
        # API service's children hung so, importing what a second request was importing.
        # So a threaded caller's child execs a fresh interpreter, and its command line is
        # made here: between the fork and the exec the child may take no Python-level lock.
        assert "." not in fn.__qualname__ and all(isinstance(a, str) for a in args)
        argv = [sys.executable, "-I", "-S", "-c", FRESH, "pyrun-later", fn.__module__,
                fn.__qualname__, repr(delay), str(len(sys.path)), *sys.path, *args]
    if os.fork() != 0:
        return
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 1 << 16)
        if argv:
            os.execv(argv[0], argv)
        if delay:
            import time
            time.sleep(delay)
        fn(*args)
    finally:
        os._exit(0)
