"""cgroups v1 and v2 behind one interface, chosen by looking at the host.

    mgr = cgroups.manager(cgroups_path, container_id)   # CgroupV1 or CgroupV2
    mgr.create(resources)      # mkdir + write limits; remembers which dirs it made
    mgr.join(pid)              # move a process in (pid 0: the caller)
    mgr.pids() / freeze() / thaw() / is_frozen() / destroy()
    mgr.to_dict() / manager_from_dict(d)   # persisted in the container's state

A host is "unified" (cgroup2 at /sys/fs/cgroup, v2) or "legacy"/"hybrid" (v1 hierarchies, maybe
a cgroup2 mount beside them that holds few or no controllers). Hybrid hosts are driven as v1,
and the container also gets a directory in the cgroup2 mount so its processes are tracked there.
"""

from __future__ import annotations

import os

from runtime.errors import ConfigError

CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "/pyrun"


def mode(root: str = CGROUP_ROOT) -> str:
    """"unified" (v2 only), "hybrid" (v1 plus a cgroup2 mount) or "legacy" (v1 only)."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return "unified"
    if os.path.exists(os.path.join(root, "unified", "cgroup.controllers")):
        return "hybrid"
    return "legacy"


def swap_limit_supported(root: str = CGROUP_ROOT) -> bool:
    """Can memory plus swap be limited here (v1's memory.memsw.limit_in_bytes, v2's
    memory.swap.max)? Not where the kernel accounts no swap (no CONFIG_MEMCG_SWAP, or
    swapaccount=0). A stat or two: create asks on the start path."""
    if mode(root) == "unified":
        try:
            names = os.listdir(root)
        except OSError:
            return False
        # the file is in every non-root cgroup with the memory controller, or in none
        return any(os.path.exists(os.path.join(root, n, "memory.swap.max")) for n in names)
    memory = os.path.join(root, "memory")
    if not os.path.isdir(memory):  # mounted elsewhere, or beside cpu as "memory,cpu"
        from runtime.linux.cgroups.v1 import hierarchies
        memory = hierarchies().get("memory", memory)
    return os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes"))


def own_cgroup(pid="self") -> dict[str, str]:
    """Controller (or "" for the v2 entry, "name=x" for named ones) → path, from /proc/PID/cgroup."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                out[""] = path
            for c in controllers.split(","):
                out[c] = path
    return out


def resolve_path(cgroups_path: str | None, container_id: str) -> str:
    """The cgroup path a container gets, relative to each hierarchy's root.

    - absent: /pyrun/<id>
    - absolute: as given
    - "slice:prefix:name" (systemd's form, given with --systemd-cgroup): /slice/prefix-name.scope,
      laid out by pyrun itself since it drives cgroupfs directly
    - relative: under the runtime's own cgroup, as runc does
    """
    if not cgroups_path:
        return f"{DEFAULT_PARENT}/{container_id}"
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise ConfigError(f"linux.cgroupsPath: expected slice:prefix:name, got {cgroups_path!r}")
        slice_, prefix, name = parts
        slice_ = slice_ or "system.slice"
        return "/" + "/".join([slice_, f"{prefix}-{name}.scope" if prefix else f"{name}.scope"])
    path = os.path.normpath(cgroups_path)
    if path.startswith("/"):
        if path == "/":
            raise ConfigError("linux.cgroupsPath: the root cgroup cannot hold a container")
        return path
    if path.startswith(".."):
        raise ConfigError(f"linux.cgroupsPath: {cgroups_path!r} leaves its parent")
    base = own_cgroup().get("", "/")
    return os.path.normpath(os.path.join(base, path))


