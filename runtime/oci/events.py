"""events: a container's resource usage and OOM kills as runc's JSON lines.

`events --stats ID` prints one {"type": "stats", "id": ID, "data": {...}} line (runc's
types.Stats: cpu, memory, pids, blkio) and exits; without --stats the same line comes every
--interval (default 5s), with an {"type": "oom", "id": ID} line as soon as the kernel's OOM
killer kills in the container's cgroup, until the container stops.
"""

from __future__ import annotations

import os
import sys
import time

from runtime import jsonfast as json
from runtime.errors import ContainerStateError, PyrunError
from runtime.oci.state import State

NO_LIMIT = 18446744073709551615  # runc's "max": math.MaxUint64
USER_HZ = 100  # cpuacct.stat's unit (ticks) on every Linux runc supports
OOM_POLL = 0.1  # seconds between looks at the OOM counter while streaming


def parse_interval(text: str) -> float:
    """Go's duration forms runc takes: "5s", "500ms", "1m", "1m30s"; a bare number is
    seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total, num, i = 0.0, "", 0
    try:
        if text.replace(".", "", 1).isdigit():
            return float(text)
        while i < len(text):
            if text[i].isdigit() or text[i] == ".":
                num += text[i]
                i += 1
                continue
            unit = "ms" if text.startswith("ms", i) else text[i]
            total += float(num) * units[unit]
            num, i = "", i + len(unit)
    except (KeyError, ValueError):
        num = "x"
    if num or total <= 0:
        raise PyrunError(f"--interval {text}: a duration such as 5s or 500ms")
    return total


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except (FileNotFoundError, OSError):
        return None


def _int(path: str, default: int = 0) -> int:
    text = _read(path)
    if text is None:
        return default
    if text == "max":
        return NO_LIMIT
    try:
        return int(text)
    except ValueError:
        return default


def _keyed(path: str) -> dict[str, int]:
    out = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def stats_v1(paths: dict[str, str]) -> dict:
    cpu = paths.get("cpuacct") or paths.get("cpu")
    usage = {"total": 0, "kernel": 0, "user": 0}
    throttling = {}
    if cpu:
        usage["total"] = _int(os.path.join(cpu, "cpuacct.usage"))
        for key, name in (("percpu", "usage_percpu"), ("percpu_kernel", "usage_percpu_sys"),
                          ("percpu_user", "usage_percpu_user")):
            text = _read(os.path.join(cpu, f"cpuacct.{name}"))
            if text:
                usage[key] = [int(x) for x in text.split()]
        ticks = _keyed(os.path.join(cpu, "cpuacct.stat"))
        usage["kernel"] = ticks.get("system", 0) * 1_000_000_000 // USER_HZ
        usage["user"] = ticks.get("user", 0) * 1_000_000_000 // USER_HZ
    if paths.get("cpu"):
        st = _keyed(os.path.join(paths["cpu"], "cpu.stat"))
        throttling = {"periods": st.get("nr_periods", 0),
                      "throttled_periods": st.get("nr_throttled", 0),
                      "throttled_time": st.get("throttled_time", 0)}
    data: dict = {"cpu": {"usage": usage, "throttling": throttling}}
    mem = paths.get("memory")
    if mem:
        def entry(prefix):
            return {"limit": _int(os.path.join(mem, f"{prefix}.limit_in_bytes")),
                    "usage": _int(os.path.join(mem, f"{prefix}.usage_in_bytes")),
                    "max": _int(os.path.join(mem, f"{prefix}.max_usage_in_bytes")),
                    "failcnt": _int(os.path.join(mem, f"{prefix}.failcnt"))}
        raw = _keyed(os.path.join(mem, "memory.stat"))
        data["memory"] = {"cache": raw.get("cache", 0), "usage": entry("memory"),
                          "swap": entry("memory.memsw"), "kernel": entry("memory.kmem"),
                          "kernelTCP": entry("memory.kmem.tcp"), "raw": raw}
    if paths.get("pids"):
        limit = _int(os.path.join(paths["pids"], "pids.max"))
        data["pids"] = {"current": _int(os.path.join(paths["pids"], "pids.current")),
                        "limit": 0 if limit == NO_LIMIT else limit}
    if paths.get("blkio"):
        entries = []
        text = _read(os.path.join(paths["blkio"], "blkio.throttle.io_service_bytes_recursive"))
        for line in (text or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1],
                                "value": int(parts[2])})
        data["blkio"] = {"ioServiceBytesRecursive": entries}
    return data


def stats_v2(path: str) -> dict:
    st = _keyed(os.path.join(path, "cpu.stat"))
    data: dict = {"cpu": {
        "usage": {"total": st.get("usage_usec", 0) * 1000,
                  "kernel": st.get("system_usec", 0) * 1000,
                  "user": st.get("user_usec", 0) * 1000},
        "throttling": {"periods": st.get("nr_periods", 0),
                       "throttled_periods": st.get("nr_throttled", 0),
                       "throttled_time": st.get("throttled_usec", 0) * 1000}}}
    raw = _keyed(os.path.join(path, "memory.stat"))
    events = _keyed(os.path.join(path, "memory.events"))
    data["memory"] = {
        "cache": raw.get("file", 0), "raw": raw,
        "usage": {"usage": _int(os.path.join(path, "memory.current")),
                  "limit": _int(os.path.join(path, "memory.max"), NO_LIMIT),
                  "max": _int(os.path.join(path, "memory.peak")),
                  "failcnt": events.get("max", 0)},
        "swap": {"usage": _int(os.path.join(path, "memory.swap.current")),
                 "limit": _int(os.path.join(path, "memory.swap.max"), NO_LIMIT)}}
    limit = _int(os.path.join(path, "pids.max"))
    data["pids"] = {"current": _int(os.path.join(path, "pids.current")),
                    "limit": 0 if limit == NO_LIMIT else limit}
    served_bytes, served = [], []
    for line in (_read(os.path.join(path, "io.stat")) or "").splitlines():
        dev, *fields = line.split()
        major, minor = (int(x) for x in dev.split(":"))
        kv = dict(f.split("=", 1) for f in fields if "=" in f)
        for op, b, n in (("Read", "rbytes", "rios"), ("Write", "wbytes", "wios")):
            served_bytes.append({"major": major, "minor": minor, "op": op,
                                 "value": int(kv.get(b, 0))})
            served.append({"major": major, "minor": minor, "op": op,
                           "value": int(kv.get(n, 0))})
    data["blkio"] = {"ioServiceBytesRecursive": served_bytes,
                     "ioServicedRecursive": served}
    return data


def stats(state: State) -> dict:
    cg = state.cgroup()
    if cg is None:
        return {}
    return stats_v2(cg.path) if cg.version == 2 else stats_v1(cg.paths)


def events(root: str, container_id: str, *, only_stats: bool = False,
           interval: float = 5.0, out=None) -> None:
    out = out or sys.stdout
    state = State.load(root, container_id)
    if state.status() == "stopped":
        raise ContainerStateError("container not running")

    def emit(event: dict) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    if only_stats:
        emit({"type": "stats", "id": container_id, "data": stats(state)})
        return
    cg = state.cgroup()
    ooms = cg.oom_kills() if cg is not None else 0
    next_stats = time.monotonic()
    while True:
        running = state.status() != "stopped"
        if cg is not None:  # looked at once more after the end: an OOM kill may be why
            seen = cg.oom_kills()
            if seen > ooms:
                emit({"type": "oom", "id": container_id})
            ooms = seen
        if not running:
            return
        now = time.monotonic()
        if now >= next_stats:
            emit({"type": "stats", "id": container_id, "data": stats(state)})
            next_stats = now + interval
        time.sleep(min(OOM_POLL, max(0.0, next_stats - time.monotonic())))
