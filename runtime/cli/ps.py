"""`pyrun ls` (also `ps`, `container ls`): its plain spellings skip click through
runtime/cli/fast.py, as run's do (`ls -a` with 100 containers has a budget: scripts/bench
engine); click's command is made from the same OPTIONS."""

from __future__ import annotations

import sys

from runtime.cli import options
from runtime.cli.options import Option

OPTIONS = [
    Option(("-a", "--all"), "show_all", "flag", "Show all containers (running ones by default)"),
    Option(("-q", "--quiet"), "quiet", "flag", "Only the IDs"),
    Option(("--no-trunc",), "no_trunc", "flag", "Do not truncate IDs and commands"),
    Option(("-f", "--filter"), "filters", "multiple", "name=... or status=..."),
    Option(("--format",), "fmt", "value", "table, json or a Go template ({{.Names}})",
           default="table"),
]
COLUMNS = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
           ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"),
           ("NAMES", "Names")]


def parse(args: list[str]) -> dict | None:
    parsed = options.parse(OPTIONS, args)
    if parsed is None or parsed[1]:
        return None
    return parsed[0]


def ls(*, show_all=False, quiet=False, no_trunc=False, filters=(), fmt="table",
       root=None) -> int:
    import _json

    from runtime.cli.format import emit_rows, truncate
    from runtime.engine import containers as cmod
    from runtime.engine import inspect, repair
    from runtime.image.store import Store
    from runtime.units import ago
    store = Store(root).ensure()
    repair.refresh(store)  # a crashed monitor's container shows Exited, its network removed
    chosen = inspect.filters_of(filters)
    rows = []
    for c in sorted(cmod.all_containers(store), key=lambda c: c.created, reverse=True):
        status = inspect.status(c)
        # a status filter names what to show, the stopped too (docker ps -f status=exited)
        if not show_all and status not in ("running", "paused") and "status" not in chosen:
            continue
        if not inspect.matches(c, chosen):
            continue
        cmd = " ".join(c.command)
        rows.append({"ID": c.id if no_trunc else c.id[:12], "Image": c.image_ref,
                     # quoted as Docker's (json.dumps with ensure_ascii=False)
                     "Command": _json.encode_basestring(cmd if no_trunc else
                                                        truncate(cmd, 20)),
                     "CreatedAt": c.created, "RunningFor": ago(c.created),
                     "Status": c.status_text(), "State": status,
                     "Ports": c.ports_text() if status == "running" else "", "Names": c.name,
                     "Labels": ",".join(f"{k}={v}" for k, v in c.config.labels.items()),
                     "Networks": ",".join(c.net.networks)})
    emit_rows(rows, COLUMNS, quiet, fmt)
    sys.stdout.flush()
    return 0
