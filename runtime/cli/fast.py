"""pyrun's entry point: the commands whose start time is measured go straight to their work;
everything else goes through click (runtime/cli/main.py).

Today that is `pyrun build` / `pyrun image build` in its plain spellings (an unchanged
rebuild must take half of Docker's time, and click's import alone is some 20 ms). Errors are
reported exactly as main.py reports them, through report().
"""

from __future__ import annotations

import sys

from runtime.errors import PyrunError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rest = argv[1:] if argv[:1] == ["build"] else argv[2:] if argv[:2] == ["image", "build"] \
        else None
    if rest is not None:
        from runtime.cli import build
        opts = build.parse(rest)
        if opts is not None:
            try:
                build.run_build(**opts)
            except BaseException as e:  # noqa: B036 - every exit is reported as main() does
                return report(e)
            return 0
    from runtime.cli.main import main as click_main
    return click_main()


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
