"""stats: a running container's CPU, memory, network, block I/O and pids, as `docker stats`
shows them, read from its cgroup (v1 or v2, through runtime/oci/events.py) and its network
namespace. CPU % needs two looks: they are INTERVAL apart, so that a one-shot `--no-stream`
takes a tenth of a second (Docker's takes about two)."""

from __future__ import annotations

import os
import time

from runtime.units import bytes_size, human_size

INTERVAL = 0.1


def system_cpu_ns() -> int:
    """All CPUs' time since boot (/proc/stat's "cpu" line), in nanoseconds, as Docker's
    system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def net_io(pid: int) -> tuple[int, int]:
    """(received, sent) bytes of the container's interfaces but lo, from its network
    namespace (as seen through its init)."""
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            rows = f.readlines()[2:]
    except OSError:
        return 0, 0
    for row in rows:
        name, _, data = row.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def sample(c) -> dict | None:
    """One look: the runtime's stats of the container's cgroup, and the host's CPU time."""
    from runtime.engine import oci
    from runtime.oci.events import stats
    state = oci.state(c)
    if state is None:
        return None
    return {"data": stats(state), "system": system_cpu_ns(), "pid": state.pid}


def row(c, before: dict, after: dict, memory_total: int) -> dict:
    """docker stats' fields for one container from two samples. Pure."""
    data = after["data"]
    cpu_delta = data["cpu"]["usage"]["total"] - before["data"]["cpu"]["usage"]["total"]
    system_delta = after["system"] - before["system"]
    cpus = len(data["cpu"]["usage"].get("percpu") or []) or os.cpu_count() or 1
    cpu = cpu_delta / system_delta * cpus * 100 if system_delta > 0 and cpu_delta > 0 else 0.0
    mem = data.get("memory") or {}
    raw = mem.get("raw") or {}
    # What Docker shows: usage without the page cache the kernel can drop at once.
    inactive = raw.get("total_inactive_file", raw.get("inactive_file", 0))
    usage = max(0, mem.get("usage", {}).get("usage", 0) - inactive)
    limit = mem.get("usage", {}).get("limit", 0)
    if not limit or limit >= memory_total:
        limit = memory_total
    rx, tx = net_io(after["pid"])
    blk = {"Read": 0, "Write": 0}
    for e in (data.get("blkio") or {}).get("ioServiceBytesRecursive") or []:
        if e["op"] in blk:
            blk[e["op"]] += e["value"]
    return {"ID": c.id[:12], "Container": c.id[:12], "Name": c.name,
            "CPUPerc": f"{cpu:.2f}%", "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
            "MemPerc": f"{usage / limit * 100 if limit else 0:.2f}%",
            "NetIO": f"{human_size(rx)} / {human_size(tx)}",
            "BlockIO": f"{human_size(blk['Read'])} / {human_size(blk['Write'])}",
            "PIDs": str((data.get("pids") or {}).get("current", 0))}


def one_shot(containers) -> list[dict]:
    """A row per running container: two looks INTERVAL apart, all containers at once."""
    running = [c for c in containers if c.running]
    before = {c.id: sample(c) for c in running}
    time.sleep(INTERVAL)
    total = host_memory()
    rows = []
    for c in running:
        after = sample(c)
        if before[c.id] is not None and after is not None:
            rows.append(row(c, before[c.id], after, total))
    return rows


def idle_row(c) -> dict:
    """A stopped container's row: Docker shows it with zeros."""
    return {"ID": c.id[:12], "Container": c.id[:12], "Name": c.name, "CPUPerc": "0.00%",
            "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
            "BlockIO": "0B / 0B", "PIDs": "0"}


def docker_json(c, before: dict | None, after: dict | None) -> dict:
    """GET /containers/{id}/stats's object from two samples (zeros for a stopped
    container), from which the docker CLI computes its columns. Pure but for the clock."""
    from runtime.timestamps import rfc3339

    def cpu(s):
        if not s:
            return {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": 0}
        u = s["data"]["cpu"]["usage"]
        return {"cpu_usage": {"total_usage": u["total"], "percpu_usage": u.get("percpu"),
                              "usage_in_kernelmode": u.get("kernel", 0),
                              "usage_in_usermode": u.get("user", 0)},
                "system_cpu_usage": s["system"],
                "online_cpus": len(u.get("percpu") or []) or os.cpu_count() or 1}
    data = (after or {}).get("data") or {}
    mem = data.get("memory") or {}
    raw = mem.get("raw") or {}
    limit = mem.get("usage", {}).get("limit", 0)
    total = host_memory()
    rx, tx = net_io(after["pid"]) if after else (0, 0)
    blk = [{"major": e.get("major", 0), "minor": e.get("minor", 0), "op": e["op"],
            "value": e["value"]}
           for e in (data.get("blkio") or {}).get("ioServiceBytesRecursive") or []]
    return {"read": rfc3339(), "preread": rfc3339(), "id": c.id, "name": "/" + c.name,
            "pids_stats": {"current": (data.get("pids") or {}).get("current", 0)},
            "blkio_stats": {"io_service_bytes_recursive": blk},
            "cpu_stats": cpu(after), "precpu_stats": cpu(before),
            "memory_stats": {"usage": mem.get("usage", {}).get("usage", 0),
                             "limit": limit if limit and limit < total else total,
                             "stats": raw},
            "networks": {"eth0": {"rx_bytes": rx, "tx_bytes": tx, "rx_packets": 0,
                                  "tx_packets": 0, "rx_errors": 0, "tx_errors": 0,
                                  "rx_dropped": 0, "tx_dropped": 0}}}
