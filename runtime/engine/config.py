"""What the engine asks of pyrun-oci, as one pure function: RunSpec (a container's or a
build step's settings, every file already resolved) → config.json. Containers
(engine/containers.py) and the builder's RUN steps both come through here, so a default
(capabilities, masked paths, seccomp, namespaces) is decided once; tests/unit/test_config.py
holds it without root.
"""

from __future__ import annotations

from runtime.record import record

# Docker's default capability set for containers.
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ETC_FILES = ("hosts", "hostname", "resolv.conf")  # bound over the image's (engine/bundle.py)


@record
class RunSpec:
    rootfs: str
    args: list
    env: list = list
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list = list
    hostname: str = "pyrun"
    # "new": a network namespace of its own, made by the runtime (loopback only: --network
    # none); "host": the host's; else the path of a namespace to join (a wired one's)
    network: str = "new"
    cgroups_path: str | None = None
    mounts: list = list             # after the defaults, in order
    terminal: bool = False
    caps: list | None = None        # None: DEFAULT_CAPS
    seccomp: object = "default"     # "default" (pyrun's profile), a profile, None: no filter
    no_new_privileges: bool = False
    privileged: bool = False        # no masked paths, every device, /sys writable
    memory: int = 0                 # bytes; 0: no limit (as the three below)
    pids_limit: int = 0
    nano_cpus: int = 0
    readonly_rootfs: bool = False
    shm_size: int = 0               # bytes of /dev/shm; 0: 64 MiB, as Docker's
    ulimits: list = list            # Docker's {"Name", "Soft", "Hard"}: process.rlimits
    host_namespaces: tuple = ()     # of "pid", "ipc", "uts": the host's, not its own
    joined_namespaces: dict = dict  # "pid"/"ipc" → another container's namespace to join
    shm_source: str | None = None   # a host directory bound at /dev/shm (shareable IPC)
    sysctl: dict = dict             # linux.sysctl: namespaced settings (create checked them)
    devices: list = list            # --device: the record's entries (node numbers included)
    resources: dict = dict          # the other cgroup settings, in the spec's own shape
    oom_score_adj: int = 0          # process.oomScoreAdj; 0: not set
    annotations: dict = dict


def default_mounts(privileged: bool = False, shm_size: int = 0,
                   host_ipc: bool = False, shm_source: str | None = None) -> list[dict]:
    sys_options = ["nosuid", "noexec", "nodev"] + ([] if privileged else ["ro"])
    shm = f"size={shm_size // 1024}k" if shm_size else "size=65536k"
    # --ipc host: the host's shared memory too, as Docker's; a shareable IPC's (its own, or
    # its donor's for --ipc container:NAME): POSIX shared memory lives in /dev/shm, not in
    # the IPC namespace
    if host_ipc or shm_source:
        shm_mount = {"destination": "/dev/shm", "type": "bind",
                     "source": shm_source or "/dev/shm", "options": ["rbind", "rprivate"]}
    else:
        shm_mount = {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                     "options": ["nosuid", "noexec", "nodev", "mode=1777", shm]}
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_options},
        # As Docker's default spec: the container's own cgroup, where runtimes (the JVM, Go's
        # automaxprocs, nginx's worker_processes auto) read their memory and CPU limits.
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": sys_options + ["relatime"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        shm_mount,
    ]


