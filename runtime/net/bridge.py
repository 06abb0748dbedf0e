"""The default bridge network: pyrun0, a veth pair per container, addresses from IPAM.

    attach(container_id, netns_path) -> Attachment(ip, gateway, veth)
    detach(attachment)

Links, addresses and routes go through rtnetlink (runtime/net/netlink.py). Named network
namespaces live at /run/pyrun/netns/<name> (a bind mount of the namespace file, like
`ip netns`), so the OCI config joins them by path and the engine can set them up before the
container starts.
"""

from __future__ import annotations

import os
import time

from runtime import paths
from runtime.errors import PyrunError
from runtime.linux import syscalls as sc

BRIDGE = "pyrun0"
DEFAULT_SUBNET = "10.89.0.0/24"
NETNS_DIR = paths.NETNS_DIR
LEASES = paths.LEASES


class NetworkError(PyrunError):
    pass


LOCK = paths.NETWORK_LOCK


class network_lock:
    """Serialises changes to the shared network (bridge, leases, NAT table): without it one
    run could remove the bridge that another has just made but not yet leased on."""

    def __enter__(self):
        import fcntl
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self.fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class Subnet:
    """An IPv4 network as the bridge uses one: str() "10.89.0.0/24", prefixlen, hosts() in
    order (the first is the gateway). Not ipaddress.IPv4Network: its import is 3 ms of every
    bridged start."""

    def __init__(self, text: str):
        try:
            addr, plen = text.split("/")
            octets = [int(o) for o in addr.split(".")]
            self.prefixlen = int(plen)
            if len(octets) != 4 or not all(0 <= o <= 255 for o in octets) or \
                    not 8 <= self.prefixlen <= 30:
                raise ValueError
        except ValueError:
            raise NetworkError(f"subnet {text!r}: not an IPv4 network from /8 to /30 "
                               "(such as 10.89.0.0/24)") from None
        self.value = int.from_bytes(bytes(octets), "big")
        self.size = 1 << (32 - self.prefixlen)
        if self.value % self.size:
            raise NetworkError(f"subnet {text!r} has host bits set")

    @staticmethod
    def _dotted(value: int) -> str:
        return ".".join(str(b) for b in value.to_bytes(4, "big"))

    def __str__(self) -> str:
        return f"{self._dotted(self.value)}/{self.prefixlen}"

    def hosts(self):
        """Every address but the network's and the broadcast, lowest first."""
        for v in range(self.value + 1, self.value + self.size - 1):
            yield self._dotted(v)


def subnet() -> Subnet:
    """The bridge's network: PYRUN_SUBNET, else 10.89.0.0/24."""
    return Subnet(os.environ.get("PYRUN_SUBNET", DEFAULT_SUBNET))


# ---- network namespaces -------------------------------------------------------------------------

def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def create_netns(name: str) -> str:
    """A new network namespace with loopback up, pinned by a bind mount at
    /run/pyrun/netns/<name>. Made by this thread (unshare, then setns back home): no child
    process to start and wait for.

    The file under the mount holds the maker's pid and start time: where the mount is not
    seen (a build pins its steps' namespaces in its private mount namespace, which dies with
    it when it is killed), that tells whether the namespace is still someone's (netns_alive)."""
    from runtime.net.netlink import Route
    from runtime.oci.state import own_identity
    os.makedirs(NETNS_DIR, 0o755, exist_ok=True)
    path = netns_path(name)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o444)
    try:
        os.write(fd, "{} {}".format(*own_identity()).encode())
    finally:
        os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.unshare(sc.CLONE_NEWNET)
        try:
            sc.mount("/proc/thread-self/ns/net", path, None, sc.MS_BIND)
            with Route() as nl:  # opened in the new namespace
                nl.set_link(nl.index("lo"), up=True)
        finally:
            sc.setns(home, sc.CLONE_NEWNET)
    except BaseException:
        delete_netns(name)
        raise
    finally:
        os.close(home)
    return path


def netns_alive(name: str) -> bool:
    """Is /run/pyrun/netns/NAME someone's: mounted here, or made by a process still alive (a
    build's step, mounted in the build's own mount namespace)?"""
    from runtime.oci.state import process_alive
    path = netns_path(name)
    try:
        if os.stat(path).st_dev != os.stat(NETNS_DIR).st_dev:
            return True  # an nsfs mount
        with open(path) as f:
            words = f.read().split()
    except FileNotFoundError:
        return False
    if len(words) != 2:  # being made this very moment (or by an older pyrun): a grace period
        try:
            return time.time() - os.stat(path).st_mtime < 10
        except FileNotFoundError:
            return False
    return process_alive(int(words[0]), int(words[1]))


