"""How a command's end is told: one line on stderr and the docker CLI's exit codes. Shared by the
fast path (fast.py) and click's (main.py), which otherwise would import each other."""

from __future__ import annotations

import sys

from runtime.errors import PyrunError, StatusError


def report(e: BaseException, argv: list[str] | None = None) -> int:
    """An exception that ended a command → its one line on stderr and the exit code, as the
    docker CLI's: the engine's own failures are 125 for `run` (whose other codes are the
    container's: 126, 127, its own) and 1 for every other command, but for a StatusError's
    own code; what is not ours to judge is raised again. argv: the command line (sys.argv's
    by default)."""
    if isinstance(e, KeyboardInterrupt):
        return 130
    running = runs(sys.argv[1:] if argv is None else argv)
    failed = 125 if running else 1
    if isinstance(e, PyrunError):
        print(f"pyrun: {e}", file=sys.stderr)
        # `start` of a missing program too is 1; a build's failed RUN, that step's code
        return e.exit_code if running or isinstance(e, StatusError) else 1
    if isinstance(e, OSError):  # a failed system call pyrun did not expect: no trace
        print(f"pyrun: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""),
              file=sys.stderr)
        return failed
    if isinstance(e, SystemExit):
        return e.code if isinstance(e.code, int) else 0
    raise e


def runs(argv: list[str]) -> bool:
    """Whether the command is `run` (`container run`), past the one global option."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] == "--root" else 1
    return argv[i:i + 1] == ["run"] or argv[i:i + 2] == ["container", "run"]
