"""create: a container's record, from an image and what the user asked for (CreateOptions,
filled by the CLI's flags or the API's JSON alike); validated whole before anything is
written, and written whole or not at all. Nothing is mounted or wired until a start."""

from __future__ import annotations

import os

from runtime.engine import journal, model
from runtime.engine.containers import (MAKING, PENDING, SPARE, Container, InvalidSpec,
                                       NameConflict, cap_name, check_cpus, check_name, check_signal,
                                       delete_tree, find, generate_name,
                                       merge_healthcheck, padded_record, parse_log_opts,
                                       parse_block_device, parse_device, parse_link,
                                       parse_sysctls, parse_ulimit,
                                       parse_publish, parse_restart, parse_security_opts,
                                       release_name, reserve_name, root_dir, write_file)
from runtime.image.store import Store
from runtime.record import record
from runtime.timestamps import rfc3339


@record
class CreateOptions:
    """Docker's create/run options, by their flag names (defaults: Docker's)."""
    name: str | None = None
    command: tuple = tuple  # the image's CMD when empty
    entrypoint: list | None = None  # None: the image's; []: none
    env: tuple = tuple
    publish: tuple = tuple  # -p specs: [IP:][HOST:]CONTAINER[/PROTO]
    publish_all: bool = False
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    network: str = "bridge"
    network_aliases: tuple = tuple
    ip: str | None = None
    auto_remove: bool = False
    memory: int | None = None  # bytes
    pids_limit: int | None = None
    labels: dict = dict
    interactive: bool = False
    console_size: tuple | None = None  # (height, width): the client's terminal, for -t
    shm_size: int | None = None  # bytes
    group_add: tuple = tuple     # --group-add: names (the image's /etc/group) or gids
    ulimits: tuple = tuple       # --ulimit NAME=SOFT[:HARD]
    pid: str = ""                # --pid host|container:NAME
    ipc: str = ""                # --ipc host|shareable|container:NAME (private: the default)
    blkio_weight_device: tuple = tuple  # PATH:WEIGHT
    device_read_bps: tuple = tuple      # PATH:RATE[kb|mb|gb]
    device_write_bps: tuple = tuple
    device_read_iops: tuple = tuple     # PATH:RATE
    device_write_iops: tuple = tuple
    uts: str = ""                # --uts host
    userns: str = ""             # --userns host: what every container has (no remap here)
    sysctls: tuple = tuple       # --sysctl NAME=VALUE
    devices: tuple = tuple       # --device HOST[:CONTAINER][:PERMISSIONS]
    memory_swap: int | None = None      # bytes, -1: unlimited
    memory_reservation: int | None = None
    oom_kill_disable: bool = False
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    blkio_weight: int | None = None
    oom_score_adj: int | None = None  # -1000..1000: the OOM killer's preference
    stdin_once: bool = False  # the first attached client's end of input is the container's
    tty: bool = False
    read_only: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    cpus: float | None = None
    volumes: tuple = tuple  # -v specs
    mounts: tuple = tuple  # --mount specs
    volumes_from: tuple = tuple  # --volumes-from CONTAINER[:ro|rw]
    links: tuple = tuple         # --link NAME[:ALIAS] (legacy; the default bridge's)
    tmpfs: tuple = tuple  # --tmpfs specs
    cap_add: tuple = tuple
    cap_drop: tuple = tuple
    log_driver: str | None = None
    log_opts: tuple = tuple
    health_cmd: str | None = None
    health_interval: str | None = None  # durations as Go writes them (30s)
    health_timeout: str | None = None
    health_retries: int | None = None
    health_start_period: str | None = None
    no_healthcheck: bool = False
    privileged: bool = False
    security_opt: tuple = tuple
    add_hosts: tuple = tuple
    dns: tuple = tuple
    restart: str = "no"  # no, on-failure[:N], always, unless-stopped
    init: bool = False


def _block_device_flags(o: CreateOptions):
    return (("blkio_weight_device", "--blkio-weight-device", o.blkio_weight_device),
            ("blkio_device_read_bps", "--device-read-bps", o.device_read_bps),
            ("blkio_device_write_bps", "--device-write-bps", o.device_write_bps),
            ("blkio_device_read_iops", "--device-read-iops", o.device_read_iops),
            ("blkio_device_write_iops", "--device-write-iops", o.device_write_iops))


