"""update: a container's limits changed, at once on a running one (through the runtime's
`update`) and for its next starts (its record); and its restart policy (the record alone)."""

from __future__ import annotations

from runtime.engine import journal
from runtime.engine import containers as cmod


def update(c, *, memory: int | None = None, cpus: float | None = None,
           pids_limit: int | None = None, cpu_shares: int | None = None,
           cpuset_cpus: str | None = None, cpuset_mems: str | None = None,
           memory_reservation: int | None = None, blkio_weight: int | None = None,
           restart: str | None = None) -> None:
    given = (memory, cpus, pids_limit, cpu_shares, cpuset_cpus, cpuset_mems,
             memory_reservation, blkio_weight, restart)
    if all(v is None for v in given):
        raise cmod.ContainerError("you must provide one or more flags when using this command")
    cmod.check_cpus(cpus)
    if blkio_weight and not 10 <= blkio_weight <= 1000:
        raise cmod.ContainerError("Range of blkio weight is from 10 to 1000")
    policy = cmod.parse_restart(restart) if restart is not None else None
    hc = c.reload().host
    if policy is not None and policy["Name"] != "no" and hc.auto_remove:
        raise cmod.ContainerError("Restart policy cannot be updated because AutoRemove is "
                                  "enabled for the container")
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
    for name, value, kind, key in (("cpu_shares", cpu_shares, "cpu", "shares"),
                                   ("cpuset_cpus", cpuset_cpus, "cpu", "cpus"),
                                   ("cpuset_mems", cpuset_mems, "cpu", "mems"),
                                   ("memory_reservation", memory_reservation, "memory",
                                    "reservation"),
                                   ("blkio_weight", blkio_weight, "blockIO", "weight")):
        if value is not None:
            setattr(hc, name, value)
            resources.setdefault(kind, {})[key] = value
    if policy is not None:
        hc.restart_policy = policy  # read at the next exit: nothing to tell the runtime
    if c.running and resources:
        from runtime.engine import oci
        oci.update(c, resources)
    c.save()
    journal.record(c, "update")
