"""User-defined networks, as Docker's bridge driver keeps them: one definition file each
(what `network inspect` shows), and the kernel pieces made from it (bridge.Net).

    create(name, subnet=None, gateway=None, internal=False, labels=None) -> dict
    get(name_or_id) -> dict          list_all() -> [dict]          remove(name_or_id)
    net_of(definition) -> bridge.Net

The three predefined networks (bridge, host, none) are not files: `predefined()` describes
them. Definitions are host-wide, as links and addresses are (not per store); a network in
use (a lease of its pool held) cannot be removed.
"""

from __future__ import annotations

import os

from runtime import jsonfast as json
from runtime import paths
from runtime.net import bridge
from runtime.net.bridge import NetworkError, Subnet, network_lock
from runtime.errors import Conflict, NotFound
from runtime.timestamps import rfc3339

DEFS = paths.NETWORK_DEFS
PREDEFINED = ("bridge", "host", "none")
# Where a subnet is chosen for a network created without --subnet: 10.89.1.0/24 onwards,
# beside the default bridge's 10.89.0.0/24 (Docker picks 172.18.0.0/16 onwards).
AUTO_FIRST, AUTO_COUNT = (10 << 24) | (89 << 16) | (1 << 8), 255


class NetworkConflict(NetworkError, Conflict):
    pass


class NoSuchNetwork(NetworkError, NotFound):
    def __init__(self, name: str):
        super().__init__(f"network {name} not found")
        self.name = name


def check_name(name: str) -> None:
    ok = 1 <= len(name) <= 64 and name[0].isascii() and name[0].isalnum() and all(
        ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)
    if not ok:
        raise NetworkError(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                           "are allowed (up to 64)")


def _path(net_id: str) -> str:
    return os.path.join(DEFS, net_id + ".json")


BRIDGE_NAME = "com.docker.network.bridge.name"


def bridge_name(d: dict) -> str:
    """A user-defined network's link: pyrunbr- and 7 characters of its id, as Docker's
    br- and 12 (IFNAMSIZ)."""
    return "pyrunbr-" + d["Id"][:7]


def _load(path: str) -> dict | None:
    try:
        with open(path) as f:
            d = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None  # removed meanwhile, or a write cut short (never renamed into place)
    # Options are what the user gave, as Docker's: docker-compose compares them with its
    # file's and refuses `run` on any other (older pyrun wrote the derived bridge name here)
    if (d.get("Options") or {}).get(BRIDGE_NAME) == bridge_name(d):
        del d["Options"][BRIDGE_NAME]
    return d


def list_all() -> list[dict]:
    """The user-defined networks, oldest first."""
    try:
        names = os.listdir(DEFS)
    except FileNotFoundError:
        return []
    found = [_load(os.path.join(DEFS, n)) for n in names if n.endswith(".json")]
    return sorted((d for d in found if d), key=lambda d: d["Created"])


def predefined(name: str) -> dict:
    """`network inspect` of bridge, host and none (fixed ids, as they are no files)."""
    d = {"Name": name, "Id": (name.encode().hex() * 64)[:64], "Created": rfc3339(_boot_time()),
         "Scope": "local", "Driver": {"bridge": "bridge", "host": "host",
                                      "none": "null"}[name],
         "EnableIPv6": False, "Internal": False, "Attachable": False, "Ingress": False,
         "IPAM": {"Driver": "default", "Options": None, "Config": []},
         "Options": {}, "Labels": {}}
    if name == "bridge":
        net = bridge.default_net()
        d["IPAM"]["Config"] = [{"Subnet": str(net.subnet), "Gateway": net.gateway}]
        d["Options"] = {BRIDGE_NAME: bridge.DEFAULT_LINK}
    return d


