"""The container record's typed sections: what the user asked for (Config), how the host
runs it (HostConfig), its network attachments (NetworkSettings, one Endpoint per network)
and its state (State, whose moves are methods here and nowhere else).

engine/containers.py's Container holds one of each; its file, container.json, is their
serialized form in the shape of Docker's inspect object (field exit_code is key ExitCode),
so `inspect` (engine/inspect.py) only adds what is read off the host. Pure: no I/O here.

Docker's own nested shapes the record keeps as they are, since nothing reads them by
field but their one user: a mount (engine/volumes.py), the healthcheck (engine/health.py),
the log config and the restart policy (engine/containers.py).
"""

from __future__ import annotations

from runtime.record import record

_WORDS = {"id": "ID", "ip": "IP", "ipam": "IPAM", "oom": "OOM", "uts": "UTS"}


def section(cls):
    """@record, and KEYS (field → JSON key, Docker's CamelCase unless the class gives its
    own) and NESTED (field → (section, "list" | "dict")) for load/dump."""
    cls = record(cls)
    if "KEYS" not in cls.__dict__:
        cls.KEYS = {f: "".join(_WORDS.get(w, w.capitalize()) for w in f.split("_"))
                    for f in cls._fields}
        cls.KEYS.update(cls.__dict__.get("RENAMED", {}))  # where Docker spells it otherwise
    if "NESTED" not in cls.__dict__:
        cls.NESTED = {}
    # load()'s plan, made once: `ls` loads every record (~1,000 sections for 100 containers)
    cls._plan = tuple((f, key, cls.__dict__.get(f), isinstance(cls.__dict__.get(f), type),
                       cls.NESTED.get(f)) for f, key in cls.KEYS.items())
    return cls


_MISSING = object()


def load(cls, d: dict | None):
    """A section from its JSON object; keys it lacks take the field's default (records
    written by an older pyrun), keys it does not know are dropped."""
    obj = object.__new__(cls)
    values = obj.__dict__
    d = d or {}
    for f, key, default, factory, nested in cls._plan:
        v = d.get(key, _MISSING)
        if v is _MISSING:
            v = default() if factory else default
        elif nested is not None and v is not None:
            sub, shape = nested
            v = [load(sub, x) for x in v] if shape == "list" else \
                {k: load(sub, x) for k, x in v.items()}
        values[f] = v
    return obj


def dump(obj) -> dict:
    out = {}
    for f, key in obj.KEYS.items():
        v = getattr(obj, f)
        if f in obj.NESTED and v is not None:
            v = [dump(x) for x in v] if obj.NESTED[f][1] == "list" else \
                {k: dump(x) for k, x in v.items()}
        out[key] = v
    return out


@section
class State:
    """Status is created, running or exited (paused is running and paused); a running
    status is only believed while its monitor (pid and start time) lives."""
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    paused: bool = False
    error: str = ""
    monitor_pid: int = 0          # who supervises it: its creator until a monitor takes over
    monitor_start: int = 0
    stopped_by_user: bool = False  # a user's stop or kill: no restart policy brings it back
    restarting: bool = False      # a user's restart is stopping it: --rm does not remove
    #                               it (Docker's State.Restarting, HasBeenManuallyRestarted)

    # The moves (Container.mark_* saves the record and writes the event after each).
    def monitored_by(self, pid: int, start: int) -> None:
        self.monitor_pid, self.monitor_start = pid, start

    def started(self, pid: int, now: str) -> None:
        self.status, self.pid, self.started_at = "running", pid, now
        self.error, self.oom_killed, self.paused, self.restarting = "", False, False, False

    def exited(self, code: int, now: str, oom_killed: bool = False, error: str = "") -> None:
        self.status, self.exit_code, self.pid, self.paused = "exited", code, 0, False
        self.finished_at, self.oom_killed, self.error = now, oom_killed, error


@section
class Config:
    """What the user asked for (over the image's config): Docker's Config."""
    env: list = list
    cmd: list = list
    entrypoint: list = list
    working_dir: str = "/"
    user: str = ""
    hostname: str = ""
    labels: dict = dict
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10
    exposed_ports: dict = dict
    healthcheck: dict | None = None  # Docker's HealthConfig; engine/health.py reads it


@section
class Port:
    """One published port; host_port 0 until the start picks one (-p CONTAINER, -P)."""
    KEYS = {"host_ip": "host_ip", "host_port": "host_port",
            "container_port": "container_port", "proto": "proto"}
    host_ip: str = "0.0.0.0"
    host_port: int = 0
    container_port: int = 0
    proto: str = "tcp"

    def text(self) -> str:
        return f"{self.host_ip}:{self.host_port}->{self.container_port}/{self.proto}"


def container_ref(mode: str) -> str | None:
    """The NAME (or, in the record, the id) of a namespace mode "container:NAME" (--network,
    --pid, --ipc: join another container's namespace), else None. "container:" alone gives
    "", which the caller refuses in its own flag's words."""
    return mode[len("container:"):] if mode.startswith("container:") else None


