"""Containers: made from images, run through pyrun-oci, supervised by a small monitor.

<root>/containers/<64-hex id>/
  container.json    what the user asked for, and the state (status, pid, exit code, times)
  upper/ work/      the container's writable layer (kept until rm)
  init/             /etc/hosts, /etc/hostname, /etc/resolv.conf and mount points
  rootfs/           the overlay mount while it runs
  bundle/           the OCI bundle given to pyrun-oci
  container.log     JSON lines, Docker's json-file format

The monitor (runtime/engine/monitor.py) is the container's parent (a subreaper): it holds the
stdio, writes the log, records the exit, and undoes networking and mounts when it ends. A
container whose monitor died is found and cleaned up by the next pyrun command (refresh()).
"""

from __future__ import annotations

import errno
import os
import time

from runtime import jsonfast as json
from runtime import paths
from runtime.engine import journal, model
from runtime.errors import Conflict, InvalidParameter, NotFound, PyrunError
from runtime.image.store import Store
from runtime.timestamps import rfc3339

OCI_ROOT = paths.OCI_ROOT
ADJECTIVES = ["admiring", "brave", "clever", "dreamy", "eager", "festive", "gallant", "happy",
              "jolly", "keen", "lucid", "modest", "nifty", "optimistic", "peaceful", "quirky",
              "relaxed", "serene", "tender", "upbeat", "vibrant", "witty", "zealous"]
NAMES = ["babbage", "curie", "darwin", "einstein", "fermi", "galileo", "hopper", "jepsen",
         "kepler", "lovelace", "meitner", "newton", "noether", "pasteur", "ritchie", "shannon",
         "tesla", "turing", "volta", "wozniak", "yalow"]


class ContainerError(PyrunError):
    pass


class NameConflict(ContainerError, Conflict):
    pass


class ContainerStateConflict(ContainerError, Conflict):
    """Not in the state the request needs (running, stopped): Docker's 409."""


class InvalidSpec(ContainerError, InvalidParameter):
    """A flag or field of the container's that cannot be taken: the API's 400."""


class NoSuchContainer(ContainerError, NotFound):
    def __init__(self, ref: str):
        super().__init__(f"No such container: {ref}")


def root_dir(store: Store) -> str:
    return os.path.join(store.root, "containers")


def all_ids(store: Store | None = None) -> list[str]:
    store = store or Store()
    try:
        return sorted(n for n in os.listdir(root_dir(store)) if not n.startswith(".") and
                      os.path.exists(os.path.join(root_dir(store), n, "container.json")))
    except FileNotFoundError:
        return []


# A full disk must not stop pyrun from stopping, killing or removing the container that
# filled it, and those commands must record what they did. So every record is written
# padded to whole blocks (a file's last block is allocated whole anyway), and beside it lies
# a spare of the same size, allocated when the container was made. With no space left the
# record is written in place into the spare, which needs no new block, and the two are
# swapped in one renameat2(RENAME_EXCHANGE): the old record becomes the next spare, and
# there is never a moment without a whole record.
RECORD_BLOCK = 4096
SPARE = "container.json.spare"


def padded_record(data: dict) -> bytes:
    raw = json.dumps(data).encode() + b"\n"
    return raw + b" " * (-len(raw) % RECORD_BLOCK)


