"""create: a container's record, from an image and what the user asked for (CreateOptions,
filled by the CLI's flags or the API's JSON alike); validated whole before anything is
written, and written whole or not at all. Nothing is mounted or wired until a start."""

from __future__ import annotations

import os

from runtime.engine import journal
from runtime.engine.containers import (MAKING, SPARE, Container, ContainerError, NameConflict,
                                       cap_name, check_cpus, check_name, check_signal,
                                       delete_tree, generate_name,
                                       merge_healthcheck, padded_record, parse_log_opts,
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
    tty: bool = False
    read_only: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    cpus: float | None = None
    volumes: tuple = tuple  # -v specs
    mounts: tuple = tuple  # --mount specs
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


def create(store: Store, image_ref: str, opts: CreateOptions | None = None) -> Container:
    """Validate everything, then write the record; nothing is mounted or wired yet."""
    o = opts or CreateOptions()
    name = o.name
    command = o.command
    entrypoint = o.entrypoint
    env = o.env
    publish = o.publish
    publish_all = o.publish_all
    workdir = o.workdir
    user = o.user
    hostname = o.hostname
    network = o.network
    network_aliases = o.network_aliases
    ip = o.ip
    auto_remove = o.auto_remove
    memory = o.memory
    pids_limit = o.pids_limit
    labels = o.labels
    interactive = o.interactive
    tty = o.tty
    read_only = o.read_only
    stop_signal = o.stop_signal
    stop_timeout = o.stop_timeout
    cpus = o.cpus
    volumes = o.volumes
    mounts = o.mounts
    tmpfs = o.tmpfs
    cap_add = o.cap_add
    cap_drop = o.cap_drop
    log_driver = o.log_driver
    log_opts = o.log_opts
    health_cmd = o.health_cmd
    health_interval = o.health_interval
    health_timeout = o.health_timeout
    health_retries = o.health_retries
    health_start_period = o.health_start_period
    no_healthcheck = o.no_healthcheck
    privileged = o.privileged
    security_opt = o.security_opt
    add_hosts = o.add_hosts
    dns = o.dns
    restart = o.restart
    init = o.init
    image = store.resolve(image_ref)
    cfg = image.config.get("config", {})
    if name is not None:
        check_name(name)
    from runtime.engine import networking
    settings = networking.requested(network, network_aliases, ip)
    network = next(iter(settings["Networks"]))  # its name, if an id was given
    ports = []
    for spec in publish:
        ports += parse_publish(spec)
    if publish_all:
        for p in (cfg.get("ExposedPorts") or {}):
            port, _, proto = p.partition("/")
            ports.append({"host_ip": "0.0.0.0", "host_port": 0, "container_port": int(port),
                          "proto": proto or "tcp"})
    if ports and network in networking.NO_WIRING:
        raise ContainerError(f"published ports need a bridge network (not {network})")
    check_cpus(cpus)
    if stop_signal is not None:
        check_signal(stop_signal)
    policy = parse_restart(restart)
    log_config = parse_log_opts(log_driver, log_opts)
    healthcheck = merge_healthcheck(cfg.get("Healthcheck"), health_cmd, health_interval,
                                    health_timeout, health_retries, health_start_period,
                                    no_healthcheck)
    if policy["Name"] != "no" and auto_remove:
        raise ContainerError("Conflicting options: --restart and --rm")
    parsed = []
    if volumes or mounts or tmpfs:  # imported only then: the start path (test_start_budget)
        from runtime.engine import volumes as volmod
        parsed = [volmod.parse_v(store, v) for v in volumes] + \
            [volmod.parse_mount(store, m) for m in mounts] + \
            [volmod.parse_tmpfs(t) for t in tmpfs]
    binds = [m for m in parsed if m["Type"] != "tmpfs"]
    tmpfs_mounts = [m for m in parsed if m["Type"] == "tmpfs"]
    security = parse_security_opts(security_opt)
    from runtime.engine.config import DEFAULT_CAPS
    from runtime.linux.names import CAPABILITY_NAMES
    caps = list(CAPABILITY_NAMES) if privileged else list(DEFAULT_CAPS)
    for cap in cap_drop:  # drops first: "--cap-drop ALL --cap-add X" leaves X, as Docker
        full = cap_name(cap)
        caps = [] if full == "ALL" else [c for c in caps if c != full]
    for cap in cap_add:
        full = cap_name(cap)
        caps = list(CAPABILITY_NAMES) if full == "ALL" else caps + [full]
    # Nobody can give what they do not have: keep to the engine's own bounding set (this
    # host's root lacks CAP_SYS_RESOURCE, for one).
    from runtime.linux.capabilities import bounding_mask
    have = bounding_mask()
    caps = [cap for cap in caps if have >> CAPABILITY_NAMES.index(cap) & 1]
    hosts = []
    for h in add_hosts:
        host, sep, ip = h.partition(":")
        if not sep or not host or not ip:
            raise ContainerError(f"invalid --add-host {h!r}: use HOST:IP")
        hosts.append((host, ip))
    ep = list(entrypoint) if entrypoint is not None else list(cfg.get("Entrypoint") or [])
    cmd = list(command) if command else ([] if entrypoint is not None else
                                          list(cfg.get("Cmd") or []))
    args = ep + cmd
    if not args:
        raise ContainerError("No command specified")
    cid = os.urandom(32).hex()
    data = {
        "Id": cid, "Name": name, "Created": rfc3339(),
        "Image": image.id, "ImageRef": image_ref, "Path": args[0], "Args": args[1:],
        "Config": {"Env": list(cfg.get("Env") or []) + list(env), "Cmd": cmd,
                   "Entrypoint": ep, "WorkingDir": workdir or cfg.get("WorkingDir") or "/",
                   "User": user if user is not None else cfg.get("User", ""),
                   "Hostname": hostname or cid[:12], "Labels": dict(labels or {}),
                   "Tty": tty, "OpenStdin": interactive,
                   "StopSignal": stop_signal or cfg.get("StopSignal") or "SIGTERM",
                   "StopTimeout": 10 if stop_timeout is None else stop_timeout,
                   "ExposedPorts": cfg.get("ExposedPorts") or {},
                   **({"Healthcheck": healthcheck} if healthcheck else {})},
        "HostConfig": {"NetworkMode": network, "Ports": ports, "AutoRemove": auto_remove,
                       "Memory": memory or 0, "PidsLimit": pids_limit or 0,
                       "NanoCpus": int((cpus or 0) * 1e9), "ReadonlyRootfs": read_only,
                       "Binds": binds, "Tmpfs": tmpfs_mounts, "LogConfig": log_config,
                       "CapAdd": list(cap_add), "CapDrop": list(cap_drop),
                       "Capabilities": sorted(set(caps)), "Privileged": privileged,
                       "SecurityOpt": list(security_opt),
                       "ExtraHosts": [f"{h}:{i}" for h, i in hosts], "Dns": list(dns),
                       "RestartPolicy": policy, "Init": init},
        "State": {"Status": "created", "Pid": 0, "ExitCode": 0, "StartedAt": "",
                  "FinishedAt": "", "MonitorPid": 0, "Error": "", "OOMKilled": False},
        "NetworkSettings": settings,
    }
    # What --privileged and --security-opt make of the container's filter: "default",
    # "unconfined", or a profile read now (the file may change or go before a start).
    data["Seccomp"] = ("unconfined" if privileged or security.get("unconfined") else
                       security.get("profile", "default"))
    data["NoNewPrivileges"] = security.get("no_new_privileges", False)
    # The record appears whole or not at all: it is made in a directory of its own, with
    # its creator's identity, and renamed into place. The creator counts as the monitor
    # until one takes over, so a command killed at any moment leaves something refresh()
    # recognises: an unfinished directory whose creator is dead, or a container whose
    # monitor died.
    from runtime.oci.state import own_identity
    pid, start = own_identity()
    data["State"].update({"MonitorPid": pid, "MonitorStart": start})
    os.makedirs(root_dir(store), 0o700, exist_ok=True)
    c = Container(store, data)
    making = os.path.join(root_dir(store), MAKING + cid)
    os.mkdir(making, 0o700)  # before the name: a reservation's owner dir must exist
    try:
        write_file(os.path.join(making, "creator"), f"{pid} {start}")
        if name is None:
            data["Name"] = generate_name(store, cid)
        else:
            owner = reserve_name(store, name, cid)
            if owner is not None:
                raise NameConflict(f'Conflict. The container name "/{name}" is already in '
                                     f'use by container "{owner}". You have to remove (or '
                                     "rename) that container to be able to reuse that name.")
        record = padded_record(data)
        for filename in ("container.json", SPARE):
            with open(os.path.join(making, filename), "wb") as f:
                f.write(record)
        os.rename(making, c.dir)
        journal.record(c, "create")
    except BaseException:
        if data["Name"]:
            release_name(store, data["Name"], cid)
        delete_tree(making)
        raise
    return c


