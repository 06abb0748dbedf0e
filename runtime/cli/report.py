"""How a command's end is told: one line on stderr and Docker's exit codes. Shared by the
fast path (fast.py) and click's (main.py), which otherwise would import each other."""

from __future__ import annotations

import sys

from runtime.errors import PyrunError


def report(e: BaseException) -> int:
    """An exception that ended a command → its one line on stderr and the exit code (Docker's:
    125 for the engine's own errors); what is not ours to judge is raised again."""
    if isinstance(e, KeyboardInterrupt):
        return 130
    if isinstance(e, PyrunError):
        print(f"pyrun: {e}", file=sys.stderr)
        return e.exit_code
    if isinstance(e, OSError):  # a failed system call pyrun did not expect: no trace
        print(f"pyrun: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""),
              file=sys.stderr)
        return 125
    if isinstance(e, SystemExit):
        return e.code if isinstance(e.code, int) else 0
    raise e