def oci_config(s: RunSpec) -> dict:
    """The config.json for s, with Docker's defaults where s says nothing. Pure."""
    env = list(s.env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    caps = list(DEFAULT_CAPS if s.caps is None else s.caps)
    namespaces = [dict(type=t, **({"path": s.joined_namespaces[t]}
                                  if t in s.joined_namespaces else {}))
                  for t in ("pid", "ipc", "uts", "mount", "cgroup")
                  if t not in s.host_namespaces]
    if s.network != "host":
        namespaces.append({"type": "network", **({} if s.network == "new" else
                                                 {"path": s.network})})
    resources: dict = {"devices": [{"allow": s.privileged, "access": "rwm"}] + [
        {"allow": True, "type": d["Type"], "major": d["Major"], "minor": d["Minor"],
         "access": d["CgroupPermissions"]} for d in s.devices]}
    if s.memory:
        resources["memory"] = {"limit": s.memory}
    if s.pids_limit:
        resources["pids"] = {"limit": s.pids_limit}
    if s.nano_cpus:
        resources["cpu"] = {"quota": s.nano_cpus // 10000, "period": 100000}
    for kind, settings in s.resources.items():
        resources.setdefault(kind, {}).update(settings)
    linux = {"namespaces": namespaces, "cgroupsPath": s.cgroups_path, "resources": resources,
             "maskedPaths": [] if s.privileged else list(MASKED),
             "readonlyPaths": [] if s.privileged else list(READONLY)}
    if s.sysctl:
        linux["sysctl"] = dict(s.sysctl)
    if s.devices:
        linux["devices"] = [{"path": d["PathInContainer"], "type": d["Type"],
                             "major": d["Major"], "minor": d["Minor"],
                             "fileMode": d["FileMode"], "uid": 0, "gid": 0}
                            for d in s.devices]
    if s.seccomp is not None:
        from runtime.engine import seccomp_profile
        profile = seccomp_profile.DEFAULT_PROFILE if s.seccomp == "default" else s.seccomp
        linux["seccomp"] = seccomp_profile.to_oci(profile, caps)
    config = {
        "ociVersion": "1.0.2",
        "process": {"terminal": s.terminal,
                    "user": {"uid": s.uid, "gid": s.gid,
                             "additionalGids": list(s.additional_gids)},
                    "args": list(s.args), "env": env, "cwd": s.cwd or "/",
                    "capabilities": {k: list(caps) for k in ("bounding", "effective",
                                                             "permitted")},
                    "noNewPrivileges": s.no_new_privileges,
                    "rlimits": [{"type": "RLIMIT_" + u["Name"].upper(),
                                 "soft": _rlimit(u["Soft"]), "hard": _rlimit(u["Hard"])}
                                for u in s.ulimits]},
        "root": {"path": s.rootfs, "readonly": s.readonly_rootfs},
        "mounts": default_mounts(s.privileged, s.shm_size, "ipc" in s.host_namespaces,
                                 s.shm_source) + list(s.mounts),
        "linux": linux,
    }
    if s.oom_score_adj:
        config["process"]["oomScoreAdj"] = s.oom_score_adj
    if "uts" not in s.host_namespaces:  # the host's own name is not the container's to set
        config["hostname"] = s.hostname
    if s.annotations:
        config["annotations"] = dict(s.annotations)
    return config


def _rlimit(value: int) -> int:
    return 2 ** 64 - 1 if value == -1 else value  # -1: RLIM_INFINITY, as the spec's uint64


def etc_mounts(directory: str, readonly: bool = False) -> list[dict]:
    """The /etc files a Bundle writes in directory, bound over the image's."""
    return [{"destination": f"/etc/{f}", "type": "bind", "source": f"{directory}/{f}",
             "options": ["rbind", "rprivate"] + (["ro"] if readonly else [])}
            for f in ETC_FILES]


def hosts_file(hostname: str, ip: str = "", extra_hosts=(), linked=()) -> str:
    """/etc/hosts: localhost, the process's own address under its hostname, --add-host's
    "host:ip" entries, and --link's (ip, "alias id name") ones."""
    text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    for addr, names in linked:
        text += f"{addr}\t{names}\n"
    if ip:
        text += f"{ip}\t{hostname}\n"
    for entry in extra_hosts:
        host, _, addr = entry.partition(":")
        text += f"{addr}\t{host}\n"
    return text


def resolv_file(host: str, network_mode: str, dns=(), embedded: bool = False) -> str:
    """/etc/resolv.conf from the host's (its text): in a network namespace of its own, the
    host's loopback resolvers are unreachable and go (8.8.8.8 if none is left, as Docker);
    --dns replaces the nameservers; on a user-defined network (embedded) the one nameserver
    is the resolver at 127.0.0.11 (runtime/net/dns.py), which forwards the rest."""
    own_netns = network_mode != "host"
    lines = [line for line in host.splitlines()
             if not (line.startswith("nameserver") and own_netns and line.split()[1:2] and
                     line.split()[1].startswith("127."))]
    if own_netns and not any(line.startswith("nameserver") for line in lines):
        lines.append("nameserver 8.8.8.8")
    if own_netns and embedded:
        lines = [line for line in lines if line.startswith("search")]
        lines += ["nameserver 127.0.0.11", "options ndots:0"]
    elif dns:
        lines = [line for line in lines if not line.startswith("nameserver")]
        lines += [f"nameserver {d}" for d in dns]
    return "".join(line + "\n" for line in lines)


def from_record(c, network: str, ids: tuple[int, int, list[int]],
                init: str | None = None, joined: dict | None = None,
                shm: str | None = None) -> RunSpec:
    """A container's RunSpec from its record (engine/containers.py's Container): network as
    RunSpec's ("new", "host" or a namespace's path), the image's user already resolved
    (ids), its files under c.dir, init the host path of pyrun-init when --init asked for it,
    joined the "pid"/"ipc" namespaces (paths) of other containers it joins (--pid/--ipc
    container:NAME), shm a host directory to bind at /dev/shm (a shareable IPC's, its own
    or its donor's). Pure."""
    cfg, hc, container_dir = c.config, c.host, c.dir
    mounts = etc_mounts(container_dir)
    for b in hc.binds:
        mounts.append({"destination": b["Destination"], "type": "bind", "source": b["Source"],
                       "options": ["rbind", "rprivate"] + ([] if b["RW"] else ["ro"])})
    for t in hc.tmpfs:  # Docker's options for a tmpfs, then the user's
        mounts.append({"destination": t["Destination"], "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec"] + t["Options"]})
    args = c.command
    if init:
        mounts.append({"destination": "/sbin/pyrun-init", "type": "bind", "source": init,
                       "options": ["rbind", "ro"]})
        args = ["/sbin/pyrun-init", "--"] + args
    uid, gid, extra = ids
    return RunSpec(
        rootfs=f"{container_dir}/rootfs", args=args, env=cfg.env, cwd=cfg.working_dir,
        uid=uid, gid=gid, additional_gids=extra, hostname=cfg.hostname, network=network,
        cgroups_path=f"/pyrun/{c.id}", mounts=mounts, terminal=cfg.tty, caps=hc.capabilities,
        seccomp=None if c.seccomp == "unconfined" else c.seccomp,
        no_new_privileges=c.no_new_privileges, privileged=hc.privileged,
        memory=hc.memory or 0, pids_limit=hc.pids_limit or 0, nano_cpus=hc.nano_cpus or 0,
        readonly_rootfs=hc.readonly_rootfs, shm_size=hc.shm_size or 0,
        ulimits=list(hc.ulimits),
        host_namespaces=tuple(ns for ns, mode in (("pid", hc.pid_mode), ("ipc", hc.ipc_mode),
                                                  ("uts", hc.uts_mode)) if mode == "host"),
        joined_namespaces=dict(joined or {}), shm_source=shm,
        sysctl=dict(hc.sysctls), devices=list(hc.devices), resources=_resources(hc),
        oom_score_adj=hc.oom_score_adj)


def _resources(hc) -> dict:
    """The record's cgroup flags beyond -m, --cpus and --pids-limit, as linux.resources."""
    out: dict = {}
    mem = {"swap": hc.memory_swap, "reservation": hc.memory_reservation,
           "disableOOMKiller": hc.oom_kill_disable}
    cpu = {"shares": hc.cpu_shares, "quota": hc.cpu_quota, "period": hc.cpu_period,
           "cpus": hc.cpuset_cpus, "mems": hc.cpuset_mems}
    blkio = {"weight": hc.blkio_weight, "weightDevice": [
        {"major": d["Major"], "minor": d["Minor"], "weight": d["Weight"]}
        for d in hc.blkio_weight_device]}
    for key, entries in (("throttleReadBpsDevice", hc.blkio_device_read_bps),
                         ("throttleWriteBpsDevice", hc.blkio_device_write_bps),
                         ("throttleReadIOPSDevice", hc.blkio_device_read_iops),
                         ("throttleWriteIOPSDevice", hc.blkio_device_write_iops)):
        blkio[key] = [{"major": d["Major"], "minor": d["Minor"], "rate": d["Rate"]}
                      for d in entries]
    for kind, settings in (("memory", mem), ("cpu", cpu), ("blockIO", blkio)):
        given = {k: v for k, v in settings.items() if v}
        if given:
            out[kind] = given
    return out
