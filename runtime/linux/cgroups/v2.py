"""cgroup v2 (unified hierarchy): one directory, controllers enabled down the tree."""

from __future__ import annotations

import errno
import os
import time

from runtime.linux import cgroups as cg


def v2_values(r: dict) -> dict[str, str]:
    """linux.resources → {cgroup2 file: value}, converting v1-style numbers as runc does. Pure."""
    out: dict[str, str] = {}
    mem = r.get("memory") or {}
    limit = mem.get("limit")
    if limit:
        out["memory.max"] = cg.memory_value(limit)
    if mem.get("reservation"):
        out["memory.low"] = str(mem["reservation"])
    swap = mem.get("swap")
    if swap:
        # v1's memsw is memory+swap; v2's swap.max is swap alone.
        if swap == -1:
            out["memory.swap.max"] = "max"
        elif limit and limit > 0:
            if swap < limit:
                raise ValueError("memory.swap must not be lower than memory.limit")
            out["memory.swap.max"] = str(swap - limit)
    cpu = r.get("cpu") or {}
    if cpu.get("shares"):
        out["cpu.weight"] = str(cg.shares_to_weight(cpu["shares"]))
    quota, period = cpu.get("quota"), cpu.get("period")
    if quota or period:
        q = "max" if quota is None or quota < 0 else str(quota)
        out["cpu.max"] = f"{q} {period or 100000}"
    if cpu.get("cpus"):
        out["cpuset.cpus"] = cpu["cpus"]
    if cpu.get("mems"):
        out["cpuset.mems"] = cpu["mems"]
    pids = r.get("pids") or {}
    if "limit" in pids:
        out["pids.max"] = "max" if pids["limit"] <= 0 else str(pids["limit"])
    blkio = r.get("blockIO") or {}
    if blkio.get("weight"):
        out["io.weight"] = f"default {cg.blkio_to_io_weight(blkio['weight'])}"
    for h in r.get("hugepageLimits") or []:
        out[f"hugetlb.{h['pageSize']}.max"] = str(h["limit"])
    for k, v in (r.get("unified") or {}).items():
        if "/" in k or k.startswith("."):
            raise ValueError(f"linux.resources.unified: bad key {k!r}")
        out[k] = str(v)
    return out


class CgroupV2:
    version = 2

    def __init__(self, rel: str, root: str = cg.CGROUP_ROOT):
        self.rel = rel
        self.root = root
        self.path = os.path.join(root, rel.lstrip("/"))
        self.made: list[str] = []

    def to_dict(self) -> dict:
        return {"version": 2, "rel": self.rel, "root": self.root, "made": self.made}

    @classmethod
    def from_dict(cls, d: dict) -> "CgroupV2":
        self = cls(d["rel"], d["root"])
        self.made = d.get("made", [])
        return self

    def native_view(self) -> dict:
        """As CgroupV1.native_view."""
        return {"procs": os.path.join(self.path, "cgroup.procs"),
                "freezer": os.path.join(self.path, "cgroup.freeze"),
                "made": [self.made] if self.made else []}

    def _enable_controllers(self, values: dict[str, str]) -> None:
        """Enable the controllers the values need in every ancestor's cgroup.subtree_control,
        from the root down to the leaf's parent (the directories exist by now). Not in the
        leaf's own: a cgroup with controllers enabled for children may not hold processes
        (the "no internal processes" rule), and the container's processes go in the leaf."""
        wanted = {k.split(".", 1)[0] for k in values} & {"memory", "cpu", "cpuset", "pids",
                                                         "io", "hugetlb"}
        wanted.add("pids")
        available = set(cg.read(os.path.join(self.root, "cgroup.controllers")).split())
        enable = " ".join(f"+{c}" for c in sorted(wanted & available))
        if not enable:
            return
        cur = self.root
        for part in self.rel.strip("/").split("/"):
            cg.write(os.path.join(cur, "cgroup.subtree_control"), enable)
            cur = os.path.join(cur, part)

    def create(self, resources: dict) -> None:
        try:
            values = v2_values(resources)
        except ValueError as e:
            raise OSError(errno.EINVAL, str(e), None) from None
        self.made = cg.make_dirs(self.root, self.rel)
        self.apply(resources, values)

    def apply(self, resources: dict, values: dict[str, str] | None = None) -> None:
        """Write the values, with the controllers they need enabled first: at create, and
        at an update that asks for a controller the create did not (cpu.max for a container
        made with a memory limit only)."""
        values = v2_values(resources) if values is None else values
        lines = cg.io_device_lines(resources.get("blockIO") or {})
        self._enable_controllers(dict(values, **dict(lines)))
        for name, value in values.items():
            cg.write(os.path.join(self.path, name), value)
        for name, line in lines:  # one line per device, several to one file
            cg.write(os.path.join(self.path, name), line)
        if resources.get("devices") is not None:
            from runtime.linux.cgroups import DEFAULT_DEVICE_RULES, devices_bpf
            rules = list(resources["devices"]) + DEFAULT_DEVICE_RULES
            devices_bpf.attach(self.path, rules)

    def join(self, pid: int = 0, sub: dict[str, str] | None = None) -> None:
        """As CgroupV1.join; v2 has one hierarchy, so sub names no controller."""
        for f in self.procs_files(sub):
            cg.write(f, pid)

    def procs_files(self, sub: dict[str, str] | None = None) -> list[str]:
        from runtime.errors import SetupError
        if not sub:
            return [os.path.join(self.path, "cgroup.procs")]
        if set(sub) != {""}:
            raise SetupError("--cgroup: cgroup v2 has one hierarchy: give a path without "
                             "controller names")
        target = os.path.join(self.path, sub[""])
        if not os.path.isdir(target):
            raise SetupError(f"--cgroup: no sub-cgroup {sub['']} in {self.path}")
        return [os.path.join(target, "cgroup.procs")]

    def pids(self) -> list[int]:
        return cg.procs_under(self.path)

    def _set_frozen(self, frozen: bool) -> None:
        cg.write(os.path.join(self.path, "cgroup.freeze"), "1" if frozen else "0")
        want = f"frozen {1 if frozen else 0}"
        for _ in range(1000):
            with open(os.path.join(self.path, "cgroup.events")) as f:
                if want in f.read().splitlines():
                    return
            time.sleep(0.001)
        raise OSError(errno.EBUSY, f"cgroup did not become {want}", self.path)

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def is_frozen(self) -> bool:
        try:
            return cg.read(os.path.join(self.path, "cgroup.freeze")) == "1"
        except FileNotFoundError:
            return False

    def stats(self) -> dict:
        out = {}
        for k in ("memory.current", "memory.max"):
            try:
                out[k] = cg.read(os.path.join(self.path, k))
            except FileNotFoundError:
                pass
        return out

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer killed in this cgroup."""
        return cg.keyed_counter(os.path.join(self.path, "memory.events"), "oom_kill")

    def remove_leaf(self) -> None:
        """rmdir this cgroup (its processes gone), whoever made it, and the pyrun-named
        parents left empty."""
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            return
        cg.remove_empty_pyrun_parents(os.path.dirname(self.path))

    def destroy(self) -> None:
        if self.made:
            cg.remove_dirs(self.made)
        self.made = []