@section
class HostConfig:
    """How the host runs it: Docker's HostConfig, with richer types where the record needs
    them (ports as Port, mounts as engine/volumes.py's dicts); inspect gives Docker's."""
    NESTED = {"ports": (Port, "list")}
    # not State's OOMKilled spelling: Docker's HostConfig says Oom
    RENAMED = {"oom_kill_disable": "OomKillDisable", "oom_score_adj": "OomScoreAdj",
               "blkio_device_read_iops": "BlkioDeviceReadIOps",
               "blkio_device_write_iops": "BlkioDeviceWriteIOps"}
    network_mode: str = "bridge"
    ports: list = list
    auto_remove: bool = False
    memory: int = 0
    pids_limit: int = 0
    nano_cpus: int = 0
    readonly_rootfs: bool = False
    binds: list = list             # bind and volume mounts
    tmpfs: list = list
    log_config: dict = dict        # {"Type": "json-file", "Config": {...}}
    cap_add: list = list
    cap_drop: list = list
    capabilities: list | None = None  # the resulting set; None: Docker's default
    privileged: bool = False
    security_opt: list = list
    extra_hosts: list = list       # "host:ip"
    dns: list = list
    restart_policy: dict = dict    # {"Name": ..., "MaximumRetryCount": N}
    init: bool = False
    console_size: list | None = None  # [height, width] of a -t container's first size
    shm_size: int = 0              # bytes of /dev/shm; 0: Docker's 64 MiB
    group_add: list = list         # more groups for the process: names or gids
    ulimits: list = list           # Docker's [{"Name": "nofile", "Soft": N, "Hard": N}]
    pid_mode: str = ""             # "host": the host's pid namespace, "container:ID"
    #                                another's ("": its own)
    ipc_mode: str = ""             # "host": the host's IPC namespace and /dev/shm,
    #                                "container:ID" another's, "shareable": joinable
    uts_mode: str = ""             # "host": the host's host name
    userns_mode: str = ""          # "host" as asked; either way the host's user namespace
    sysctls: dict = dict           # namespaced kernel settings, written at the start
    devices: list = list           # Docker's {"PathOnHost", ...} and the node's numbers
    memory_swap: int = 0           # memory + swap, bytes (-1: unlimited swap)
    memory_reservation: int = 0    # a soft limit, bytes
    oom_kill_disable: bool = False
    cpu_shares: int = 0            # a relative weight (1024: the default)
    cpu_quota: int = 0             # microseconds per cpu_period (CFS)
    cpu_period: int = 0
    cpuset_cpus: str = ""          # "0-1", "0,2"
    cpuset_mems: str = ""
    blkio_weight: int = 0          # 10..1000
    # per block device, Docker's {"Path", "Weight"} or {"Path", "Rate"} (bytes or IOs a
    # second) with the device's numbers read at create ("Major", "Minor")
    blkio_weight_device: list = list
    blkio_device_read_bps: list = list
    blkio_device_write_bps: list = list
    blkio_device_read_iops: list = list
    blkio_device_write_iops: list = list
    oom_score_adj: int = 0         # -1000..1000 (0: the host's default, not set)
    volumes_from: list = list      # as given; their mounts are in binds
    links: list = list             # Docker's "/NAME:/THIS/ALIAS" (--link)

    def restart_name(self) -> str:
        return (self.restart_policy or {}).get("Name", "no")


# The address fields of an endpoint, emptied when the container stops (as Docker's are).
_WIRED = {"ip_address": "", "gateway": "", "ip_prefix_len": 0, "mac_address": "",
          "endpoint_id": ""}


@section
class Endpoint:
    """The container on one network: asked for at create (or connect), given an address,
    MAC and veth (endpoint_id) while it runs."""
    network_id: str = ""
    aliases: list = list
    ipam_config: dict | None = None  # {"IPv4Address": ip} when --ip asked for one
    ip_address: str = ""
    gateway: str = ""
    ip_prefix_len: int = 0
    mac_address: str = ""
    endpoint_id: str = ""  # the host side's veth

    @property
    def requested_ip(self) -> str | None:
        return (self.ipam_config or {}).get("IPv4Address")

    def wired(self, ip: str, gateway: str, prefix: int, mac: str, veth: str) -> None:
        self.ip_address, self.gateway, self.ip_prefix_len = ip, gateway, prefix
        self.mac_address, self.endpoint_id = mac, veth

    def unwired(self) -> None:
        for f, v in _WIRED.items():
            setattr(self, f, v)


@section
class NetworkSettings:
    """The endpoints by network name, in order (the first is eth0, with the default route),
    the first one's address repeated at the top (as Docker's default bridge), and the
    network namespace while the container runs."""
    NESTED = {"networks": (Endpoint, "dict")}
    networks: dict = dict
    netns: str = ""
    ip_address: str = ""
    gateway: str = ""
    ip_prefix_len: int = 0
    mac_address: str = ""

    def unwired(self) -> None:
        for f, v in _WIRED.items():
            if f != "endpoint_id":
                setattr(self, f, v)
