"""The verbs that only look: state, list, ps, and the documents spec and features print."""

from __future__ import annotations

import json
import os

from runtime.errors import PyrunError
from runtime.linux.names import CAPABILITY_NAMES, PROPAGATION_FLAGS
from runtime.oci.spec import HOOK_NAMES, NAMESPACE_FLAGS, OCI_VERSION
from runtime.oci.state import State, list_ids


def state_json(root: str, container_id: str) -> str:
    return json.dumps(State.load(root, container_id).runc_view(), indent=2)


def list_containers(root: str, fmt: str = "table", quiet: bool = False) -> str:
    views = []
    for cid in list_ids(root):
        try:
            views.append(State.load(root, cid).runc_view())
        except PyrunError:
            continue
    if quiet:
        return "".join(v["id"] + "\n" for v in views)
    if fmt == "json":
        # runc's containerState, in its order, compact as Go writes it
        keys = ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                "annotations", "owner")
        rows = [{k: v[k] for k in keys if k in v and (k != "annotations" or v[k])}
                for v in views]
        return json.dumps(rows, separators=(",", ":")) + "\n"
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(v["id"], str(v["pid"]), v["status"], v["bundle"], v["created"], v["owner"] or "root")
             for v in views]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n"
                   for r in rows)


def ps(root: str, container_id: str, fmt: str = "table", ps_args=()) -> str:
    """runc's ps: the container's pids as JSON, or ps(1) run with ps_args (default -ef) and
    its lines kept for the container's processes (found by the PID column)."""
    state = State.load(root, container_id)
    cg = state.cgroup()
    pids = sorted(cg.pids()) if cg is not None else ([state.pid] if state.alive() else [])
    if fmt == "json":
        return json.dumps(pids) + "\n"
    import subprocess
    try:
        p = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    except FileNotFoundError:
        raise PyrunError("ps: not found (Debian's procps)") from None
    if p.returncode != 0:
        raise PyrunError(f"ps {' '.join(ps_args)}: {p.stderr.strip()}")
    lines = p.stdout.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise PyrunError(f"ps {' '.join(ps_args)}: no PID column in its output")
    col = header.index("PID")
    wanted = set(pids)
    kept = [line for line in lines[1:]
            if len(line.split()) > col and line.split()[col].isdigit() and
            int(line.split()[col]) in wanted]
    return "\n".join([lines[0]] + kept) + "\n"


DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec(rootless: bool = False) -> dict:
    """The config.json `spec` writes: runc's default, a busybox-style sh in a rootfs dir."""
    caps = list(DEFAULT_CAPS)
    spec = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                             "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            # runc 1.2's, with a cgroup namespace (1.1's has none): a caller that adds one
            # too is no conflict (runtime/oci/spec.py takes the same entry twice). Without
            # it, a user namespace on the VM's systemd host could not mount /proc (EPERM;
            # the cause is not found yet).
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount",
                                                 "cgroup")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": os.getgid(), "size": 1}]
    return spec


def write_spec(bundle: str, rootless: bool = False) -> str:
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise PyrunError(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(rootless), f, indent=2)
        f.write("\n")
    return path


def seccomp_features() -> dict:
    """What linux.seccomp may ask for here: the actions this kernel has, the architectures
    this libseccomp knows, the flags this kernel takes."""
    from runtime.linux import seccomp
    from runtime.linux import syscalls as sc
    from runtime.oci.spec import SECCOMP_ARCHES, SECCOMP_FLAGS, SECCOMP_OPERATORS
    supported = []
    for name in SECCOMP_FLAGS:
        flag = seccomp.FLAGS[name]
        if flag == sc.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV:
            flag |= sc.SECCOMP_FILTER_FLAG_NEW_LISTENER  # only valid with a listener
        if sc.seccomp_flags_supported(flag):
            supported.append(name)
    return {"enabled": True, "actions": seccomp.available_actions(),
            "operators": list(SECCOMP_OPERATORS),
            "archs": [a for a in SECCOMP_ARCHES if seccomp.arch_known(a)],
            "knownFlags": list(SECCOMP_FLAGS), "supportedFlags": supported}


def features() -> dict:
    from runtime.oci.spec import MOUNT_FLAGS, RUNTIME_OPTIONS
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_NAMES),
        "mountOptions": sorted(set(MOUNT_FLAGS) | set(PROPAGATION_FLAGS) | RUNTIME_OPTIONS),
        "linux": {
            "namespaces": sorted(NAMESPACE_FLAGS),
            "capabilities": list(CAPABILITY_NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "seccomp": seccomp_features(),
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "pyrun-oci"},
    }
