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
# ctrl-@ is 0, ctrl-a 1 ... ctrl-z 26, then ctrl-[ ctrl-\ ctrl-] ctrl-^ ctrl-_ (27-31)
_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse_detach_keys(text: str) -> bytes:
    """Docker's --detach-keys and the API's detachKeys: keys separated by commas, each one
    character or ctrl-<@, a-z, [, \\, ], ^, _> ("ctrl-p,ctrl-q"; "ctrl-x,x")."""
    out = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            out.append(ord(key))
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL:
            out.append(_CTRL.index(key[5]))
        else:
            from runtime.errors import InvalidParameter
            raise InvalidParameter(f"Invalid detach keys ({text}) provided")
    return bytes(out)


class Escape:
    """Finds the detach keys in a terminal's input as it comes, however it is cut: feed()
    gives what is to be written on and whether the keys have come. Keys held back while
    they may be the start of the sequence are written after all once it breaks off, as
    Docker's copyEscapable does."""

    def __init__(self, keys: bytes = DETACH):
        self.keys, self.held = keys, 0  # held: how many of the keys came last

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.held and self.keys[0] not in data:
            return data, False  # the common case, without a loop over the bytes
        out = bytearray()
        for b in data:
            if b == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    self.held = 0
                    return bytes(out), True
                continue
            out += self.keys[:self.held]
            self.held = 0
            if b == self.keys[0]:
                self.held = 1
            else:
                out.append(b)
        return bytes(out), False


def copy(src: int, dst: int, keys: bytes | None = None) -> bool:
    """src to dst until src's end or dst's failure (the container has gone): False; True
    when the detach `keys` came (with a terminal: what came before them is written)."""
    escape = Escape(keys) if keys else None
    while True:
        try:
            data = os.read(src, 1 << 16)
        except OSError:
            return False
        if not data:
            return False
        detached = False
        if escape is not None:
            data, detached = escape.feed(data)
        try:
            if data:
                os.write(dst, data)
        except OSError:
            return False
        if detached:
            return True
