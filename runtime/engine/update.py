"""update: a container's limits changed, at once on a running one (through the runtime's
`update`) and for its next starts (its record); and its restart policy (the record alone)."""

from __future__ import annotations

from runtime.engine import journal
from runtime.engine import containers as cmod


def update(c, *, memory: int | None = None, cpus: float | None = None,
           pids_limit: int | None = None, cpu_shares: int | None = None,
           cpuset_cpus: str | None = None, cpuset_mems: str | None = None,
           memory_reservation: int | None = None, blkio_weight: int | None = None,
           cpu_quota: int | None = None, cpu_period: int | None = None,
           memory_swap: int | None = None, restart: str | None = None) -> None:
    given = (memory, cpus, pids_limit, cpu_shares, cpuset_cpus, cpuset_mems,
             memory_reservation, blkio_weight, cpu_quota, cpu_period, memory_swap, restart)
    if all(v is None for v in given):
        raise cmod.InvalidSpec("you must provide one or more flags when using this command")
    cmod.check_cpus(cpus)
    if blkio_weight and not 10 <= blkio_weight <= 1000:
        raise cmod.InvalidSpec("Range of blkio weight is from 10 to 1000")
    if cpu_period and not 1000 <= cpu_period <= 1000000:
        raise cmod.InvalidSpec("CPU cfs period can not be less than 1ms (i.e. 1000) or "
                               "larger than 1s (i.e. 1000000)")
    if cpu_quota and cpu_quota != -1 and cpu_quota < 1000:
        raise cmod.InvalidSpec("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    policy = cmod.parse_restart(restart) if restart is not None else None
    hc = c.reload().host
    if policy is not None and policy["Name"] != "no" and hc.auto_remove:
        raise cmod.InvalidSpec("Restart policy cannot be updated because AutoRemove is "
                               "enabled for the container")
    # --cpus and the CFS pair set the same two files: one or the other, as Docker's update
    if cpus and (cpu_quota or cpu_period):
        raise cmod.InvalidSpec("Conflicting options: Nano CPUs and CPU Period cannot both "
                               "be set")
    if (cpu_quota or cpu_period) and hc.nano_cpus and cpus is None:
        raise cmod.InvalidSpec("Conflicting options: CPU Quota cannot be updated as "
                               "NanoCPUs has already been set")
    if cpus and (hc.cpu_quota or hc.cpu_period):
        which = "Period" if hc.cpu_period else "Quota"
        raise cmod.InvalidSpec(f"Conflicting options: Nano CPUs cannot be updated as CPU "
                               f"{which} has already been set")
    _check_swap(hc, memory, memory_swap)
    resources: dict = {}
    if memory is not None:
        hc.memory = memory
        resources["memory"] = {"limit": memory or -1}
    if memory_swap is not None:
        hc.memory_swap = memory_swap
        # with the limit beside it: cgroup v2's memory.swap.max is the swap alone (the
        # difference), and v1 orders the two writes by it
        resources["memory"] = {"limit": hc.memory or -1, "swap": memory_swap}
    if cpus is not None:
        hc.nano_cpus = int(cpus * 1e9)
        resources["cpu"] = {"quota": hc.nano_cpus // 10000 or -1, "period": 100000}
    if cpu_quota is not None or cpu_period is not None:
        if cpu_quota is not None:
            hc.cpu_quota = 0 if cpu_quota == -1 else cpu_quota
        if cpu_period is not None:
            hc.cpu_period = cpu_period
        # both, always: cgroup v2's cpu.max holds the pair, and a period alone would
        # lift the quota there
        resources["cpu"] = {"quota": hc.cpu_quota or -1, "period": hc.cpu_period or 100000}
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


def _check_swap(hc, memory: int | None, swap: int | None) -> None:
    """Docker's update rules for -m and --memory-swap (memory plus swap; -1 no swap limit),
    in its words; the record's 0 is "never set" (swap then follows the host's default)."""
    if swap not in (None, 0, -1):
        limit = memory if memory is not None else hc.memory
        if not limit:
            raise cmod.InvalidSpec("You should always set the Memory limit when using "
                                   "Memoryswap limit")
        if swap < limit:
            raise cmod.InvalidSpec("Minimum memoryswap limit should be larger than memory "
                                   "limit, see usage")
    if memory and swap is None and hc.memory_swap > 0 and memory > hc.memory_swap:
        raise cmod.InvalidSpec("Memory limit should be smaller than already set memoryswap "
                               "limit, update the memoryswap at the same time")