def _shared_mode(store: Store, kind: str, mode: str) -> str:
    """--pid/--ipc as the record keeps them: "container:<the donor's id>" for
    container:NAME (a rename does not lose it), "host", "shareable" (--ipc: others may join
    it, as Docker's), else "" (its own, private)."""
    ref = model.container_ref(mode)
    if ref is not None:
        if not ref:
            raise InvalidSpec(f"invalid --{kind} {mode!r}: container:<name|id>")
        return f"container:{find(store, ref).id}"  # NoSuchContainer: the API's 404
    return mode if mode in ("host", "shareable") else ""


def _swap(o: CreateOptions) -> int:
    """--memory-swap as given; without it, Docker's default for -m: as much swap again
    (memory plus swap twice the limit), so that a limited container cannot fill the host's
    swap. Where the kernel cannot limit swap, none is set (Docker's "Memory limited
    without swap")."""
    if o.memory_swap:
        return o.memory_swap
    from runtime.linux import cgroups
    if o.memory and cgroups.swap_limit_supported():
        return 2 * o.memory
    return 0


def _check_resources(o: CreateOptions) -> None:
    """Docker's rules for the cgroup flags, in its words where it has them."""
    if o.memory_swap not in (None, 0, -1):
        if not o.memory:
            raise InvalidSpec("You should always set the Memory limit when using "
                              "Memoryswap limit")
        if o.memory_swap < o.memory:
            raise InvalidSpec("Minimum memoryswap limit should be larger than memory "
                              "limit, see usage")
    if o.memory_reservation and o.memory and o.memory_reservation > o.memory:
        raise InvalidSpec("Minimum memory limit can not be less than memory reservation "
                          "limit, see usage")
    if o.oom_kill_disable and not o.memory:
        raise InvalidSpec("--oom-kill-disable needs a memory limit (-m): without one "
                          "the host itself could run out")
    if o.cpus and (o.cpu_quota or o.cpu_period):
        raise InvalidSpec("Conflicting options: Nano CPUs and CPU Period cannot both be "
                          "set")
    if o.cpu_period and not 1000 <= o.cpu_period <= 1000000:
        raise InvalidSpec("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                          "than 1s (i.e. 1000000)")
    if o.cpu_quota and o.cpu_quota < 1000:
        raise InvalidSpec("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if o.oom_score_adj is not None and not -1000 <= o.oom_score_adj <= 1000:
        raise InvalidSpec(f"Invalid value {o.oom_score_adj}, range for oom score adj is "
                          "[-1000, 1000]")
    if o.blkio_weight and not 10 <= o.blkio_weight <= 1000:
        raise InvalidSpec("Range of blkio weight is from 10 to 1000")
    if o.cpu_shares is not None and o.cpu_shares < 0:
        raise InvalidSpec("invalid --cpu-shares: it must not be negative")
    for flag, value in (("--cpuset-cpus", o.cpuset_cpus), ("--cpuset-mems", o.cpuset_mems)):
        if value and not all(part and all(x.isdigit() for x in part.split("-", 1))
                             for part in value.split(",")):
            raise InvalidSpec(f"Invalid value {value} for {flag}")


def _volumes_from(store: Store, specs, taken: set) -> list[dict]:
    """--volumes-from CONTAINER[:ro|rw]: that container's volumes and bind mounts at the
    same places (the same volumes, anonymous ones too), each in its own mode unless one is
    given, as Docker's; what this container's own -v, --mount or --tmpfs puts at a place
    wins there. Its tmpfs mounts are its own."""
    out = []
    for spec in specs:
        ref, _, mode = spec.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidSpec(f"invalid mode for volumes-from: {mode}")
        for m in find(store, ref).host.binds:  # NoSuchContainer: the API's 404
            if m["Destination"] in taken:
                continue
            taken.add(m["Destination"])
            out.append(dict(m, RW=mode == "rw") if mode else dict(m))
    return out


def create(store: Store, image_ref: str, opts: CreateOptions | None = None) -> Container:
    """Validate everything, then write the record; nothing is mounted or wired yet."""
    o = opts or CreateOptions()
    # What needs no image first, as Docker's daemon checks the settings before it looks
    # the image up (and its CLI before it pulls one): a bad flag is one line, not a pull.
    if o.name is not None:
        check_name(o.name)
    from runtime.engine import networking
    donor = networking.donor_ref(o.network, o)
    if donor is not None:  # another's namespace: no endpoint of its own
        network = f"container:{find(store, donor).id}"  # NoSuchContainer: the API's 404
        settings = model.NetworkSettings()
    else:
        settings = networking.requested(o.network, o.network_aliases, o.ip)
        network = next(iter(settings.networks))  # its name, if an id was given
    ports = []
    for spec in o.publish:
        ports += parse_publish(spec)
    check_cpus(o.cpus)
    if o.stop_signal is not None:
        check_signal(o.stop_signal)
    policy = parse_restart(o.restart)
    log_config = parse_log_opts(o.log_driver, o.log_opts)
    if policy["Name"] != "no" and o.auto_remove:
        raise InvalidSpec("Conflicting options: --restart and --rm")
    parsed = []
    if o.volumes or o.mounts or o.tmpfs:  # imported only then: the start path
        # (test_start_budget)
        from runtime.engine import volumes as volmod
        parsed = [volmod.parse_v(store, v) for v in o.volumes] + \
            [volmod.parse_mount(store, m) for m in o.mounts] + \
            [volmod.parse_tmpfs(t) for t in o.tmpfs]
    binds = [m for m in parsed if m["Type"] != "tmpfs"]
    tmpfs_mounts = [m for m in parsed if m["Type"] == "tmpfs"]
    binds += _volumes_from(store, o.volumes_from, {m["Destination"] for m in parsed})
    security = parse_security_opts(o.security_opt)
    from runtime.engine.config import DEFAULT_CAPS
    from runtime.linux.names import CAPABILITY_NAMES
    caps = list(CAPABILITY_NAMES) if o.privileged else list(DEFAULT_CAPS)
    for cap in o.cap_drop:  # drops first: "--cap-drop ALL --cap-add X" leaves X, as Docker
        full = cap_name(cap)
        caps = [] if full == "ALL" else [c for c in caps if c != full]
    for cap in o.cap_add:
        full = cap_name(cap)
        caps = list(CAPABILITY_NAMES) if full == "ALL" else caps + [full]
    # Nobody can give what they do not have: keep to the engine's own bounding set (this
    # host's root lacks CAP_SYS_RESOURCE, for one).
    from runtime.linux.capabilities import bounding_mask
    have = bounding_mask()
    caps = [cap for cap in caps if have >> CAPABILITY_NAMES.index(cap) & 1]
    hosts = []
    for h in o.add_hosts:
        host, sep, ip = h.partition(":")
        if not sep or not host or not ip:
            raise InvalidSpec(f"invalid --add-host {h!r}: use HOST:IP")
        hosts.append((host, ip))
    for flag, mode, allowed in (("--pid", o.pid, ("", "host")),
                                ("--ipc", o.ipc, ("", "host", "private", "shareable")),
                                ("--uts", o.uts, ("", "host"))):
        if mode not in allowed and not (flag != "--uts" and
                                        model.container_ref(mode) is not None):
            raise InvalidSpec(f"invalid {flag} {mode!r}: pyrun has "
                              f"{' and '.join(repr(a) for a in allowed if a)} and "
                              "'container:NAME'")
    if o.userns not in ("", "host"):  # Docker's words, as its CLI checks the flag
        raise InvalidSpec("--userns: invalid USER mode")
    pid_mode, ipc_mode = _shared_mode(store, "pid", o.pid), _shared_mode(store, "ipc", o.ipc)
    _check_resources(o)
    if o.shm_size is not None and o.shm_size <= 0:
        raise InvalidSpec("invalid shm size: it must be greater than 0")
    ulimits = [parse_ulimit(u) for u in o.ulimits]
    sysctls = parse_sysctls(o.sysctls, network, o.ipc)
    devices = [n for d in o.devices for n in parse_device(d)]
    block_devices = {field: [parse_block_device(flag, spec) for spec in specs]
                     for field, flag, specs in _block_device_flags(o)}
    links = [parse_link(store, spec) for spec in o.links]  # (target, alias), checked now
    swap = _swap(o)
    image = store.resolve(image_ref)  # ImageNotFound: the CLI pulls it, the API says 404
    cfg = image.config.get("config", {})
    if o.publish_all:
        for p in (cfg.get("ExposedPorts") or {}):
            port, _, proto = p.partition("/")
            ports.append(model.Port("0.0.0.0", 0, int(port), proto or "tcp"))
    if ports and network in networking.NO_WIRING:
        raise InvalidSpec(f"published ports need a bridge network (not {network})")
    healthcheck = merge_healthcheck(cfg.get("Healthcheck"), o.health_cmd, o.health_interval,
                                    o.health_timeout, o.health_retries, o.health_start_period,
                                    o.no_healthcheck)
    ep = list(o.entrypoint) if o.entrypoint is not None else list(cfg.get("Entrypoint") or [])
    cmd = list(o.command) if o.command else ([] if o.entrypoint is not None else
                                          list(cfg.get("Cmd") or []))
    args = ep + cmd
    if not args:
        raise InvalidSpec("No command specified")
    cid = os.urandom(32).hex()
    config = model.Config(
        env=list(cfg.get("Env") or []) + list(o.env), cmd=cmd, entrypoint=ep,
        working_dir=o.workdir or cfg.get("WorkingDir") or "/",
        user=o.user if o.user is not None else cfg.get("User", ""),
        hostname=o.hostname or cid[:12],
        labels=dict(o.labels or {}), tty=o.tty, open_stdin=o.interactive,
        stdin_once=o.interactive and o.stdin_once,
        stop_signal=o.stop_signal or cfg.get("StopSignal") or "SIGTERM",
        stop_timeout=10 if o.stop_timeout is None else o.stop_timeout,
        exposed_ports=cfg.get("ExposedPorts") or {}, healthcheck=healthcheck)
    host = model.HostConfig(
        network_mode=network, ports=ports, auto_remove=o.auto_remove, memory=o.memory or 0,
        pids_limit=o.pids_limit or 0, nano_cpus=int((o.cpus or 0) * 1e9),
        readonly_rootfs=o.read_only,
        binds=binds, tmpfs=tmpfs_mounts, log_config=log_config, cap_add=list(o.cap_add),
        cap_drop=list(o.cap_drop), capabilities=sorted(set(caps)), privileged=o.privileged,
        security_opt=list(o.security_opt), extra_hosts=[f"{h}:{i}" for h, i in hosts],
        dns=list(o.dns), restart_policy=policy, init=o.init,
        console_size=list(o.console_size) if o.tty and o.console_size and
        all(o.console_size) else None, shm_size=o.shm_size or 0, group_add=list(o.group_add),
        ulimits=ulimits, pid_mode=pid_mode,
        ipc_mode=ipc_mode, uts_mode=o.uts, userns_mode=o.userns,
        sysctls=sysctls, devices=devices, memory_swap=swap,
        memory_reservation=o.memory_reservation or 0, oom_kill_disable=o.oom_kill_disable,
        cpu_shares=o.cpu_shares or 0, cpu_quota=o.cpu_quota or 0,
        cpu_period=o.cpu_period or 0, cpuset_cpus=o.cpuset_cpus or "",
        cpuset_mems=o.cpuset_mems or "", blkio_weight=o.blkio_weight or 0,
        volumes_from=list(o.volumes_from),
        **block_devices,
        oom_score_adj=o.oom_score_adj or 0)
    # The record appears whole or not at all: it is made in a directory of its own, with
    # its creator's identity, and renamed into place. The creator counts as the monitor
    # until one takes over, so a command killed at any moment leaves something refresh()
    # recognises: a pending or unfinished directory whose creator is dead, or a container
    # whose monitor died.
    from runtime.oci.state import own_identity
    pid, start = own_identity()
    c = Container(store, id=cid, name=o.name or "", created=rfc3339(), image=image.id,
                  image_ref=image_ref, path=args[0], args=args[1:], config=config, host=host,
                  net=settings, state=model.State(monitor_pid=pid, monitor_start=start),
                  seccomp=("unconfined" if o.privileged or security.get("unconfined") else
                           security.get("profile", "default")),
                  no_new_privileges=security.get("no_new_privileges", False))
    os.makedirs(root_dir(store), 0o700, exist_ok=True)
    making = os.path.join(root_dir(store), MAKING + cid)
    pending = os.path.join(root_dir(store), f"{PENDING}{pid}-{start}-{cid}")
    os.mkdir(pending, 0o700)
    try:
        write_file(os.path.join(pending, "creator"), f"{pid} {start}")
        os.rename(pending, making)  # before the name: a reservation's owner dir must exist
    except BaseException:
        delete_tree(pending)
        raise
    try:
        if o.name is None:
            c.name = generate_name(store, cid)
        else:
            owner = reserve_name(store, o.name, cid)
            if owner is not None:
                raise NameConflict(f'Conflict. The container name "/{o.name}" is already in '
                                     f'use by container "{owner}". You have to remove (or '
                                     "rename) that container to be able to reuse that name.")
        c.host.links = [f"/{target}:/{c.name}/{alias}" for target, alias in links]
        record = padded_record(c.to_json())
        for filename in ("container.json", SPARE):
            with open(os.path.join(making, filename), "wb") as f:
                f.write(record)
        os.rename(making, c.dir)
        journal.record(c, "create")
    except BaseException:
        if c.name:
            release_name(store, c.name, cid)
        delete_tree(making)
        raise
    return c


