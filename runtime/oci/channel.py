"""The typed channel between the host side of a start and the container side.

Two pipes, one per direction, made before the fork; each message is one JSON line with a
"type". Pipes rather than a socketpair keep the socket module (and enum) off the start
path (scripts/bench imports). The container side's copies are close-on-exec, so the user's
program never sees them.

Messages (container → host unless noted):
  Pid(pid)               the init's pid, seen from the host (sent by the intermediate process)
  MapIds()               the init made a user namespace: write its uid/gid maps
  RunHooks()             namespaces and mounts are ready: run prestart/createRuntime hooks
  Ready()                set up, waiting for start
  Failed(message)        setup failed; the message names the step
  Continue()             host → container: maps written / hooks ran / "start now"
"""

from __future__ import annotations

import os

from runtime import jsonfast as json
from runtime.errors import SetupError
from runtime.record import as_dict, record


@record
class Pid:
    pid: int


@record
class MapIds:
    pid: int


@record
class RunHooks:
    pass


@record
class Ready:
    pass


@record
class Failed:
    message: str
    exit_code: int = 1


@record
class Continue:
    pass


MESSAGES = {cls.__name__: cls for cls in (Pid, MapIds, RunHooks, Ready, Failed, Continue)}


class ChannelClosed(SetupError):
    pass


class Channel:
    """One end: reads from rfd, writes to wfd."""

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd
        self._buf = b""

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        """(host end, container end)."""
        h2c_r, h2c_w = os.pipe()
        c2h_r, c2h_w = os.pipe()
        return cls(c2h_r, h2c_w), cls(h2c_r, c2h_w)

    def send(self, msg) -> None:
        line = json.dumps({"type": type(msg).__name__, **as_dict(msg)}).encode() + b"\n"
        os.write(self.wfd, line)

    def recv(self):
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise ChannelClosed("container init exited during setup")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        raw = json.loads(line)
        cls = MESSAGES[raw.pop("type")]
        return cls(**{n: raw[n] for n in cls._fields if n in raw})

    def expect(self, *types):
        """Receive one message of the given types; a Failed becomes a SetupError."""
        msg = self.recv()
        if isinstance(msg, Failed):
            err = SetupError(msg.message)
            err.exit_code = msg.exit_code
            raise err
        if not isinstance(msg, types):
            raise SetupError(f"unexpected message from container init: {msg!r}")
        return msg

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
