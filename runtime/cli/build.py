"""`pyrun build`'s options, declared once, and the build itself, without click.

An unchanged rebuild is measured against Docker's (issue target: half its time), and click's
import alone costs more than the rest of such a rebuild on a small machine. So the options
live here as data: runtime/cli/image.py makes the click command from them (help, errors,
every unusual spelling), and runtime/cli/fast.py parses the plain spellings itself and calls
run_build() directly, falling back to click for anything else.
"""

from __future__ import annotations

import os
import sys

from runtime.errors import PyrunError

# (flags, destination, kind, help); kind: "value", "multiple" (repeatable) or "flag"
OPTIONS = [
    (("-f", "--file"), "dockerfile", "value",
     "Name of the Dockerfile (default: CONTEXT/Dockerfile)"),
    (("-t", "--tag"), "tags", "multiple", "Name and optionally a tag (name:tag)"),
    (("--build-arg",), "build_args", "multiple", "Set a build-time variable (KEY=VALUE)"),
    (("--target",), "target", "value", "Build this stage"),
    (("--no-cache",), "no_cache", "flag", "Do not use the build cache"),
    (("--pull",), "pull", "flag", "Pull the FROM images even if present"),
    (("-q", "--quiet"), "quiet", "flag", "Print only the image ID"),
    (("--network",), "network", "value", "Network for RUN steps: bridge (default), host or none"),
]
DEFAULTS = {"dockerfile": None, "tags": (), "build_args": (), "target": None,
            "no_cache": False, "pull": False, "quiet": False, "network": "bridge"}
_BY_FLAG = {flag: (dest, kind) for flags, dest, kind, _ in OPTIONS for flag in flags}


def parse(args: list[str]) -> dict | None:
    """The options and CONTEXT of `pyrun build ARGS`, or None where click should decide:
    help, an unknown or malformed option, a missing value, not exactly one CONTEXT."""
    opts = {k: list(v) if isinstance(v, tuple) else v for k, v in DEFAULTS.items()}
    context = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            context.append(arg)
            continue
        flag, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if flag not in _BY_FLAG:
            return None  # --help, --, -qt..., -tNAME, a typo: click's to answer
        dest, kind = _BY_FLAG[flag]
        if kind == "flag":
            if eq:
                return None
            opts[dest] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if kind == "multiple":
            opts[dest].append(value)
        else:
            opts[dest] = value
    if len(context) != 1:
        return None
    opts["context"] = context[0]
    return opts


def run_build(*, context: str, dockerfile=None, tags=(), build_args=(), target=None,
              no_cache=False, pull=False, quiet=False, network="bridge", root=None) -> None:
    from runtime.builder.builder import Builder
    from runtime.image import reference
    from runtime.image.store import Store
    for t in tags:
        reference.parse(t)  # a bad tag is an error before anything runs
    args = {}
    for kv in build_args:
        k, eq, v = kv.partition("=")
        args[k] = v if eq else os.environ.get(k, "")
    if context == "-":
        text, ctx_dir, name = sys.stdin.read(), None, "Dockerfile"
    else:
        if not os.path.isdir(context):
            raise PyrunError(f"unable to prepare context: path {context!r} not found")
        path = dockerfile if dockerfile and os.path.isabs(dockerfile) else \
            os.path.join(context, dockerfile or "Dockerfile")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise PyrunError(f"unable to prepare context: Dockerfile not found at {path}") \
                from None
        ctx_dir, name = context, os.path.basename(path)
    Builder(Store(root), text, ctx_dir, dockerfile_name=name, tags=tags, build_args=args,
            target=target, no_cache=no_cache, quiet=quiet, network=network,
            pull="always" if pull else "missing").build()
