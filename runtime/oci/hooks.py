"""OCI hooks: run each with the container's state JSON on stdin, within its timeout."""

from __future__ import annotations

import json
import os
import subprocess

from runtime.errors import SetupError


def run(kind: str, hooks, state: dict, cwd: str | None = None) -> None:
    """Run the hooks of one kind in order; the first failure stops and raises."""
    payload = json.dumps(state).encode()
    for h in hooks:
        env = dict(e.split("=", 1) for e in h.env if "=" in e)
        argv = h.args or [h.path]
        try:
            proc = subprocess.run(argv, executable=h.path, input=payload, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=h.timeout, close_fds=True, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise SetupError(f"{kind} hook {h.path}: timed out after {h.timeout}s") from None
        except OSError as e:
            raise SetupError(f"{kind} hook {h.path}: {os.strerror(e.errno)}") from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
            raise SetupError(f"{kind} hook {h.path}: exit status {proc.returncode}"
                             + (f": {detail}" if detail else ""))


def from_raw(raw: dict | None):
    """Hooks as stored in state.json (the config's own JSON) → typed lists."""
    from runtime.oci.spec import parse_hooks
    return parse_hooks(raw or {})
