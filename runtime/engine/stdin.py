"""A detached container's input with -i (pyrun run -di, docker run -di): the FIFO `stdin`
in its directory. Its monitor opens it read-write for the container (or, with a terminal,
for the pump that copies it to the terminal), so that the reader also holds a writer and
never sees an end of input, as a Docker container with an open stdin does not; `attach`
opens it to write what it is given, as many times as it likes."""

from __future__ import annotations

import os

NAME = "stdin"


def open_for_container(c) -> int:
    path = c.path(NAME)
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        pass  # made by an earlier start
    return os.open(path, os.O_RDWR | os.O_CLOEXEC)


def open_for_attach(c) -> int | None:
    """The FIFO's write end, or None: no input to write to (a container started without
    -i, or before pyrun kept one), or no reader left (ENXIO: it has ended)."""
    try:
        fd = os.open(c.path(NAME), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    os.set_blocking(fd, True)  # writes wait for the container to read, as Docker's do
    return fd


DETACH = b"\x10\x11"  # ctrl-p ctrl-q, Docker's default detach keys


def copy(src: int, dst: int, detach_keys: bool = False) -> bool:
    """src to dst until src's end or dst's failure (the container has gone): False; True
    when the detach keys came (with a terminal: what came before them is written)."""
    held = b""
    while True:
        try:
            data = os.read(src, 1 << 16)
        except OSError:
            return False
        if not data:
            return False
        if detach_keys:
            data, held = held + data, b""
            at = data.find(DETACH)
            if at >= 0:
                data, detached = data[:at], True
            else:
                detached = False
                if data.endswith(DETACH[:1]):  # the first key alone: wait for the next
                    data, held = data[:-1], DETACH[:1]
        else:
            detached = False
        try:
            if data:
                os.write(dst, data)
        except OSError:
            return False
        if detached:
            return True
