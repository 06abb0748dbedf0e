"""Bridge networks (Docker's driver name), routed: a veth pair per container and network
whose host end is no bridge's port; addresses from a lease directory each (IPAM).

    attach(container_id, netns_path[, net, ifname]) -> {"ip", "gateway", "prefix", "veth", ...}
    detach(attachment)

Each network has one link of its own holding the gateway address with the network's
prefix, a Linux bridge without ports (the kind of link every kernel with containers has; no
packet crosses it): the default network (`bridge`) pyrun0 on 10.89.0.0/24 with its leases in
LEASES, a user-defined network (runtime/net/networks.py) pyrunbr-<id> with its leases in
LEASES-<id>, beside it. Its prefix route ends there, so an address nobody holds leads
nowhere. Each container's host end of its veth has a /32 route to the container's
address, the gateway address too (without a prefix route), and answers ARP for the rest of
the network (proxy ARP): inside, the container sees the same /24, gateway and default
route as on a Docker bridge, and its neighbours are reached through the host.

Why the containers are not the bridge's ports: every packet between a container and the
host would cross the bridge too, and with br_netfilter (loaded by Docker, built into some
kernels) conntrack and the IP hooks a second time; nginx through a published port lost
some 8% to that (BENCHMARKS.md). Isolation, which a bridge gave by interface, is by address in
runtime/net/ports.py; rp_filter on each host end makes the source address the container's
own.

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

DEFAULT_LINK = "pyrun0"  # the default network's ("bridge") own link
DEFAULT_SUBNET = "10.89.0.0/24"
NETNS_DIR = paths.NETNS_DIR
LEASES = paths.LEASES


class NetworkError(PyrunError):
    pass


LOCK = paths.NETWORK_LOCK


class network_lock:
    """Serialises changes to the shared network (each network's link, leases, NAT table):
    without it one run could remove the link that another has just made but not yet leased
    on."""

    def __enter__(self):
        import fcntl
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self.fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class Subnet:
    """An IPv4 network as a network's link uses one: str() "10.89.0.0/24", prefixlen, hosts() in
    order (the first is the gateway). Not ipaddress.IPv4Network: its import would be on
    every bridged start (scripts/bench imports)."""

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


    def contains(self, ip: str) -> bool:
        try:
            value = int.from_bytes(bytes(int(o) for o in ip.split(".")), "big")
        except ValueError:
            return False
        return self.value <= value < self.value + self.size

    def overlaps(self, other: "Subnet") -> bool:
        return self.value < other.value + other.size and other.value < self.value + self.size


def subnet() -> Subnet:
    """The default network's subnet: PYRUN_SUBNET, else 10.89.0.0/24."""
    return Subnet(os.environ.get("PYRUN_SUBNET", DEFAULT_SUBNET))


class Net:
    """A network as the kernel side needs it: its own link's name, subnet, gateway and
    lease directory. `internal` networks reach no further than their own containers."""

    def __init__(self, link: str, net: Subnet, gateway: str | None = None,
                 leases: str | None = None, internal: bool = False):
        self.link = link
        self.subnet = net
        self.gateway = gateway or next(net.hosts())
        self.leases = leases or LEASES
        self.internal = internal


def default_net() -> Net:
    return Net(DEFAULT_LINK, subnet())


def pool_dirs() -> list[str]:
    """Every network's lease directory: LEASES and its LEASES-<id> siblings."""
    parent, base = os.path.split(LEASES)
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    return [os.path.join(parent, n) for n in names
            if n == base or n.startswith(base + "-")]


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

def lease(container_id: str, net: Net | None = None, veth: str | None = None,
          ip: str | None = None) -> str:
    """An address of `net` for a container (`ip` if given and free). A lease is a file made
    with O_EXCL, so two concurrent runs can never get the same address; leases of containers
    that no longer exist are taken back (see reclaim). The file holds the owner's id and the
    host end of its veth, for reclaim."""
    net = net or default_net()
    os.makedirs(net.leases, 0o755, exist_ok=True)
    owner = container_id if veth is None else f"{container_id} {veth}"
    for attempt in range(2):
        candidates = [ip] if ip else (h for h in net.subnet.hosts() if h != net.gateway)
        for candidate in candidates:
            path = os.path.join(net.leases, candidate)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.write(fd, owner.encode())
            os.close(fd)
            return candidate
        if attempt == 0:
            reclaim()
    if ip:
        raise NetworkError(f"Address already in use: {ip}")
    raise NetworkError(f"no free address left in {net.subnet}")


def release(ip: str, leases: str | None = None) -> None:
    try:
        os.unlink(os.path.join(leases or LEASES, ip))
    except FileNotFoundError:
        pass


def reclaim() -> int:
    """Drop leases whose owner is gone (after a crash or a kill), with what else it left: its
    netns file and the host end of its veth. Under network_lock(). Leases are host-wide while
    containers live in stores, so liveness is read off the host: the owner's network
    namespace file (netns_alive). Returns how many leases went."""
    released = 0
    for pool in pool_dirs():
        try:
            names = os.listdir(pool)
        except FileNotFoundError:
            continue
        for ip in names:
            try:
                with open(os.path.join(pool, ip)) as f:
                    owner, _, veth = f.read().strip().partition(" ")
            except FileNotFoundError:
                continue
            name = f"pyrun-{owner[:12]}"
            if not netns_alive(name):
                release(ip, pool)
                delete_netns(name)
                delete_link(veth or veth_name(owner))
                released += 1
    return released


# ---- links ------------------------------------------------------------------------------------

def ensure_link(net: Net | None = None) -> str:
    """The network's own link (a bridge without ports) with the gateway address, up;
    forwarding on. Under network_lock()."""
    from runtime.net.netlink import Route
    net = net or default_net()
    with Route() as nl:
        if not nl.exists(net.link):
            try:
                nl.add_link(net.link, "bridge")
            except OSError as e:
                raise NetworkError(f"cannot create link {net.link}: {e.strerror}") from None
        idx = nl.index(net.link)
        if net.gateway not in nl.addresses(idx):
            nl.add_address(idx, net.gateway, net.subnet.prefixlen)
        nl.set_link(idx, up=True)
    _sysctl("net/ipv4/ip_forward", "1")
    return net.link


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


def veth_name(container_id: str, net: Net | None = None) -> str:
    """The host end of a container's veth: pyrun + 9 characters of the id on the default
    network, 6 of the id and 4 of the network's link's on another (15 characters:
    IFNAMSIZ - 1)."""
    if net is None or net.link == DEFAULT_LINK:
        return "pyrun" + container_id[:9]
    return "pyrun" + container_id[:6] + net.link[-4:]


def free_ifname(netns: str) -> str:
    """The first of eth0, eth1, ... not taken in the namespace (for one more network)."""
    from runtime.net.netlink import Route
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with Route(netns_fd=fd) as ns:
            return next(f"eth{i}" for i in range(1 << 16) if not ns.exists(f"eth{i}"))
    finally:
        os.close(fd)


def attach(container_id: str, netns: str, net: Net | None = None, ifname: str = "eth0",
           ip: str | None = None, default_route: bool = True) -> dict:
    """Wire a container's network namespace to a network: a veth pair whose inner end is
    `ifname` (the MAC made of the address) with the address and (for the first network) the
    default route via the gateway; the host end with the route to that address."""
    from runtime.net.netlink import PROXY_ARP, ROUTE_LOCALNET, RP_FILTER, Route, mac_for
    net = net or default_net()
    host_if = veth_name(container_id, net)
    with network_lock():
        ensure_link(net)
        ip = lease(container_id, net, None if net.link == DEFAULT_LINK else host_if, ip)
    mac = mac_for(ip)
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with Route() as nl:
            try:
                nl.add_veth(host_if, ifname, peer_netns_fd=fd, peer_mac=mac)
            except FileExistsError:
                # the last run of this container left it (its namespace not yet reaped)
                nl.delete_link(nl.index(host_if))
                nl.add_veth(host_if, ifname, peer_netns_fd=fd, peer_mac=mac)
            idx = nl.index(host_if)
            # The host end answers ARP for the container's neighbours (at once: no
            # proxy_delay); drops what the container sends from an address not routed back
            # through it (rp_filter: no container speaks with another's address, which the
            # isolation by address in ports.py relies on); routes 127.0.0.0/8, for the DNAT
            # of 127.0.0.1:PORT (route_localnet; ports.py drops what comes in for 127/8).
            nl.set_link(idx, up=True, inet={PROXY_ARP: 1, RP_FILTER: 1, ROUTE_LOCALNET: 1})
            nl.set_proxy_delay(idx, 0)
            nl.add_address(idx, net.gateway, net.subnet.prefixlen, prefix_route=False)
            # replaces the route a container that had this address may still hold: its
            # veth goes with its namespace, in the kernel's own time
            nl.route_to(ip, idx)
        with Route(netns_fd=fd) as ns:
            idx = ns.index(ifname)
            ns.add_address(idx, ip, net.subnet.prefixlen)
            ns.set_link(idx, up=True)
            if default_route and not net.internal:
                ns.add_default_route(net.gateway)  # after up: the gateway must be reachable
    except OSError as e:
        release(ip, net.leases)
        delete_link(host_if)
        raise NetworkError(f"network setup for {container_id[:12]}: {e.strerror or e}") \
            from None
    finally:
        os.close(fd)
    return {"ip": ip, "gateway": net.gateway, "prefix": net.subnet.prefixlen,
            "veth": host_if, "mac": mac, "leases": net.leases}


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
    background, where a deletion now would wait for its grace periods."""
    if net and net.get("ip"):
        with network_lock():
            release(net["ip"], net.get("leases"))


def leases_in_use(pool: str | None = None) -> bool:
    """Does any container (or build step) hold an address, on any network or in the pool
    given? Under network_lock()."""
    for d in [pool] if pool else pool_dirs():
        try:
            if os.listdir(d):
                return True
        except FileNotFoundError:
            pass
    return False
