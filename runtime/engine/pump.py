"""The resident part of a detached container's monitor: copy output to the log, wait.

Started by exec from the monitor once the container runs, as
    python -S -I pump.py ROOT ID PID LOG OUT_FD ERR_FD [MAX_SIZE MAX_FILE [IN_FD]]
with nothing imported but what is below (measured: 0.8 MB PSS, against ~33 MB for the
monitor with pyrun's modules loaded). The monitor's subreaper flag, its pid and the pipe
fds survive the exec. When the container's init exits and the pipes are drained, it execs
the full monitor again (`-m runtime.engine.monitor --finish`) to record the exit and undo
networking and mounts.

No pyrun module may be imported here: -I keeps the project off sys.path on purpose.
"""

import os
import select
import sys
import time
from _json import encode_basestring_ascii as quote

from runtime.timestamps import rfc3339


def now() -> str:
    return rfc3339()


class LogFile:
    """container.log with json-file's rotation (--log-opt max-size, max-file): past
    max_size bytes the file becomes container.log.1 (.1 becomes .2, ...; the last of
    max_file goes), and a new one starts. max_size 0: no limit. native/pyrun_pump.c does
    the same for a detached container."""

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1):
        self.path, self.max_size, self.max_file = path, max_size, max(1, max_file)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> None:
        try:
            os.write(self.fd, data)
        except OSError:
            return  # a full disk: the line is lost, the container goes on (as the C pump)
        self.size += len(data)
        if self.max_size and self.size >= self.max_size:
            self.rotate()

    def rotate(self) -> None:
        os.close(self.fd)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        if self.max_file > 1:
            for i in range(self.max_file - 1, 0, -1):
                try:
                    os.replace(self.path if i == 1 else f"{self.path}.{i - 1}",
                               f"{self.path}.{i}")
                except FileNotFoundError:
                    pass
        else:
            flags |= os.O_TRUNC
        self.fd = os.open(self.path, flags, 0o640)
        self.size = 0

    def close(self) -> None:
        os.close(self.fd)


def pump(pid: int, log: LogFile, streams: dict, echo: bool = False,
         into: tuple | None = None) -> int:
    """Copy each stream to the log (and with echo, to our own stdout/stderr) until the
    container's init (our child, or an orphan reparented to us) has exited and every pipe is
    drained; returns its exit code (128+n for signal n). into=(IN, TERMINAL): what IN gives
    is written to the terminal (one of the streams), never blocking on it (as the C pump)."""
    streams = dict(streams)
    code = None
    in_fd, term = into if into else (-1, -1)
    if in_fd >= 0:
        os.set_blocking(term, False)
    pending = b""
    gone_at = 0.0  # when the init was reaped
    while streams or code is None:
        if streams:
            reads = list(streams) + ([in_fd] if in_fd >= 0 and not pending else [])
            try:
                ready, room, _ = select.select(reads, [term] if pending else [], [], 0.5)
            except InterruptedError:
                ready, room = [], [None]
            if code is not None and (not ready and not room or
                                     time.monotonic() - gone_at > 2):
                # the init has gone and nothing came for half a second, or two seconds have
                # passed since: the pipes' holders are outside a pid namespace of its own
                # (--pid host), and the runtime's delete kills them; waiting could never end
                for fd in list(streams) + ([in_fd] if in_fd >= 0 else []):
                    os.close(fd)
                break
            if in_fd in ready:
                ready.remove(in_fd)
                try:
                    pending = os.read(in_fd, 4096)
                except OSError:
                    pending = b""
                if not pending:
                    os.close(in_fd)  # the client's end of input: a terminal gets none
                    in_fd = -1
            if pending:
                try:
                    pending = pending[os.write(term, pending):]
                except BlockingIOError:
                    pass
                except OSError:
                    pending = b""
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: a pty whose other side is closed
                    data = b""
                if not data:
                    if fd == term and in_fd >= 0:
                        os.close(in_fd)  # no terminal left to write to
                        in_fd, pending = -1, b""
                    os.close(fd)
                    del streams[fd]
                    continue
                stamp, start = now(), 0
                while start < len(data):  # a record per line, as json-file (on \n only)
                    end = data.find(b"\n", start)
                    end = len(data) if end < 0 else end + 1
                    log.write(('{"log":%s,"stream":"%s","time":"%s"}\n'
                               % (quote(data[start:end].decode("utf-8", "replace")),
                                  streams[fd], stamp)).encode())
                    start = end
                if echo:
                    try:
                        os.write(1 if streams[fd] == "stdout" else 2, data)
                    except BrokenPipeError:
                        # Our reader went away (`pyrun run ... | head -1`): the container's
                        # writer learns it as in a pipeline, through its own EPIPE/SIGPIPE
                        # once this end of its pipe is closed, and the run ends with it.
                        os.close(fd)
                        del streams[fd]
        else:
            time.sleep(0.2)
        while True:
            try:
                wpid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                if code is None:
                    code = 0
                break
            if wpid == 0:
                break
            if wpid == pid:
                code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
                    128 + os.WTERMSIG(status)
                gone_at = time.monotonic()
    return code


def main(argv: list) -> None:
    root, cid, pid, path = argv[0], argv[1], int(argv[2]), argv[3]
    streams = {int(fd): name for fd, name in ((argv[4], "stdout"), (argv[5], "stderr"))
               if int(fd) >= 0}
    limits = [int(x) for x in argv[6:8]] if len(argv) >= 8 else [0, 1]
    in_fd = int(argv[8]) if len(argv) >= 9 else -1
    log = LogFile(path, *limits)
    code = pump(pid, log, streams, into=(in_fd, int(argv[4])) if in_fd >= 0 else None)
    log.close()
    os.execv(sys.executable, [sys.executable, "-m", "runtime.engine.monitor", "--finish",
                              root, cid, str(code)])


if __name__ == "__main__":
    main(sys.argv[1:])
