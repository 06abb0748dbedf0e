"""cgroup v1: one directory per hierarchy (cpu, memory, pids, ... and named ones)."""

from __future__ import annotations

import errno
import os
import time

from runtime.linux import cgroups as cg

# Controllers a container's limits live in; other hierarchies (named ones such as
# name=systemd, net_cls, perf_event) still get a directory so the processes are tracked there.
KNOWN = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
         "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")


def hierarchies(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
    """Controller (or "name=x", or "" for a cgroup2 mount) → mount point, from mountinfo."""
    out: dict[str, str] = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _source, superopts = (right.split() + ["", "", ""])[:3]
            mountpoint = left.split()[4]
            if fstype == "cgroup":
                for opt in superopts.split(","):
                    if opt in KNOWN or opt.startswith("name="):
                        out.setdefault(opt, mountpoint)
            elif fstype == "cgroup2":
                out.setdefault("", mountpoint)
    return out


class CgroupV1:
    version = 1

    def __init__(self, rel: str, root: str = cg.CGROUP_ROOT, mounts: dict[str, str] | None = None):
        self.rel = rel
        self.mounts = mounts if mounts is not None else hierarchies()
        # One directory per distinct mount point (cpu and cpuacct may share one).
        self.paths = {c: os.path.join(m, rel.lstrip("/")) for c, m in self.mounts.items()}
        self.made: list[list[str]] = []

    # -- persistence
    def to_dict(self) -> dict:
        return {"version": 1, "rel": self.rel, "mounts": self.mounts, "made": self.made}

    @classmethod
    def from_dict(cls, d: dict) -> "CgroupV1":
        self = cls(d["rel"], mounts=d["mounts"])
        self.made = d.get("made", [])
        return self

    def native_view(self) -> dict:
        """What the launcher's native verbs need (native/oci_fast.c): the file pids() reads,
        the freezer's state file, and the directories destroy() removes."""
        procs = self._procs_dir()
        freezer = self.paths.get("freezer")
        return {"procs": os.path.join(procs, "cgroup.procs"),
                "freezer": freezer and os.path.join(freezer, "freezer.state"),
                "made": [m for m in self.made if m]}

    def _unique_dirs(self) -> list[str]:
        return list(dict.fromkeys(self.paths.values()))

    # -- lifecycle
    def create(self, resources: dict) -> None:
        done = set()
        for controller, mount in self.mounts.items():
            if mount in done:
                continue
            done.add(mount)
            made = cg.make_dirs(mount, self.rel)
            self.made.append(made)
            if controller == "cpuset" or "cpuset" in self._controllers_at(mount):
                self._fill_cpuset(mount, self.rel)
        self.apply(resources)

    def _controllers_at(self, mount: str) -> list[str]:
        return [c for c, m in self.mounts.items() if m == mount]

    @staticmethod
    def _fill_cpuset(mount: str, rel: str) -> None:
        """A new v1 cpuset starts with no cpus and no mems, and no process may join it then
        (ENOSPC): copy each empty one's from its parent, outermost first, along the whole
        path, not only the directories this container made: a parent that a concurrent
        create has just made (/pyrun) may not be filled yet, nor one that someone else left
        empty (a pod's)."""
        d = mount
        for part in [p for p in rel.split("/") if p]:
            parent, d = d, os.path.join(d, part)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not cg.read(os.path.join(d, f)):
                    cg.write(os.path.join(d, f), cg.read(os.path.join(parent, f)))

    def apply(self, r: dict) -> None:
        """Write linux.resources. The device rules are exactly the configured ones, then
        the defaults every container gets (DEFAULT_DEVICE_RULES): a node listed in
        linux.devices is made in /dev but is not thereby allowed, as in runc."""
        p = self.paths
        if r.get("unified"):
            raise OSError(errno.EINVAL, "linux.resources.unified: needs cgroup v2, and this "
                          "host has v1 hierarchies", None)
        mem = r.get("memory") or {}
        if mem and "memory" in p:
            self._memory(p["memory"], mem)
        cpu = r.get("cpu") or {}
        if cpu:
            if "cpu" in p:
                if cpu.get("shares"):
                    cg.write(f"{p['cpu']}/cpu.shares", cpu["shares"])
                if cpu.get("period"):
                    cg.write(f"{p['cpu']}/cpu.cfs_period_us", cpu["period"])
                if cpu.get("quota") is not None and cpu.get("quota") != 0:
                    cg.write(f"{p['cpu']}/cpu.cfs_quota_us", cpu["quota"])
                if cpu.get("realtimePeriod"):
                    cg.write(f"{p['cpu']}/cpu.rt_period_us", cpu["realtimePeriod"])
                if cpu.get("realtimeRuntime"):
                    cg.write(f"{p['cpu']}/cpu.rt_runtime_us", cpu["realtimeRuntime"])
            if "cpuset" in p:
                if cpu.get("cpus"):
                    cg.write(f"{p['cpuset']}/cpuset.cpus", cpu["cpus"])
                if cpu.get("mems"):
                    cg.write(f"{p['cpuset']}/cpuset.mems", cpu["mems"])
        pids = r.get("pids") or {}
        if "limit" in pids and "pids" in p:
            limit = pids["limit"]
            cg.write(f"{p['pids']}/pids.max", "max" if limit <= 0 else limit)
        blkio = r.get("blockIO") or {}
        if blkio.get("weight") and "blkio" in p:
            self._first_existing(p["blkio"], ("blkio.weight", "blkio.bfq.weight"),
                                 blkio["weight"])
        if "blkio" in p:
            for name, line in cg.blkio_device_lines(blkio):
                self._first_existing(p["blkio"], (f"blkio.{name}", f"blkio.bfq.{name}")
                                     if name.startswith("weight") else (f"blkio.{name}",),
                                     line)
        if "devices" in p and r.get("devices") is not None:
            self._devices(p["devices"], r["devices"])
        for h in r.get("hugepageLimits") or []:
            if "hugetlb" in p:
                cg.write(f"{p['hugetlb']}/hugetlb.{h['pageSize']}.limit_in_bytes", h["limit"])
        net = r.get("network") or {}
        if net.get("classID") is not None and "net_cls" in p:
            cg.write(f"{p['net_cls']}/net_cls.classid", net["classID"])

    @staticmethod
    def _first_existing(d: str, names, value) -> None:
        for n in names:
            if os.path.exists(os.path.join(d, n)):
                cg.write(os.path.join(d, n), value)
                return
        raise OSError(errno.ENOENT, f"{d}: none of {', '.join(names)} exists on this host", d)

    @staticmethod
    def _memory(d: str, mem: dict) -> None:
        limit, swap = mem.get("limit"), mem.get("swap")
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        if swap is not None and swap != 0 and not os.path.exists(memsw):
            if swap != limit and swap != -1:
                raise OSError(errno.ENOTSUP, "memory.swap: this host's kernel has no swap "
                              "accounting (memory.memsw.limit_in_bytes is missing)", memsw)
            swap = None
        # memsw must stay >= limit at every moment, so the order depends on the direction.
        writes = []
        if limit is not None and limit != 0:
            writes.append(("memory.limit_in_bytes", limit))
        if swap is not None and swap != 0:
            writes.append(("memory.memsw.limit_in_bytes", swap))
        try:
            for name, value in writes:
                cg.write(os.path.join(d, name), value)
        except OSError as e:
            if e.errno != errno.EINVAL or len(writes) < 2:
                raise
            for name, value in reversed(writes):
                cg.write(os.path.join(d, name), value)
        if mem.get("reservation"):
            cg.write(os.path.join(d, "memory.soft_limit_in_bytes"), mem["reservation"])
        if mem.get("swappiness") is not None and 0 <= mem["swappiness"] <= 100:
            cg.write(os.path.join(d, "memory.swappiness"), mem["swappiness"])
        if mem.get("disableOOMKiller"):
            cg.write(os.path.join(d, "memory.oom_control"), 1)

    @staticmethod
    def _devices(d: str, rules: list[dict]) -> None:
        rules = list(rules) + cg.DEFAULT_DEVICE_RULES
        try:
            current = cg.read(os.path.join(d, "devices.list")).splitlines()
        except FileNotFoundError:
            current = []
        steps = cg.device_transitions(current, rules)
        if steps is not None:
            # An update of a running container: only what changes, allows first, so that
            # no device it keeps is denied for a moment (runc's emulator does the same).
            for name, line in steps:
                cg.write(os.path.join(d, f"devices.{name}"), line)
            return
        # Start from "nothing allowed", then replay the rules in order, then the defaults.
        cg.write(os.path.join(d, "devices.deny"), "a")
        for rule in rules:
            name = "devices.allow" if rule.get("allow") else "devices.deny"
            line = cg.device_rule(rule)
            if name == "devices.deny" and line == "a *:* rwm":
                line = "a"
            cg.write(os.path.join(d, name), line)

    def join(self, pid: int = 0, sub: dict[str, str] | None = None) -> None:
        """Move pid in; sub (exec --cgroup): {controller or "": a sub-cgroup to join
        instead, in that hierarchy or in all}."""
        for f in self.procs_files(sub):
            cg.write(f, pid)

    def procs_files(self, sub: dict[str, str] | None = None) -> list[str]:
        from runtime.errors import SetupError
        if not sub:
            return [os.path.join(d, "cgroup.procs") for d in self._unique_dirs()]
        unknown = set(sub) - set(self.paths) - {""}
        if unknown:
            raise SetupError(f"--cgroup: no {', '.join(sorted(unknown))} "
                             "hierarchy on this host")
        out = []
        for c, d in self.paths.items():
            rel = sub.get(c, sub.get(""))
            target = os.path.join(d, rel) if rel else d
            if rel and not os.path.isdir(target):
                raise SetupError(f"--cgroup: no sub-cgroup {rel} in {d}")
            out.append(os.path.join(target, "cgroup.procs"))
        return list(dict.fromkeys(out))

    def _procs_dir(self) -> str:
        return self.paths.get("pids") or self.paths.get("memory") or self._unique_dirs()[0]

    def pids(self) -> list[int]:
        return cg.procs_under(self._procs_dir())

    def _freezer(self, state: str) -> None:
        d = self.paths.get("freezer")
        if d is None:
            raise OSError(errno.ENOTSUP, "this host has no freezer cgroup", None)
        cg.write(os.path.join(d, "freezer.state"), state)
        for _ in range(1000):  # FREEZING → FROZEN takes a moment with busy tasks
            if cg.read(os.path.join(d, "freezer.state")) == state:
                return
            time.sleep(0.001)
            cg.write(os.path.join(d, "freezer.state"), state)
        raise OSError(errno.EBUSY, f"freezer did not reach {state}", d)

    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def is_frozen(self) -> bool:
        d = self.paths.get("freezer")
        try:
            return d is not None and cg.read(os.path.join(d, "freezer.state")) != "THAWED"
        except FileNotFoundError:
            return False

    def stats(self) -> dict:
        """A few counters tests and `ps` use."""
        out = {}
        d = self.paths.get("memory")
        if d:
            for k in ("memory.usage_in_bytes", "memory.failcnt", "memory.limit_in_bytes"):
                try:
                    out[k] = int(cg.read(os.path.join(d, k)))
                except (FileNotFoundError, ValueError):
                    pass
        return out

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer killed in this cgroup (v1: kernel 4.13+)."""
        d = self.paths.get("memory")
        return cg.keyed_counter(os.path.join(d, "memory.oom_control"), "oom_kill") if d else 0

    def remove_leaf(self) -> None:
        """rmdir this cgroup in every hierarchy (its processes gone), whoever made it, and
        the pyrun-named parents left empty."""
        for d in self._unique_dirs():
            try:
                os.rmdir(d)
            except FileNotFoundError:
                continue
            cg.remove_empty_pyrun_parents(os.path.dirname(d))

    def destroy(self) -> None:
        for made in self.made:
            if made:
                cg.remove_dirs(made)
        self.made = []