def write(path: str, value) -> None:
    """Write one cgroup file; the error names the file and the value."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as e:
        raise OSError(e.errno, f"open {path}: {e.strerror}", path) from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise OSError(e.errno, f"write {value!r} to {path}: {e.strerror}", path) from None
    finally:
        os.close(fd)


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def make_dirs(root: str, rel: str) -> list[str]:
    """mkdir -p root/rel; returns the directories that were made, outermost first."""
    made = []
    cur = root
    for part in rel.strip("/").split("/"):
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, 0o755)
            made.append(cur)
        except FileExistsError:
            pass
    return made


def procs_under(d: str) -> list[int]:
    """The pids in d's cgroup.procs and in every cgroup beneath it: a container may make
    sub-cgroups of its own (systemd in a container does), and delete must find those too."""
    out: list[int] = []
    for dirpath, _, _ in os.walk(d):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                out.extend(int(x) for x in f.read().split())
        except FileNotFoundError:
            pass
    return out


def remove_subgroups(d: str) -> None:
    """rmdir the (empty) cgroups beneath d, innermost first: a cgroup with children is
    EBUSY to rmdir."""
    for dirpath, _, _ in os.walk(d, topdown=False):
        if dirpath != d:
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass


def remove_dirs(dirs: list[str]) -> None:
    """rmdir what make_dirs made, innermost first, with the sub-cgroups the container made
    in its own; a directory still in use stays. Then the empty pyrun-named ancestors too: a
    parent made by another container (that found it busy when it left) is pyrun's to remove
    once empty."""
    if dirs:
        remove_subgroups(dirs[-1])
    for d in reversed(dirs):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            if d is dirs[-1]:
                raise
            return  # a parent we made is still shared with another container: leave it
    if dirs:
        remove_empty_pyrun_parents(os.path.dirname(dirs[0]))


def remove_empty_pyrun_parents(path: str) -> None:
    while os.path.basename(path).startswith("pyrun"):
        try:
            os.rmdir(path)
        except OSError:
            return  # still in use, or not empty
        path = os.path.dirname(path)


def manager(cgroups_path: str | None, container_id: str, root: str = CGROUP_ROOT):
    rel = resolve_path(cgroups_path, container_id)
    if mode(root) == "unified":
        from runtime.linux.cgroups.v2 import CgroupV2
        return CgroupV2(rel, root)
    from runtime.linux.cgroups.v1 import CgroupV1
    return CgroupV1(rel, root)


def manager_from_dict(d: dict):
    if d["version"] == 2:
        from runtime.linux.cgroups.v2 import CgroupV2
        return CgroupV2.from_dict(d)
    from runtime.linux.cgroups.v1 import CgroupV1
    return CgroupV1.from_dict(d)


# ---- value conversions shared by both versions (pure) -----------------------------------------

def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) → cpu.weight (1..10000), the conversion runc and crun use."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) → io.weight (1..10000)."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


_THROTTLES = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
              ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
              ("throttleReadIOPSDevice", "read_iops_device", "riops"),
              ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def blkio_device_lines(blkio: dict) -> list[tuple[str, str]]:
    """linux.resources.blockIO's per-device entries → [(v1 blkio file suffix, line)]. Pure."""
    out = []
    for d in blkio.get("weightDevice") or []:
        dev = f"{d['major']}:{d['minor']}"
        if d.get("weight"):
            out.append(("weight_device", f"{dev} {d['weight']}"))
        if d.get("leafWeight"):
            out.append(("leaf_weight_device", f"{dev} {d['leafWeight']}"))
    for key, name, _ in _THROTTLES:
        for d in blkio.get(key) or []:
            out.append((f"throttle.{name}", f"{d['major']}:{d['minor']} {d['rate']}"))
    return out


def io_device_lines(blkio: dict) -> list[tuple[str, str]]:
    """The same for cgroup v2 → [(file, line)]: io.weight (converted as runc does) and
    io.max. Pure."""
    out = []
    for d in blkio.get("weightDevice") or []:
        if d.get("weight"):
            out.append(("io.weight", f"{d['major']}:{d['minor']} "
                                     f"{blkio_to_io_weight(d['weight'])}"))
    for key, _, word in _THROTTLES:
        for d in blkio.get(key) or []:
            out.append(("io.max", f"{d['major']}:{d['minor']} {word}={d['rate']}"))
    return out


def device_access(d: dict) -> str:
    """The rule's access letters the kernel knows (r, w, m): others are ignored, as runc
    ignores them ("rwa" is "rw")."""
    return "".join(c for c in "rwm" if c in (d.get("access") or "rwm")) or "rwm"


def device_transitions(current: list[str], rules: list[dict]) -> list[tuple[str, str]] | None:
    """The fewest devices.allow/deny writes ("allow"|"deny", line) that take a v1 cgroup
    from its devices.list (current) to what rules give (deny everything, then the rules in
    order), allows before denies. None where that needs the full rewrite: the cgroup allows
    everything now (a fresh one), or the rules are more than "deny all, then per-device
    allows and denies". Pure."""
    if not current or any(line.startswith("a ") for line in current):
        return None
    if not rules or rules[0].get("allow") or (rules[0].get("type") or "a") != "a":
        return None
    want: dict[str, set[str]] = {}
    for r in rules[1:]:
        key, _, access = device_rule(r).rpartition(" ")
        if key.startswith("a "):
            return None
        if r.get("allow"):
            want.setdefault(key, set()).update(access)
        elif key in want:
            want[key] -= set(access)
    have: dict[str, set[str]] = {}
    for line in current:
        key, _, access = line.rpartition(" ")
        have.setdefault(key, set()).update(access)
    allows, denies = [], []
    for key in sorted(set(want) | set(have)):
        add = want.get(key, set()) - have.get(key, set())
        drop = have.get(key, set()) - want.get(key, set())
        if add:
            allows.append(("allow", f"{key} {''.join(c for c in 'rwm' if c in add)}"))
        if drop:
            denies.append(("deny", f"{key} {''.join(c for c in 'rwm' if c in drop)}"))
    return allows + denies