def _boot_time() -> float:
    """When the host started: the predefined networks' creation time (they exist since)."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def get(name: str) -> dict:
    """A network by name, full id or a unique id prefix (predefined ones included)."""
    if name in PREDEFINED:
        return predefined(name)
    found = list_all()
    for d in found:
        if d["Name"] == name or d["Id"] == name:
            return d
    if len(name) >= 1 and all(ch in "0123456789abcdef" for ch in name):
        hits = [d for d in found if d["Id"].startswith(name)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise NetworkError(f"network {name} is ambiguous ({len(hits)} matches found)")
    raise NoSuchNetwork(name)


def net_of(d: dict) -> bridge.Net:
    """The kernel side of a definition (the default bridge for "bridge")."""
    if d["Name"] == "bridge":
        return bridge.default_net()
    cfg = d["IPAM"]["Config"][0]
    return bridge.Net(bridge_name(d), Subnet(cfg["Subnet"]),
                      cfg["Gateway"], f"{bridge.LEASES}-{d['Id'][:12]}", d["Internal"])


def _host_subnets() -> list[Subnet]:
    """The host's IPv4 routes (not the default one), which a new network must not hide."""
    out = []
    try:
        with open("/proc/net/route") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return out
    for row in rows:
        w = row.split()
        if len(w) < 8 or w[0].startswith("pyrun"):
            continue
        dest, mask = (int.from_bytes(bytes.fromhex(x), "little") for x in (w[1], w[7]))
        if mask == 0:
            continue
        try:
            out.append(Subnet(f"{Subnet._dotted(dest)}/{bin(mask).count('1')}"))
        except NetworkError:
            pass  # a host route (/31, /32): too narrow to matter
    return out


def create(name: str, subnet: str | None = None, gateway: str | None = None,
           internal: bool = False, labels: dict | None = None) -> dict:
    """Define a network (its link is made with its first container). The subnet must not
    overlap another network's nor a route of the host; without one, the first free /24 from
    10.89.1.0 is taken."""
    check_name(name)
    if name in PREDEFINED:
        raise NetworkError(f"{name} is a pre-defined network and cannot be created")
    if gateway and not subnet:
        raise NetworkError("--gateway needs --subnet")
    with network_lock():
        existing = list_all()
        if any(d["Name"] == name for d in existing):
            raise NetworkConflict(f"network with name {name} already exists")
        taken = [bridge.subnet()] + [Subnet(d["IPAM"]["Config"][0]["Subnet"])
                                     for d in existing] + _host_subnets()
        if subnet:
            net = Subnet(subnet)
            clash = next((t for t in taken if t.overlaps(net)), None)
            if clash is not None:
                raise NetworkError(f"Pool overlaps with other one on this address space "
                                   f"({net} and {clash})")
        else:
            net = next((n for n in (Subnet(f"10.89.{i}.0/24") for i in range(1, 256))
                        if not any(t.overlaps(n) for t in taken)), None)
            if net is None:
                raise NetworkError("could not find an available, non-overlapping IPv4 address "
                                   "pool among the defaults to assign to the network")
        hosts = net.hosts()
        gw = gateway or next(hosts)
        if not net.contains(gw) or gw == Subnet._dotted(net.value) or \
                gw == Subnet._dotted(net.value + net.size - 1):
            raise NetworkError(f"gateway {gw} is not a host address of {net}")
        net_id = os.urandom(32).hex()
        d = {"Name": name, "Id": net_id, "Created": rfc3339(), "Scope": "local",
             "Driver": "bridge", "EnableIPv6": False, "Internal": bool(internal),
             "Attachable": False, "Ingress": False,
             "IPAM": {"Driver": "default", "Options": {},
                      "Config": [{"Subnet": str(net), "Gateway": gw}]},
             "Options": {},
             "Labels": dict(labels or {})}
        os.makedirs(DEFS, 0o755, exist_ok=True)
        tmp = _path(net_id) + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(d))
        os.rename(tmp, _path(net_id))  # whole or not at all
    return d


def in_use(d: dict) -> bool:
    """Does a live container (or its killed remains, not yet reclaimed) hold an address?"""
    if d["Name"] in PREDEFINED:
        return True
    with network_lock():
        bridge.reclaim()
        return bridge.leases_in_use(net_of(d).leases)


def remove(name: str) -> dict:
    """Remove a user-defined network no container is attached to; its link, if one was
    left (a killed removal's), goes too."""
    d = get(name)
    if d["Name"] in PREDEFINED:
        raise NetworkError(f"{d['Name']} is a pre-defined network and cannot be removed")
    net = net_of(d)
    with network_lock():
        bridge.reclaim()
        if bridge.leases_in_use(net.leases):
            raise NetworkConflict(f"error while removing network: network {d['Name']} id "
                               f"{d['Id']} has active endpoints")
        try:
            os.unlink(_path(d["Id"]))
        except FileNotFoundError:
            raise NoSuchNetwork(name) from None
        try:
            os.rmdir(net.leases)
        except OSError:
            pass
        bridge.delete_link(net.link)
        from runtime.net import ports
        ports.forget_network(net)
    return d
