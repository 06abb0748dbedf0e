"""pyrun's entry point: the commands whose start time is measured go straight to their work;
everything else goes through click (runtime/cli/main.py).

Today that is build (an unchanged rebuild must take half of Docker's time), run/create
(`run --rm` at most 1.5x runc's run) and ls (100 containers in 100 ms), in their plain
spellings: click's import is most of a short command's time (scripts/bench engine). Errors
are reported exactly as main.py reports them, through report.py.
"""

from __future__ import annotations

import sys



# (group, verb) → (module of runtime/cli, its function, extra keyword arguments). The module
# has parse(args) → keyword arguments, or None where click should answer instead.
FAST = {
    (None, "build"): ("build", "run_build", {}),
    ("image", "build"): ("build", "run_build", {}),
    (None, "run"): ("run", "run", {}),
    ("container", "run"): ("run", "run", {}),
    (None, "create"): ("run", "run", {"create_only": True}),
    ("container", "create"): ("run", "run", {"create_only": True}),
    (None, "ls"): ("ps", "ls", {}),
    (None, "ps"): ("ps", "ls", {}),
    ("container", "ls"): ("ps", "ls", {}),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["image"], ["container"]):
        key, rest = (argv[0], argv[1] if len(argv) > 1 else None), argv[2:]
    else:
        key, rest = (None, argv[0] if argv else None), argv[1:]
    if key in FAST:
        import importlib
        module, function, extra = FAST[key]
        mod = importlib.import_module(f"runtime.cli.{module}")
        opts = mod.parse(rest)
        if opts is not None:
            try:
                return getattr(mod, function)(**opts, **extra) or 0
            except BaseException as e:  # noqa: B036 - every exit is reported as main() does
                from runtime.cli.report import report
                return report(e, argv)
    from runtime.cli.main import main as click_main
    return click_main()


def launch() -> None:
    """The `pyrun` command (native/pyrun_launch.c runs this with `python -c`). Ends without
    the interpreter's teardown (module cleanup, a last GC); pyrun
    registers no exit handlers, and what it writes it closes itself."""
    import os
    sys.argv[0] = "pyrun"  # not "-c": click names the program after it
    try:
        code = main()
    except SystemExit as e:  # click's --help and --version end so
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a reader that went away (`pyrun ls | head -1`)
            pass
    os._exit(code)