def save_when_full(directory: str, data: bytes) -> None:
    from runtime.linux import syscalls as sc
    spare = os.path.join(directory, SPARE)
    try:
        fd = os.open(spare, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(errno.ENOSPC, "No space left on device (and no spare record kept "
                      "for this container)") from None
    try:
        size = os.fstat(fd).st_size
        if len(data) > size:
            raise OSError(errno.ENOSPC, "No space left on device (the record outgrew its "
                          "spare)")
        os.pwrite(fd, data + b" " * (size - len(data)), 0)
    finally:
        os.close(fd)
    sc.rename_exchange(spare, os.path.join(directory, "container.json"))


class Container:
    """A container's record: who it is, what was asked (config), how the host runs it
    (host), its networks (net) and its state, as engine/model.py types them. Every change
    of state is one of the mark_* moves below; container.json is its serialized form
    (to_json), in the shape of Docker's inspect object."""

    def __init__(self, store: Store, *, id: str, name: str, created: str, image: str,
                 image_ref: str, path: str, args: list, config: model.Config,
                 host: model.HostConfig, net: model.NetworkSettings,
                 state: model.State | None = None, restart_count: int = 0,
                 seccomp="default", no_new_privileges: bool = False):
        self.store = store
        self.id, self.name, self.created = id, name, created
        self.image, self.image_ref = image, image_ref  # the image's id, and as the user named it
        self.path_in_container, self.args = path, args  # Docker's Path and Args
        self.config, self.host, self.net = config, host, net
        self.state = state or model.State()
        self.restart_count = restart_count
        # what --privileged and --security-opt made of the container's filter: "default",
        # "unconfined", or a profile read at create (the file may change or go before a start)
        self.seccomp = seccomp
        self.no_new_privileges = no_new_privileges

    @classmethod
    def from_json(cls, store: Store, d: dict) -> "Container":
        c = cls.__new__(cls)
        c.store = store
        c._read(d)
        return c

    def _read(self, d: dict) -> None:
        self.id, self.name, self.created = d["Id"], d.get("Name") or "", d.get("Created", "")
        self.image, self.image_ref = d["Image"], d.get("ImageRef", "")
        self.path_in_container, self.args = d.get("Path", ""), d.get("Args") or []
        self.config = model.load(model.Config, d.get("Config"))
        self.host = model.load(model.HostConfig, d.get("HostConfig"))
        self.net = model.load(model.NetworkSettings, d.get("NetworkSettings"))
        if "Networks" not in (d.get("NetworkSettings") or {}) and \
                self.host.network_mode not in ("none", "host"):
            # A record from before endpoints were kept (only the default bridge was there
            # then); one with no "Networks" at all, not one disconnected from every network.
            self.net.networks = {self.host.network_mode: model.Endpoint()}
        self.state = model.load(model.State, d.get("State"))
        self.restart_count = d.get("RestartCount", 0)
        self.seccomp = d.get("Seccomp", "default")
        self.no_new_privileges = d.get("NoNewPrivileges", False)

    def to_json(self) -> dict:
        return {"Id": self.id, "Name": self.name, "Created": self.created, "Image": self.image,
                "ImageRef": self.image_ref, "Path": self.path_in_container, "Args": self.args,
                "Config": model.dump(self.config), "HostConfig": model.dump(self.host),
                "State": model.dump(self.state), "NetworkSettings": model.dump(self.net),
                "RestartCount": self.restart_count, "Seccomp": self.seccomp,
                "NoNewPrivileges": self.no_new_privileges}

    @property
    def command(self) -> list[str]:
        return [self.path_in_container] + self.args

    # ---- files
    @property
    def dir(self) -> str:
        return os.path.join(root_dir(self.store), self.id)

    def path(self, *parts) -> str:
        return os.path.join(self.dir, *parts)

    def save(self) -> None:
        """Write the record whole (a new file renamed over the old), or, on a full disk,
        into its spare (see save_when_full)."""
        data = padded_record(self.to_json())
        tmp = self.path(f"container.json.{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if e.errno != errno.ENOSPC:
                raise
            save_when_full(self.dir, data)
            return
        os.rename(tmp, self.path("container.json"))

    # ---- the state's moves: every change of the container's state is one of these, and
    # each saves the record once (the Docker-inspect JSON is only their serialized form)
    def mark_monitored_by(self, pid: int, start: int) -> None:
        """pid (started at start) supervises the container from now on; 0: nobody (a
        created container left so)."""
        self.state.monitored_by(pid, start)
        self.save()

    def mark_running(self, pid: int = 0) -> None:
        self.state.started(pid, rfc3339())
        self.save()
        journal.record(self, "start")

    def mark_exited(self, code: int, *, oom_killed: bool = False, error: str = "") -> None:
        self.state.exited(code, rfc3339(), oom_killed, error)
        # The events before the record: a stop waits for the record to say exited, then
        # writes its own "stop", which must come after this "die" (Docker's order).
        if oom_killed:
            journal.record(self, "oom")
        journal.record(self, "die", exitCode=code)
        self.save()

    def mark_paused(self, paused: bool) -> None:
        self.state.paused = paused
        self.save()

    def mark_stopped_by_user(self, stopped: bool = True, restarting: bool = False) -> None:
        """A user's stop or kill (True): the restart policy must not bring the container
        back; a start (False) lifts that. restarting: the stop of a user's restart, which
        --rm does not end in a removal."""
        self.state.stopped_by_user = stopped
        self.state.restarting = restarting
        self.save()

    def mark_restarting(self) -> None:
        """Its restart policy brings it back: one restart more (inspect's RestartCount, and
        what doubles the delay before the next)."""
        self.restart_count += 1
        self.save()

    # ---- what may be done to it now (youki's status questions)
    def can_start(self) -> bool:
        return not self.running

    def can_signal(self) -> bool:
        return self.running

    def can_remove(self, force: bool = False) -> bool:
        return force or not self.running

    def reload(self) -> "Container":
        with open(self.path("container.json")) as f:
            self._read(json.loads(f.read()))
        return self

    # ---- status, read off the processes, not just the file
    def monitor_alive(self) -> bool:
        """The same monitor process (pid and start time), and not a zombie."""
        pid = self.state.monitor_pid
        if not pid:
            return False
        from runtime.oci.state import proc_start_time
        st = proc_start_time(pid)
        return st is not None and st[0] == self.state.monitor_start and st[1] not in "ZX"

    @property
    def running(self) -> bool:
        return self.state.status == "running" and self.monitor_alive()

    def status_text(self, now: float | None = None) -> str:
        from runtime.units import ago, human_duration, parse_time
        st = self.state
        if st.status == "running" and self.monitor_alive():
            started = parse_time(st.started_at) or time.time()
            up = "Up " + human_duration((now or time.time()) - started)
            if st.paused:
                return up + " (Paused)"
            health = self.health_status()
            if health:
                return up + (" (health: starting)" if health == "starting" else
                             f" ({health})")
            return up
        if st.status in ("exited", "running"):
            return f"Exited ({st.exit_code}) {ago(st.finished_at)}"
        return "Created"

    def health_status(self) -> str:
        """starting, healthy, unhealthy, or "" (no healthcheck): health.json, which the
        checker (engine/health.py) keeps."""
        try:
            with open(self.path("health.json")) as f:
                return json.loads(f.read()).get("Status", "")
        except (FileNotFoundError, ValueError):
            return ""

    def ports_text(self) -> str:
        return ", ".join(p.text() for p in self.host.ports)


# ---- lookup -------------------------------------------------------------------------------------

def load(store: Store, cid: str) -> Container:
    with open(os.path.join(root_dir(store), cid, "container.json")) as f:
        return Container.from_json(store, json.loads(f.read()))


def all_containers(store: Store) -> list[Container]:
    out = []
    for cid in all_ids(store):
        try:
            out.append(load(store, cid))
        except (OSError, ValueError):
            continue
    return out


def find(store: Store, ref: str) -> Container:
    """By name, full id, or unique id prefix (as Docker)."""
    cs = all_containers(store)
    for c in cs:
        if c.name == ref.lstrip("/") or c.id == ref:
            return c
    hits = [c for c in cs if c.id.startswith(ref)] if ref and all(
        ch in "0123456789abcdef" for ch in ref) else []
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ContainerError(f"multiple containers match {ref!r}: use more of the id")
    raise NoSuchContainer(ref)


def _name_path(store: Store, name: str) -> str:
    return os.path.join(store.root, "names", name)


def reserve_name(store: Store, name: str, cid: str) -> str | None:
    """Take a name for container cid, atomically (one O_EXCL file per name, holding the
    owner's id), so that concurrent runs can never share one. Returns None when taken, else
    the id of the container that holds it. A name whose owner's directory is gone (a crash)
    is taken over; owners make their directory (still MAKING + id) before they reserve."""
    os.makedirs(os.path.join(store.root, "names"), 0o700, exist_ok=True)
    path = _name_path(store, name)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = f.read().strip()
            except FileNotFoundError:
                continue
            if owner and (os.path.isdir(os.path.join(root_dir(store), owner)) or
                          os.path.isdir(os.path.join(root_dir(store), MAKING + owner))):
                return owner
            try:
                os.unlink(path)  # stale: its container is gone
            except FileNotFoundError:
                pass
            continue
        os.write(fd, cid.encode())
        os.close(fd)
        return None
    return "?"


def release_name(store: Store, name: str, cid: str) -> None:
    if not name:
        return
    path = _name_path(store, name)
    try:
        with open(path) as f:
            if f.read().strip() == cid:
                os.unlink(path)
    except FileNotFoundError:
        pass


def generate_name(store: Store, cid: str) -> str:
    """A free adjective_name, reserved for cid."""
    def pick(words):
        return words[int.from_bytes(os.urandom(4), "little") % len(words)]
    for i in range(200):
        name = f"{pick(ADJECTIVES)}_{pick(NAMES)}"
        if i >= 100:
            name += str(1 + int.from_bytes(os.urandom(4), "little") % 999)
        if reserve_name(store, name, cid) is None:
            return name
    raise ContainerError("could not find a free container name")


# ---- port specs -------------------------------------------------------------------------------

def parse_publish(spec: str) -> list[model.Port]:
    """-p [IP:][HOST:]CONTAINER[/tcp|udp], ranges allowed ("8080-8081:80-81")."""
    proto = "tcp"
    body = spec
    if "/" in spec:
        body, proto = spec.rsplit("/", 1)
        proto = proto.lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidSpec(f"invalid proto in port spec {spec!r}")
    parts = body.split(":")
    if len(parts) == 1:
        host_ip, host, cont = "0.0.0.0", "", parts[0]
    elif len(parts) == 2:
        host_ip, host, cont = "0.0.0.0", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, cont = parts[0] or "0.0.0.0", parts[1], parts[2]
    else:
        raise InvalidSpec(f"invalid port spec {spec!r}: use [IP:][HOST:]CONTAINER[/PROTO]")
    # Checked here, not by nftables, which would print three lines of its grammar.
    # _socket: inet_pton without the socket module's enums (start path).
    import _socket
    try:
        _socket.inet_pton(_socket.AF_INET, host_ip)
    except OSError:
        raise InvalidSpec(f"invalid IP address {host_ip!r} in port spec {spec!r} (an "
                          "IPv4 address such as 127.0.0.1)") from None

    def rng(text: str) -> list[int]:
        try:
            if "-" in text:
                a, b = (int(x) for x in text.split("-", 1))
                if b < a:
                    raise ValueError
                vals = list(range(a, b + 1))
            else:
                vals = [int(text)]
        except ValueError:
            raise InvalidSpec(f"invalid port spec {spec!r}") from None
        if any(not 0 < v < 65536 for v in vals):
            raise InvalidSpec(f"invalid port spec {spec!r}: ports are 1-65535")
        return vals
    conts = rng(cont)
    hosts = rng(host) if host else [0] * len(conts)
    if len(hosts) != len(conts):
        raise InvalidSpec(f"invalid port spec {spec!r}: ranges differ in length")
    return [model.Port(host_ip, h, c, proto) for h, c in zip(hosts, conts)]


# json-file's rotation when --log-opt says nothing: 5 files of 20 MB, as Docker's "local"
# driver keeps them (Docker's json-file default keeps everything, and a chatty container
# fills the disk).
DEFAULT_LOG_OPTS = {"max-size": "20m", "max-file": "5"}
DEFAULT_LOG_LIMITS = (20 * 1024 * 1024, 5)  # the same, parsed (tests/unit holds them equal)


def parse_log_opts(driver: str | None, opts) -> dict:
    """--log-driver json-file (the only one) and --log-opt max-size=SIZE, max-file=N."""
    if driver not in (None, "json-file"):
        raise InvalidSpec(f"logging driver {driver!r} is not supported (json-file is)")
    if not opts:
        return {"Type": "json-file", "Config": dict(DEFAULT_LOG_OPTS)}
    config = dict(DEFAULT_LOG_OPTS)
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or key not in ("max-size", "max-file"):
            raise InvalidSpec(f"unknown log opt {opt!r} for json-file (max-size=, max-file=)")
        config[key] = value
    _, count = log_limits({"Config": config})
    if count < 1:
        raise InvalidSpec(f"invalid max-file {config['max-file']!r}: at least 1")
    return {"Type": "json-file", "Config": config}


def log_limits(log_config: dict) -> tuple[int, int]:
    """(max bytes, files) of a log config; (0, 1): no rotation (a record from before)."""
    config = (log_config or {}).get("Config") or {}
    if config == DEFAULT_LOG_OPTS:
        return DEFAULT_LOG_LIMITS
    from runtime.units import parse_size
    try:
        size = parse_size(config["max-size"]) if config.get("max-size") else 0
        count = int(config.get("max-file") or 1)
    except ValueError:
        raise InvalidSpec(f"invalid log opts {config}: max-size is a size such as 10m, "
                          "max-file a number") from None
    return size, count


def merge_healthcheck(image_hc, cmd, interval, timeout, retries, start_period,
                      disabled) -> dict | None:
    """The image's HEALTHCHECK with run's --health-* flags over it (Docker's rules):
    --health-cmd is run by /bin/sh -c, --no-healthcheck turns the image's off."""
    if disabled:
        if cmd:
            raise InvalidSpec("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    hc = dict(image_hc or {})
    if cmd:
        hc["Test"] = ["CMD-SHELL", cmd]
    from runtime.units import parse_duration
    for key, text in (("Interval", interval), ("Timeout", timeout),
                      ("StartPeriod", start_period)):
        if text is not None:
            try:
                hc[key] = parse_duration(text)
            except ValueError:
                flag = key.lower().replace("startperiod", "start-period")
                raise InvalidSpec(f"invalid --health-{flag} {text!r}: a duration such as "
                                  "30s") from None
    if retries is not None:
        if retries < 0:
            raise InvalidSpec("--health-retries cannot be negative")
        hc["Retries"] = retries
    if hc and not hc.get("Test"):
        raise InvalidSpec("--health-* options need a healthcheck: --health-cmd, or one "
                          "in the image")
    return hc or None


def valid_name(name: str) -> bool:
    """Docker's rule for container names (and link aliases): [a-zA-Z0-9][a-zA-Z0-9_.-]*,
    without `re` (start path)."""
    return bool(name) and name[0].isascii() and name[0].isalnum() and all(
        ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)


def check_name(name: str) -> None:
    if not valid_name(name):
        raise InvalidSpec(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                          "are allowed")


def check_cpus(cpus: float | None) -> None:
    """--cpus as Docker bounds it: at least 0.01, at most the CPUs this host has."""
    if cpus is None:
        return
    n = os.cpu_count() or 1
    if not 0.01 <= cpus <= n:
        raise InvalidSpec(f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} "
                          "CPUs available")


def check_signal(name: str) -> None:
    from runtime.oci.kill import parse_signal
    try:
        parse_signal(name)
    except PyrunError:
        raise InvalidSpec(f"Invalid signal: {name}") from None


ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
           "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")


def parse_ulimit(spec: str) -> dict:
    """--ulimit NAME=SOFT[:HARD] (-1: unlimited) → Docker's {"Name", "Soft", "Hard"}."""
    name, sep, values = spec.partition("=")
    soft, _, hard = values.partition(":")
    try:
        if not sep or name not in ULIMITS:
            raise ValueError
        limits = int(soft), int(hard or soft)
    except ValueError:
        raise InvalidSpec(f"invalid ulimit {spec!r}: NAME=SOFT[:HARD], NAME one of "
                          f"{', '.join(ULIMITS)}") from None
    unlimited = [v == -1 for v in limits]
    if any(v < -1 for v in limits) or \
            (not unlimited[1] and (unlimited[0] or limits[0] > limits[1])):
        raise InvalidSpec(f"invalid ulimit {spec!r}: the soft limit must not be above "
                          "the hard one")
    return {"Name": name, "Soft": limits[0], "Hard": limits[1]}


# What a container may set (Docker's list): what belongs to its own namespaces alone
SYSCTL_NAMES = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
SYSCTL_PREFIXES = ("net.", "fs.mqueue.")


def parse_sysctls(specs, network: str, ipc: str) -> dict:
    """--sysctl NAME=VALUE → {NAME: VALUE}: only a namespaced one, and not of a namespace
    the container shares with the host (net.* with --network host, IPC ones with --ipc
    host), as Docker's daemon checks."""
    out = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise InvalidSpec(f"invalid --sysctl {spec!r}: NAME=VALUE")
        ipc_one = name in SYSCTL_NAMES or name.startswith("fs.mqueue.")
        if not (ipc_one or name.startswith("net.")):
            raise InvalidSpec(f"sysctl {name!r} is not allowed: only namespaced ones "
                              f"({', '.join(SYSCTL_PREFIXES)}, kernel IPC)")
        if name.startswith("net.") and network == "host":
            raise InvalidSpec(f"sysctl {name!r} is not allowed in the host's network "
                              "namespace")
        if name.startswith("net.") and model.container_ref(network) is not None:
            raise InvalidSpec(f"sysctl {name!r} is not allowed in another container's "
                              "network namespace")
        if ipc_one and ipc == "host":
            raise InvalidSpec(f"sysctl {name!r} is not allowed in the host's IPC "
                              "namespace")
        if ipc_one and model.container_ref(ipc) is not None:
            # it would set the donor's: the namespace is the donor's, not this container's
            raise InvalidSpec(f"sysctl {name!r} is not allowed in another container's "
                              "IPC namespace")
        out[name] = value
    return out


def parse_device(spec: str) -> list[dict]:
    """--device HOST[:CONTAINER][:PERMISSIONS] (rwm) → Docker's {"PathOnHost",
    "PathInContainer", "CgroupPermissions"}, with the node's type, numbers and mode read off
    the host now (what the runtime makes in the container and lets through its cgroup). A
    directory (`--device /dev/snd`) gives every device node beneath it, at the same place
    under CONTAINER, as Docker's does; what beneath it is not a node is passed over."""
    parts = spec.split(":")
    perms = "rwm"
    if len(parts) > 1 and parts[-1] and set(parts[-1]) <= set("rwm") and \
            not parts[-1].startswith("/"):
        perms = parts.pop()
    if len(parts) > 2 or not parts[0]:
        raise InvalidSpec(f"invalid --device {spec!r}: HOST[:CONTAINER][:PERMISSIONS]")
    host = parts[0]
    inside = parts[1] if len(parts) == 2 and parts[1] else host
    if not (host.startswith("/") and inside.startswith("/")):
        raise InvalidSpec(f"invalid --device {spec!r}: paths must be absolute")
    try:
        node = _device_node(host, inside, perms)
    except OSError as e:
        raise InvalidSpec(f"error gathering device information while adding custom "
                          f"device {host!r}: {e.strerror}") from None
    if node:
        return [node]
    found = []
    if os.path.isdir(host):
        for top, dirs, files in os.walk(host):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(top, name)
                try:  # a node that went away or cannot be read is passed over, as Docker
                    node = _device_node(path, inside + path[len(host.rstrip("/")):], perms)
                except OSError:
                    continue
                if node:
                    found.append(node)
    if not found:
        raise InvalidSpec(f"{host!r} is not a device node, nor a directory holding any")
    return found


def _device_node(host: str, inside: str, perms: str) -> dict | None:
    """The record's entry for the node at `host` (symlinks followed, as /dev/disk/by-id's),
    or None where it is not a character or block device."""
    import stat
    st = os.stat(host)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return None
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms,
            "Type": "c" if stat.S_ISCHR(st.st_mode) else "b", "Major": os.major(st.st_rdev),
            "Minor": os.minor(st.st_rdev), "FileMode": stat.S_IMODE(st.st_mode)}


