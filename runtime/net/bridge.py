"""The default bridge network: pyrun0, a veth pair per container, addresses from IPAM.

    attach(container_id, netns_path) -> Attachment(ip, gateway, veth)
    detach(attachment)

Links, addresses and routes go through pyroute2 (netlink). Named network namespaces live at
/run/pyrun/netns/<name> (a bind mount of the namespace file, like `ip netns`), so the OCI
config joins them by path and the engine can set them up before the container starts.
"""

from __future__ import annotations

import ipaddress
import os

from runtime.errors import PyrunError
from runtime.linux import syscalls as sc

BRIDGE = "pyrun0"
DEFAULT_SUBNET = "10.89.0.0/24"
NETNS_DIR = "/run/pyrun/netns"
LEASES = "/var/lib/pyrun/network/leases"


class NetworkError(PyrunError):
    pass


LOCK = "/run/pyrun/network.lock"


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


def subnet() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(os.environ.get("PYRUN_SUBNET", DEFAULT_SUBNET))


# ---- network namespaces -------------------------------------------------------------------------

def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def create_netns(name: str) -> str:
    """A new network namespace, pinned by a bind mount at /run/pyrun/netns/<name>.

    A child unshares it and waits; we bind-mount its /proc/PID/ns/net, then let it exit."""
    os.makedirs(NETNS_DIR, 0o755, exist_ok=True)
    path = netns_path(name)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o444))
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWNET)
            os.write(ready_w, b"1")
            os.read(done_r, 1)  # returns when the parent closes its end
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise NetworkError("could not create a network namespace")
        sc.mount(f"/proc/{pid}/ns/net", path, None, sc.MS_BIND)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)
    return path


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
    hosts = list(net.hosts())
    gateway = str(hosts[0])
    for attempt in range(2):
        for ip in hosts[1:]:
            path = os.path.join(LEASES, str(ip))
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.write(fd, container_id.encode())
            os.close(fd)
            return str(ip), gateway, net.prefixlen
        if attempt == 0:
            reclaim()
    raise NetworkError(f"no free address left in {net}")


def release(ip: str) -> None:
    try:
        os.unlink(os.path.join(LEASES, ip))
    except FileNotFoundError:
        pass


def reclaim() -> None:
    """Drop leases whose owner is no longer wired (after a crash). Leases are host-wide while
    containers live in stores, so liveness is read off the host: an owner's network namespace
    (/run/pyrun/netns/pyrun-<id>) exists exactly as long as it is attached."""
    try:
        names = os.listdir(LEASES)
    except FileNotFoundError:
        return
    for ip in names:
        try:
            with open(os.path.join(LEASES, ip)) as f:
                owner = f.read().strip()
        except FileNotFoundError:
            continue
        if not os.path.exists(netns_path(f"pyrun-{owner[:12]}")):
            release(ip)


# ---- links ------------------------------------------------------------------------------------

def _ipr(**kw):
    from pyroute2 import IPRoute  # ~190 ms: only on the way to a networked container
    return IPRoute(**kw)


def ensure_bridge() -> str:
    """pyrun0 with the gateway address, up; forwarding on; localhost DNAT allowed on it."""
    net = subnet()
    gateway = str(next(net.hosts()))
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=BRIDGE)
        if not found:
            try:
                ipr.link("add", ifname=BRIDGE, kind="bridge")
            except Exception as e:  # noqa: BLE001 - a concurrent run made it first
                if not ipr.link_lookup(ifname=BRIDGE):
                    raise NetworkError(f"cannot create bridge {BRIDGE}: {e}") from None
            found = ipr.link_lookup(ifname=BRIDGE)
        idx = found[0]
        addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)]
        if gateway not in addrs:
            try:
                ipr.addr("add", index=idx, address=gateway, prefixlen=net.prefixlen)
            except Exception:  # noqa: BLE001 - added concurrently
                pass
        ipr.link("set", index=idx, state="up")
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
    """Wire a container's network namespace to the bridge: veth pair, address, route."""
    with network_lock():
        ensure_bridge()
        ip, gateway, prefix = lease(container_id)
    host_if = veth_name(container_id)
    peer = "pyruntmp" + container_id[:7]
    try:
        with _ipr() as ipr:
            ipr.link("add", ifname=host_if, kind="veth", peer=peer)
            host_idx = ipr.link_lookup(ifname=host_if)[0]
            bridge_idx = ipr.link_lookup(ifname=BRIDGE)[0]
            ipr.link("set", index=host_idx, master=bridge_idx, state="up")
            peer_idx = ipr.link_lookup(ifname=peer)[0]
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ipr.link("set", index=peer_idx, net_ns_fd=fd)
            finally:
                os.close(fd)
        with _ipr(netns=netns) as ns:
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            idx = ns.link_lookup(ifname=peer)[0]
            ns.link("set", index=idx, ifname="eth0")
            ns.addr("add", index=idx, address=ip, prefixlen=prefix)
            ns.link("set", index=idx, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=gateway)
    except Exception as e:  # noqa: BLE001
        release(ip)
        _delete_link(host_if)
        raise NetworkError(f"network setup for {container_id[:12]}: {e}") from None
    return {"ip": ip, "gateway": gateway, "prefix": prefix, "veth": host_if,
            "mac": _mac(netns)}


def _mac(netns: str) -> str:
    try:
        with _ipr(netns=netns) as ns:
            link = ns.get_links(ns.link_lookup(ifname="eth0")[0])[0]
            return link.get_attr("IFLA_ADDRESS") or ""
    except Exception:  # noqa: BLE001
        return ""


def _delete_link(name: str) -> None:
    if not os.path.exists(f"/sys/class/net/{name}"):
        return  # nothing to delete, and no pyroute2 import (~90 ms) to find that out
    try:
        with _ipr() as ipr:
            found = ipr.link_lookup(ifname=name)
            if found:
                ipr.link("del", index=found[0])
    except Exception:  # noqa: BLE001 - already gone
        pass


def detach(net: dict | None) -> None:
    """Undo attach (safe to repeat): the veth (its peer goes with it), the lease."""
    if not net:
        return
    with network_lock():
        if net.get("veth"):
            _delete_link(net["veth"])
        if net.get("ip"):
            release(net["ip"])


def leases_in_use() -> bool:
    """Does any container (or build step) hold an address? Under network_lock()."""
    try:
        return bool(os.listdir(LEASES))
    except FileNotFoundError:
        return False


def remove_bridge_if_unused() -> None:
    """The bridge goes when no container uses it (so nothing stays behind after the last)."""
    with network_lock():
        if not leases_in_use():
            _delete_link(BRIDGE)


class Attached:
    """A network namespace on the bridge for as long as the `with` block runs: what a
    build's RUN step uses. The namespace, veth, lease and (for the last user) the bridge and
    the NAT table are gone afterwards, also when the block fails."""

    def __init__(self, owner_id: str):
        self.owner_id = owner_id
        self.name = f"pyrun-{owner_id[:12]}"
        self.path = None
        self.net = None

    def __enter__(self) -> "Attached":
        from runtime.net import ports
        try:
            self.path = create_netns(self.name)
            self.net = attach(self.owner_id, self.path)
            ports.ensure_table()  # masquerade: the step reaches the package mirror
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        from runtime.net import ports
        detach(self.net)
        if self.path:
            delete_netns(self.name)
        try:
            ports.remove_table_if_unused()
        except PyrunError:
            pass
        remove_bridge_if_unused()