def device_rule(d: dict) -> str:
    """A linux.resources.devices entry as the v1 devices.allow/deny line: "c 1:3 rwm"."""
    dtype = d.get("type") or "a"
    major = d.get("major")
    minor = d.get("minor")
    access = device_access(d)
    if dtype == "a":
        return "a *:* rwm" if access == "rwm" else f"a *:* {access}"
    ma = "*" if major is None or major == -1 else str(major)
    mi = "*" if minor is None or minor == -1 else str(minor)
    return f"{dtype} {ma}:{mi} {access}"


# Devices every container may use whatever its config says (runc's AllowedDevices): making
# any node (what a node may do is decided when it is opened: the runtime itself makes the
# nodes of linux.devices from inside the cgroup), the ones pyrun creates in /dev, and the
# pty multiplexers.
DEFAULT_DEVICE_RULES = [
    {"allow": True, "type": "c", "major": None, "minor": None, "access": "m"},
    {"allow": True, "type": "b", "major": None, "minor": None, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},    # null
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},    # zero
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},    # full
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},    # random
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},    # urandom
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},    # tty
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},    # ptmx
    {"allow": True, "type": "c", "major": 136, "minor": None, "access": "rwm"},  # pts/*
]


def keyed_counter(path: str, key: str) -> int:
    """A "key value" line of a flat-keyed cgroup file (memory.events, memory.oom_control);
    0 when the file or the key is missing."""
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k == key:
                    return int(v)
    except (OSError, ValueError):
        pass
    return 0


def memory_value(v) -> str:
    return "max" if v is None or v < 0 else str(v)


# ---- warming the migration lock -----------------------------------------------------------------
# Moving a process into a cgroup takes the kernel's cgroup_threadgroup_rwsem for writing. The
# first writer after a quiet period waits for an RCU grace period (runc's spaced start in
# scripts/bench engine against its back-to-back one),
# and writers that follow within a grace period or so of the last do not. A start path must
# move its process once, so pyrun has a thread make harmless moves (its own pid into the
# cgroup it is already in): the first as soon as the command is known, so that the grace
# period passes while the main thread imports and prepares, then one every few ms, so that
# the lock is still warm when the container's process moves, however long the preparing
# took (an engine's network, say). finish_warm_up() stops and joins the thread; call it
# before a fork, or forget_warm_up() in a child forked while it runs (the engine's create
# child, forked early to import while the bundle is prepared). (native/pyrun_launch.c makes
# the first move even before Python starts.)

_warm = None
REWARM_S = 0.005
WARM_MAX_S = 2.0  # a start that takes longer (a pull first) pays the grace period itself


def start_warm_up() -> None:
    global _warm
    import _thread
    stop = _thread.allocate_lock()
    stop.acquire()
    done = _thread.allocate_lock()
    done.acquire()

    def run():
        try:
            path, pid = _own_procs_file(), os.getpid()
            for _ in range(int(WARM_MAX_S / REWARM_S)):  # on its own, it ends in time
                write(path, pid)
                if stop.acquire(timeout=REWARM_S):
                    break
        except (OSError, ValueError, IndexError):
            pass  # only an optimisation
        finally:
            done.release()

    _thread.start_new_thread(run, ())
    _warm = (stop, done)


def forget_warm_up() -> None:
    """In a child forked while the thread ran: the thread is the parent's (finish_warm_up
    here would wait for it for ever)."""
    global _warm
    _warm = None


def finish_warm_up() -> None:
    global _warm
    if _warm is not None:
        stop, done = _warm
        stop.release()
        done.acquire()
        _warm = None


def _own_procs_file() -> str:
    """cgroup.procs of the cgroup we are in, found with as little Python as possible (the
    thread shares the GIL with the imports it is meant to overlap)."""
    with open("/proc/self/cgroup") as f:
        first = f.readline().rstrip("\n").split(":", 2)
    _, controllers, path = first
    if not controllers:  # "0::/path": unified
        return f"{CGROUP_ROOT}{path.rstrip('/')}/cgroup.procs"
    name = controllers.split(",")[0]
    name = name.partition("=")[2] if name.startswith("name=") else name
    return f"{CGROUP_ROOT}/{name}{path.rstrip('/')}/cgroup.procs"
