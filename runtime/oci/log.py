"""runc's --log/--log-format: text lines or one JSON object per line.

containerd reads the log file after a failed call and shows the last "error" line to its user,
so every error the CLI reports is also written here, last.
"""

from __future__ import annotations

import os
import time

from runtime import jsonfast as json

_path: str | None = None
_fd = -1  # the log, opened once by configure() and inherited by the container side
_format = "text"
_debug = False


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Raises PyrunError (and logs to stderr only) when the log file cannot be opened."""
    global _path, _fd, _format, _debug
    _path, _format, _debug = None, fmt, debug
    if debug:  # linux/ says what it skipped through its own sink (runtime/linux/diag.py)
        from runtime.linux import diag
        diag.install(lambda msg: _emit("debug", msg))
    if _fd >= 0:
        os.close(_fd)
        _fd = -1
    if path:
        # Opened here, in the caller's directory, and written through this descriptor by
        # every process of the command: the container side logs too, after it has changed
        # its root, where the path means nothing (as runc's init logs through its parent's
        # pipe). Close-on-exec: the container's program never gets it.
        try:
            _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            from runtime.errors import PyrunError
            raise PyrunError(f"--log {path}: {e.strerror}") from None
        _path = path


def to_stderr(text: str) -> None:
    """A line for a person at a terminal. Never fails: under a shim stderr may be a
    read-only /dev/null or closed, and an error report must not turn into another error."""
    try:
        os.write(2, text.encode(errors="replace") + b"\n")
    except OSError:
        pass


def _emit(level: str, msg: str) -> None:
    from runtime.timestamps import rfc3339
    now = rfc3339()
    if _format == "json":
        line = json.dumps({"level": level, "msg": msg, "time": now})
    else:  # logrus's text form, as runc writes it
        quoted = msg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        line = f'time="{now}" level={level} msg="{quoted}"'
    if _fd >= 0:
        os.write(_fd, line.encode() + b"\n")
    elif level in ("debug", "info") and _debug:
        to_stderr(line)  # --debug without --log: runc's lines, on stderr
    elif level in ("error", "warning"):
        to_stderr(line if _format == "json" else f"pyrun-oci: {level}: {msg}")


def error(msg: str) -> None:
    _emit("error", msg)


def warning(msg: str) -> None:
    _emit("warning", msg)


def info(msg: str) -> None:
    if _debug:
        _emit("info", msg)


def debug(msg: str) -> None:
    if _debug:
        _emit("debug", msg)



_TRACE = os.environ.get("PYRUN_OCI_TRACE") == "1"


def trace(step: str) -> None:
    """PYRUN_OCI_TRACE=1: one stderr line per start-path step, with a monotonic timestamp,
    from every process of the start (host, intermediate, init), for finding slow steps."""
    if _TRACE:
        os.write(2, f"[trace {time.monotonic() * 1000:.2f} pid {os.getpid()}] {step}\n".encode())