def parse_block_device(flag: str, spec: str) -> dict:
    """--blkio-weight-device PATH:WEIGHT, --device-read-bps/--device-write-bps PATH:RATE[kb|
    mb|gb], --device-read-iops/--device-write-iops PATH:RATE → the record's entry, with
    the block device's numbers read off the host now."""
    import stat
    path, sep, value = spec.rpartition(":")
    weight = flag == "--blkio-weight-device"
    try:
        if not sep or not path.startswith("/"):
            raise ValueError
        if weight:
            number = int(value)
            if not (number == 0 or 10 <= number <= 1000):
                raise InvalidSpec(f"invalid weight for device: {spec}: the range is 10 to "
                                  "1000")
        elif flag.endswith("-iops"):
            number = int(value)
        else:
            from runtime.units import parse_size
            number = parse_size(value)
        if number < 0:
            raise ValueError
    except ValueError:
        form = "<device-path>:<number>" + ("[<unit>], the unit kb, mb or gb" if
                                           flag.endswith("-bps") else "")
        raise InvalidSpec(f"invalid {flag} {spec!r}: the format is {form}") from None
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidSpec(f"{flag} {path}: {e.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidSpec(f"{flag} {path}: not a block device")
    return {"Path": path, "Weight" if weight else "Rate": number,
            "Major": os.major(st.st_rdev), "Minor": os.minor(st.st_rdev)}


def parse_memory(text: str) -> int:
    from runtime.units import parse_size
    try:
        value = parse_size(text)
    except ValueError:
        raise InvalidSpec(f"invalid memory size {text!r} (e.g. 64m, 1g)") from None
    if value < 6 * 1024 * 1024:
        raise InvalidSpec(f"minimum memory limit allowed is 6MB (got {text})")
    return value


# ---- creation -----------------------------------------------------------------------------------

def parse_security_opts(opts) -> dict:
    """--security-opt, as Docker spells it (KEY=VALUE, or the older KEY:VALUE):
    seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]. AppArmor and SELinux
    are not on this host: only their "off" values are accepted."""
    out: dict = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep and ":" in opt:
            key, sep, value = opt.partition(":")
        if key == "seccomp" and value:
            if value == "unconfined":
                out["unconfined"] = True
            else:
                from runtime.engine.seccomp_profile import load_file
                out["profile"] = load_file(value)
        elif key == "no-new-privileges" and value in ("", "true", "false"):
            out["no_new_privileges"] = value != "false"
        elif key in ("apparmor", "label") and value in ("unconfined", "disable"):
            pass
        elif key in ("apparmor", "label"):
            raise InvalidSpec(f"--security-opt {opt}: this host has no "
                              f"{'AppArmor' if key == 'apparmor' else 'SELinux'}")
        else:
            raise InvalidSpec(f'invalid --security-opt: "{opt}" (seccomp=unconfined, '
                              "seccomp=PROFILE.json or no-new-privileges[=true|false])")
    return out


def parse_restart(text: str) -> dict:
    """--restart no | on-failure[:N] | always | unless-stopped."""
    name, _, count = (text or "no").partition(":")
    if name not in ("no", "on-failure", "always", "unless-stopped"):
        raise InvalidSpec(f"invalid restart policy {text!r}: no, on-failure[:N], always or "
                          "unless-stopped")
    if count and (name != "on-failure" or not count.isdigit()):
        raise InvalidSpec(f"invalid restart policy {text!r}: only on-failure takes a count")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def should_restart(c: Container, code: int) -> bool:
    """After an exit: does the policy bring the container back? Never after a user's stop."""
    policy = c.host.restart_policy or {"Name": "no"}
    if c.state.stopped_by_user or policy["Name"] == "no":
        return False
    if policy["Name"] == "on-failure":
        limit = policy.get("MaximumRetryCount") or 0
        return code != 0 and (limit == 0 or c.restart_count < limit)
    return True


def cap_name(name: str) -> str:
    from runtime.oci.spec import CAPABILITY_NUMBERS
    n = name.upper()
    if n == "ALL":
        return n
    n = n if n.startswith("CAP_") else "CAP_" + n
    if n not in CAPABILITY_NUMBERS:
        raise InvalidSpec(f"unknown capability: {name!r}")
    return n


# ---- the pieces a start needs, and their undoing -----------------------------------------------

def write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def bundle_of(c: Container, layers=()):
    from runtime.engine.bundle import Bundle
    return Bundle(c.dir, layers, volatile=c.host.auto_remove)


def prepare(c: Container) -> str:
    """Mount the rootfs, wire the network, write the bundle. Returns the bundle dir.
    Everything is undone by teardown(), which is safe to call at any point."""
    from runtime.engine import bundle as bundlemod
    from runtime.engine.config import from_record, hosts_file, oci_config, resolv_file
    linked = linked_hosts(c)  # refused before anything is made
    b = bundle_of(c, c.store.image(c.image).layer_dirs)
    b.make()
    mode = c.host.network_mode
    from runtime.engine import networking
    donor = networking.joined(c)
    if donor:
        network = _join_network(c, donor, b)
    else:
        if mode == "host":
            network = "host"
        elif mode == "none":
            network = "new"  # the runtime makes it, loopback only: nothing here to undo
        else:
            network = new_netns(c)
            networking.wire(c, network)
        b.write_etc(c.config.hostname,
                    hosts_file(c.config.hostname, c.net.ip_address, c.host.extra_hosts,
                               linked),
                    resolv_file(bundlemod.host_resolv(), mode, c.host.dns,
                                embedded=mode != "host" and networking.on_user_network(c)))
    b.mount()
    for m in c.host.binds:
        if m["Type"] == "volume":  # a new volume starts with the image's files there
            from runtime.engine import volumes
            volumes.seed(m["Source"], b.rootfs, m["Destination"])
    ids = bundlemod.resolve_user(b.rootfs, c.config.user, c.host.group_add)
    init = init_binary() if c.host.init else None
    joined, shm = _namespace_donors(c)
    if c.host.ipc_mode == "shareable":  # on the host, where a joiner can bind it too
        b.mount_shm(c.host.shm_size or 64 << 20)
        shm = b.path("shm")
    return b.write_config(oci_config(from_record(c, network, ids, init, joined, shm)))


def _donor(c: Container, donor_id: str) -> Container:
    """The container whose namespace c joins (the record names it by id), or the API's 404
    where it has been removed since."""
    try:
        return load(c.store, donor_id)
    except FileNotFoundError:
        raise NoSuchContainer(f"No such container: {donor_id}") from None


def _namespace_donors(c: Container) -> tuple[dict[str, str], str | None]:
    """--pid/--ipc container:NAME at start: "pid"/"ipc" → the donor's namespace to join,
    and the donor's /dev/shm on the host (ipc). The donor must run; an IPC donor must have
    been made shareable (--ipc shareable, or host), as Docker's default of private IPC
    asks: a mount of another mount namespace cannot be bound, so a shareable container's
    /dev/shm is a tmpfs in its directory on the host, as Docker's."""
    out, shm = {}, None
    for kind, mode in (("pid", c.host.pid_mode), ("ipc", c.host.ipc_mode)):
        donor_id = model.container_ref(mode)
        if donor_id is None:
            continue
        donor = _donor(c, donor_id)
        if not donor.running or not donor.state.pid:
            raise ContainerStateConflict(f"cannot join {kind.upper()} of a non running "
                                         f"container: {donor_id}")
        if kind == "ipc":
            if donor.host.ipc_mode not in ("shareable", "host"):
                raise InvalidSpec(f"container {donor_id}: non-shareable IPC (hint: use "
                                  "IpcMode:shareable for the donor container)")
            shm = "/dev/shm" if donor.host.ipc_mode == "host" else bundle_of(donor).path("shm")
        out[kind] = f"/proc/{donor.state.pid}/ns/{kind}"
    return out, shm


def _join_network(c: Container, donor_id: str, b) -> str:
    """--network container:NAME at start: the donor's network namespace (RunSpec's network:
    "host" for a donor on the host's), its host name and its /etc/hosts and resolv.conf (as
    Docker's, which shares the three files); the donor must run."""
    donor = _donor(c, donor_id)
    on_host = donor.host.network_mode == "host"  # then the sidecar is on the host's too
    if donor.running and not donor.net.netns and donor.state.pid:
        # --network none: the runtime made its namespace, pinned by no file (as --pid and
        # --ipc container:NAME join theirs)
        netns = f"/proc/{donor.state.pid}/ns/net"
    else:
        netns = donor.net.netns
    if not (donor.running and (on_host or netns and os.path.exists(netns))):
        raise ContainerStateConflict(f"cannot join network namespace of a non running "
                                     f"container: {donor_id}")
    c.config.hostname = donor.config.hostname
    theirs = bundle_of(donor)
    texts = []
    for name in ("hosts", "resolv.conf"):
        with open(theirs.path(name)) as f:
            texts.append(f.read())
    b.write_etc(donor.config.hostname, *texts)
    return "host" if on_host else netns


def parse_link(store: Store, spec: str) -> tuple[str, str]:
    """--link NAME[:ALIAS] → (the linked container's name, the alias), once it exists (the
    record keeps Docker's "/NAME:/THIS/ALIAS" once this container has its name)."""
    target, _, alias = spec.partition(":")
    alias = alias or target.lstrip("/")
    if not target or not valid_name(alias):
        raise InvalidSpec(f"invalid --link {spec!r}: NAME[:ALIAS]")
    return find(store, target.lstrip("/")).name, alias  # NoSuchContainer: the API's 404


def linked_hosts(c: Container) -> list[tuple[str, str]]:
    """/etc/hosts lines of a container's legacy links on the default bridge (elsewhere names
    resolve through 127.0.0.11, and Docker writes none either): each linked container's
    address under the alias, its short id and its name. As Docker's, a link to a container
    that does not run, or is not on the default bridge, refuses the start."""
    if not c.host.links or c.host.network_mode != "bridge":
        return []
    out = []
    for link in c.host.links:
        target, _, rest = link.partition(":")
        alias = rest.rsplit("/", 1)[-1]
        as_text = f"{target} AS {rest}"
        try:
            other = find(c.store, target.lstrip("/"))
        except NoSuchContainer:
            raise ContainerStateConflict(f"Cannot link to {target}: no such container "
                                         f"({as_text})") from None
        if not other.running:
            raise ContainerStateConflict(f"Cannot link to a non running container: "
                                         f"{as_text}")
        ep = other.net.networks.get("bridge")
        if ep is None or not ep.ip_address:
            raise ContainerStateConflict(f"Cannot link to {target}, as it does not belong "
                                         "to the default network")
        names = [alias] + [n for n in (other.id[:12], other.name) if n != alias]
        out.append((ep.ip_address, " ".join(names)))
    return out


def init_binary() -> str:
    """The static pyrun-init that --init puts at /sbin/pyrun-init (built by setup.py)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bin",
                        "pyrun-init")
    if not os.path.exists(path):
        raise ContainerError(f"--init: {path} is missing (pip install -e . builds it)")
    return path


def new_netns(c: Container) -> str:
    from runtime.net import bridge
    netns = bridge.create_netns(f"pyrun-{c.id[:12]}")
    c.net.netns = netns  # saved with the first endpoint: teardown finds the netns by name
    return netns


def teardown(c: Container) -> None:
    """Undo prepare(): ports, veth, lease, netns, overlay mount. Idempotent."""
    from runtime.engine import networking
    networking.unwire(c)
    if c.net.netns or networking.wired(c):
        from runtime.net import bridge
        bridge.delete_netns(f"pyrun-{c.id[:12]}")
    bundle_of(c).unmount()
    from runtime.engine import oci
    oci.delete(c)  # in-process: no interpreter to start


def oom_killed(c: Container) -> bool:
    """Did the kernel's OOM killer kill a process of the container (read off its cgroup's
    own counter, as Docker's State.OOMKilled)?"""
    from runtime.engine import oci
    mgr = oci.cgroup(c)
    return mgr is not None and mgr.oom_kills() > 0


def after_last() -> None:
    """After a container's teardown: when it was the last on the bridge, the bridge and the
    NAT table go too, in the background (see remove_shared_if_unused)."""
    from runtime.net import network
    network.remove_shared_if_unused()


TRASH = ".removed-"  # + id: a removed container's directory, until its files are deleted
MAKING = ".creating-"  # + id: a container's directory while create() fills it
# + "<pid>-<start>-<id>": the directory before its creator file is in it. The name says who
# made it, so a creator killed between mkdir and that file's write is known dead at once.
PENDING = ".pending-"


def remove_files(c: Container) -> None:
    """The container is gone for every pyrun command at once (its directory renamed out of
    the way, its name free); its files are deleted in the background, as each unlink is
    slow on some disks. refresh() deletes what a crash left in the trash."""
    from runtime.background import later
    bundle_of(c).unmount()
    trash = os.path.join(root_dir(c.store), TRASH + c.id)
    try:
        os.rename(c.dir, trash)
    except FileNotFoundError:
        trash = None
    release_name(c.store, c.name, c.id)
    if trash:
        journal.record(c, "destroy")
        later(delete_tree, trash)


def delete_tree(path: str) -> None:
    from runtime.oci.state import remove_dir
    try:
        remove_dir(path)
    except OSError:
        pass  # as much as can go

