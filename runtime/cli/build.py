"""`pyrun build`'s options, declared once, and the build itself, without click.

An unchanged rebuild is measured against Docker's (issue target: half its time), and click's
import alone costs more than the rest of such a rebuild on a small machine. So the options
live here as data (runtime/cli/options.py): runtime/cli/image.py makes the click command from
them (help, errors, every unusual spelling), and runtime/cli/fast.py parses the plain
spellings itself and calls run_build() directly, falling back to click for anything else.
"""

from __future__ import annotations

import os
import sys

from runtime.cli import options
from runtime.cli.options import Option
from runtime.errors import PyrunError

OPTIONS = [
    Option(("-f", "--file"), "dockerfile", "value",
           "Name of the Dockerfile (default: CONTEXT/Dockerfile)"),
    Option(("-t", "--tag"), "tags", "multiple", "Name and optionally a tag (name:tag)"),
    Option(("--build-arg",), "build_args", "multiple", "Set a build-time variable (KEY=VALUE)"),
    Option(("--target",), "target", "value", "Build this stage"),
    Option(("--no-cache",), "no_cache", "flag", "Do not use the build cache"),
    Option(("--pull",), "pull", "flag", "Pull the FROM images even if present"),
    Option(("-q", "--quiet"), "quiet", "flag", "Print only the image ID"),
    Option(("--network",), "network", "value",
           "Network for RUN steps: bridge (default), host or none", default="bridge"),
]


def parse(args: list[str]) -> dict | None:
    """The options and CONTEXT of `pyrun build ARGS`, or None where click should decide:
    help, an unknown or malformed option, a missing value, not exactly one CONTEXT."""
    parsed = options.parse(OPTIONS, args)
    if parsed is None or len(parsed[1]) != 1:
        return None
    opts, (context,) = parsed
    opts["context"] = context
    return opts


def run_build(*, context: str, dockerfile=None, tags=(), build_args=(), target=None,
              no_cache=False, pull=False, quiet=False, network="bridge", root=None) -> None:
    from runtime.builder.builder import Builder
    from runtime.image import reference
    from runtime.image.store import Store
    for t in tags:
        reference.parse(t)  # a bad tag is an error before anything runs
    from runtime.engine.repair import refresh
    refresh(Store(root))  # what killed builds (and runs) left, as every command does
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