def sweep_netns() -> int:
    """Remove the netns files nobody holds any more (a killed build's steps'). Lease-less
    namespaces (--network none) have nothing else to find them by. Returns how many."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return 0
    dead = [n for n in names if n.startswith("pyrun-") and not netns_alive(n)]
    for name in dead:
        delete_netns(name)
    return len(dead)


def delete_netns(name: str) -> None:
    path = netns_path(name)
    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---- IPAM: one lease file per address ------------------------------------------------------------

def lease(container_id: str) -> tuple[str, str, int]:
    """(ip, gateway, prefix) for a container. A lease is a file made with O_EXCL, so two
    concurrent runs can never get the same address; leases of containers that no longer
    exist are taken back (see reclaim)."""
    net = subnet()
    os.makedirs(LEASES, 0o755, exist_ok=True)
    gateway = next(net.hosts())
    for attempt in range(2):
        hosts = net.hosts()
        next(hosts)  # the gateway's
        for ip in hosts:
            path = os.path.join(LEASES, ip)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.write(fd, container_id.encode())
            os.close(fd)
            return ip, gateway, net.prefixlen
        if attempt == 0:
            reclaim()
    raise NetworkError(f"no free address left in {net}")


def release(ip: str) -> None:
    try:
        os.unlink(os.path.join(LEASES, ip))
    except FileNotFoundError:
        pass


def reclaim() -> int:
    """Drop leases whose owner is gone (after a crash or a kill), with what else it left: its
    netns file and the host end of its veth. Under network_lock(). Leases are host-wide while
    containers live in stores, so liveness is read off the host: the owner's network
    namespace file (netns_alive). Returns how many leases went."""
    try:
        names = os.listdir(LEASES)
    except FileNotFoundError:
        return 0
    released = 0
    for ip in names:
        try:
            with open(os.path.join(LEASES, ip)) as f:
                owner = f.read().strip()
        except FileNotFoundError:
            continue
        name = f"pyrun-{owner[:12]}"
        if not netns_alive(name):
            release(ip)
            delete_netns(name)
            delete_link(veth_name(owner))
            released += 1
    return released


# ---- links ------------------------------------------------------------------------------------

def ensure_bridge() -> str:
    """pyrun0 with the gateway address, up; forwarding on; localhost DNAT allowed on it.
    Under network_lock()."""
    from runtime.net.netlink import Route
    net = subnet()
    gateway = next(net.hosts())
    with Route() as nl:
        if not nl.exists(BRIDGE):
            try:
                nl.add_bridge(BRIDGE)
            except OSError as e:
                raise NetworkError(f"cannot create bridge {BRIDGE}: {e.strerror}") from None
        idx = nl.index(BRIDGE)
        if gateway not in nl.addresses(idx):
            nl.add_address(idx, gateway, net.prefixlen)
        nl.set_link(idx, up=True)
    _sysctl("net/ipv4/ip_forward", "1")
    # 127.0.0.1:PORT is DNATed to the container: the kernel must route a loopback source.
    _sysctl(f"net/ipv4/conf/{BRIDGE}/route_localnet", "1")
    return BRIDGE


def _sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key
    try:
        with open(path) as f:
            if f.read().strip() == value:
                return
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise NetworkError(f"sysctl {key.replace('/', '.')}={value}: {e.strerror}") from None


def veth_name(container_id: str) -> str:
    return "pyrun" + container_id[:9]  # 14 characters: under IFNAMSIZ


def attach(container_id: str, netns: str) -> dict:
    """Wire a container's network namespace to the bridge: a veth pair whose inner end is
    eth0 (the MAC made of the address), the address, the default route via the bridge."""
    from runtime.net.netlink import Route, mac_for
    with network_lock():
        ensure_bridge()
        ip, gateway, prefix = lease(container_id)
    host_if = veth_name(container_id)
    mac = mac_for(ip)
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with Route() as nl:
            bridge_idx = nl.index(BRIDGE)
            try:
                nl.add_veth(host_if, "eth0", peer_netns_fd=fd, peer_mac=mac, master=bridge_idx)
            except FileExistsError:
                # the last run of this container left it (its namespace not yet reaped)
                nl.delete_link(nl.index(host_if))
                nl.add_veth(host_if, "eth0", peer_netns_fd=fd, peer_mac=mac, master=bridge_idx)
            nl.set_link(nl.index(host_if), up=True)
        with Route(netns_fd=fd) as ns:
            idx = ns.index("eth0")
            ns.add_address(idx, ip, prefix)
            ns.set_link(idx, up=True)
            ns.add_default_route(gateway)  # after up: the gateway must be reachable
    except OSError as e:
        release(ip)
        delete_link(host_if)
        raise NetworkError(f"network setup for {container_id[:12]}: {e.strerror or e}") \
            from None
    finally:
        os.close(fd)
    return {"ip": ip, "gateway": gateway, "prefix": prefix, "veth": host_if, "mac": mac}


def delete_link(name: str) -> None:
    from runtime.net.netlink import Route
    try:
        with Route() as nl:
            nl.delete_link(nl.index(name))
    except OSError:
        pass  # already gone


def detach(net: dict | None) -> None:
    """Undo attach (safe to repeat): the address goes back to the pool. The veth pair is not
    deleted here: the kernel destroys both ends with the namespace (delete_netns), in the
    background, where a deletion now would wait ~15 ms for its grace periods."""
    if net and net.get("ip"):
        with network_lock():
            release(net["ip"])


def leases_in_use() -> bool:
    """Does any container (or build step) hold an address? Under network_lock()."""
    try:
        return bool(os.listdir(LEASES))
    except FileNotFoundError:
        return False
