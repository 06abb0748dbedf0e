"""update: a container's limits changed, at once on a running one (through the runtime's
`update`) and for its next starts (its record)."""

from __future__ import annotations

from runtime.engine import journal
from runtime.engine import containers as cmod


def update(c, *, memory: int | None = None, cpus: float | None = None,
           pids_limit: int | None = None) -> None:
    if memory is None and cpus is None and pids_limit is None:
        raise cmod.ContainerError("you must provide one or more flags when using this command")
    cmod.check_cpus(cpus)
    hc = c.reload().host
    resources: dict = {}
    if memory is not None:
        hc.memory = memory
        resources["memory"] = {"limit": memory or -1}
    if cpus is not None:
        hc.nano_cpus = int(cpus * 1e9)
        resources["cpu"] = {"quota": hc.nano_cpus // 10000 or -1, "period": 100000}
    if pids_limit is not None:
        hc.pids_limit = pids_limit
        resources["pids"] = {"limit": pids_limit or -1}
    if c.running:
        from runtime.engine import oci
        oci.update(c, resources)
    c.save()
    journal.record(c, "update")
