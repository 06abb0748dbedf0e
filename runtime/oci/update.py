"""update: change a created, running or paused container's resources, as runc's `update`.

The values come as linux.resources JSON (`--resources FILE`, `-` for stdin) and as runc's
flags, which win over the file; they are written to the container's cgroup with the same
code create uses (v1 files, or v2's, converted as at create).
"""

from __future__ import annotations

import re

from runtime.errors import ContainerStateError, PyrunError
from runtime.oci.state import State

# flag → (section of linux.resources, key, parser)
_BYTES, _INT, _TEXT = "bytes", "int", "text"
FLAGS = {
    "memory": ("memory", "limit", _BYTES),
    "memory-reservation": ("memory", "reservation", _BYTES),
    "memory-swap": ("memory", "swap", _BYTES),
    "kernel-memory": ("memory", "kernel", _BYTES),
    "kernel-memory-tcp": ("memory", "kernelTCP", _BYTES),
    "cpu-shares": ("cpu", "shares", _INT),
    "cpu-period": ("cpu", "period", _INT),
    "cpu-quota": ("cpu", "quota", _INT),
    "cpu-rt-period": ("cpu", "realtimePeriod", _INT),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime", _INT),
    "cpuset-cpus": ("cpu", "cpus", _TEXT),
    "cpuset-mems": ("cpu", "mems", _TEXT),
    "pids-limit": ("pids", "limit", _INT),
    "blkio-weight": ("blockIO", "weight", _INT),
}
UNSUPPORTED = ("l3-cache-schema", "mem-bw-schema")  # Intel RDT: not on this host

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(text: str, flag: str) -> int:
    """runc's (docker's RAMInBytes) sizes: "64M", "1g", "512kb", "-1" for unlimited."""
    if text.strip() == "-1":
        return -1
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*", text, re.I)
    if not m:
        raise PyrunError(f"invalid value for --{flag}: {text!r} (a size such as 64M or 1g)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def resources_from(opts: dict, stdin) -> dict:
    """linux.resources from --resources and the flags."""
    from runtime import jsonfast as json
    res: dict = {}
    src = opts.get("resources")
    if src:
        try:
            if src == "-":
                text = stdin.read()
            else:
                with open(src) as f:
                    text = f.read()
            res = json.loads(text)
        except OSError as e:
            raise PyrunError(f"--resources {src}: {e.strerror}") from None
        except ValueError as e:
            raise PyrunError(f"--resources {src}: not valid JSON: {e}") from None
        if not isinstance(res, dict):
            raise PyrunError(f"--resources {src}: must be a JSON object (linux.resources)")
    for flag in UNSUPPORTED:
        if opts.get(flag):
            raise PyrunError(f"--{flag}: Intel RDT is not supported by pyrun-oci")
    for flag, (section, key, kind) in FLAGS.items():
        value = opts.get(flag)
        if value is None:
            continue
        if kind == _BYTES:
            value = parse_bytes(value, flag)
        elif kind == _INT:
            try:
                value = int(value)
            except ValueError:
                raise PyrunError(f"invalid value for --{flag}: {value!r} (an integer)") \
                    from None
        res.setdefault(section, {})[key] = value
    return res


def update(root: str, container_id: str, resources: dict) -> None:
    state = State.load(root, container_id)
    if state.status() == "stopped":
        raise ContainerStateError(f"cannot update container {container_id}: it is stopped")
    cg = state.cgroup()
    if cg is None:
        raise PyrunError(f"container {container_id} has no cgroup to update")
    try:
        cg.apply(resources)
    except OSError as e:
        raise PyrunError(f"update {container_id}: {e}") from None
