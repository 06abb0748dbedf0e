"""rtnetlink, the little of it a container's network needs: links (bridge, veth), IPv4
addresses and the default route, over a NETLINK_ROUTE socket.

pyroute2 speaks all of netlink, but its import loads its whole package, asyncio included
(several times runc's whole `run`: scripts/bench imports); these few messages are on the way
to every bridged container's start. The tests read the results back with
pyroute2 and `ip`, as independent clients.

    with Route() as nl:                      # the netlink socket of the caller's netns
        nl.add_veth("pyrunab12", "eth0", peer_netns_fd=fd, master=nl.index("pyrun0"))
        nl.set_link(nl.index("pyrunab12"), up=True)
    with Route(netns_fd=fd) as nl:           # a socket opened inside another netns
        nl.set_link(nl.index("eth0"), up=True)

Kernel errors become OSError(errno, "netlink <what>: <strerror>"), as the syscall module's.
"""

from __future__ import annotations

import _socket as socket  # socket.py would import enum: only the C part is used
import errno
import os
import struct

# message types (linux/rtnetlink.h) and flags (linux/netlink.h)
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE = 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLA_F_NESTED = 0x8000

# attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_GATEWAY = 1, 5

IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HDR = struct.Struct("=IHHII")      # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")   # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg
_ATTR = struct.Struct("=HH")        # rtattr: len, type


def attr(kind: int, value: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    data = _ATTR.pack(_ATTR.size + len(value), kind) + value
    return data + b"\0" * (-len(data) % 4)


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def strz(text: str) -> bytes:
    return text.encode() + b"\0"


def u32(value: int) -> bytes:
    return struct.pack("=I", value)


def ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    flags = IFF_UP if up else 0
    change = IFF_UP if up is not None else 0
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """{type: payload} of a run of rtattrs (the last of a repeated type wins)."""
    out = {}
    off = 0
    while off + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, off)
        if length < _ATTR.size:
            break
        out[kind & ~NLA_F_NESTED] = data[off + _ATTR.size:off + length]
        off += (length + 3) & ~3
    return out


def mac_for(ip: str) -> str:
    """A locally administered MAC made of the IPv4 address (02:70:a:b:c:d), as Docker does:
    an address handed out again comes with the same MAC, so no neighbour cache on the
    bridge holds a stale one for it."""
    return "02:70:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


class Route:
    """A NETLINK_ROUTE socket, in the caller's network namespace or in netns_fd's."""

    def __init__(self, netns_fd: int | None = None, *, sock=None):
        """sock: a socket already open (the unit tests give one that records)."""
        self._seq = 0
        if sock is not None or netns_fd is None:
            self.sock = sock or self._open()
            return
        # A socket belongs to the namespace it was made in: enter, make it, come back.
        from runtime.linux import syscalls as sc
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(netns_fd, sc.CLONE_NEWNET)
            try:
                self.sock = self._open()
            finally:
                sc.setns(home, sc.CLONE_NEWNET)
        finally:
            os.close(home)

    @staticmethod
    def _open() -> socket.socket:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                          socket.NETLINK_ROUTE)
        s.bind((0, 0))
        return s

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Route":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the exchange ------------------------------------------------------------------------

    def request(self, what: str, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request; return the replies of a dump, or [] once the kernel acks."""
        self._seq += 1
        seq = self._seq
        flags |= NLM_F_REQUEST | NLM_F_ACK
        self.sock.sendto(_HDR.pack(_HDR.size + len(body), kind, flags, seq, 0) + body, (0, 0))
        replies = []
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _HDR.size <= len(data):
                length, mtype, _, mseq, _ = _HDR.unpack_from(data, off)
                payload = data[off + _HDR.size:off + length]
                off += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, f"netlink {what}: {os.strerror(err)}")
                    return replies
                if mtype == NLMSG_DONE:
                    return replies
                replies.append((mtype, payload))

    # ---- links ---------------------------------------------------------------------------------

    def index(self, name: str) -> int:
        """The index of the link called name in this socket's namespace (OSError ENODEV)."""
        (_, payload), = self.request(f"get link {name}", RTM_GETLINK, 0,
                                     ifinfo() + attr(IFLA_IFNAME, strz(name)))
        return _IFINFO.unpack_from(payload)[2]

    def exists(self, name: str) -> bool:
        try:
            self.index(name)
            return True
        except OSError as e:
            if e.errno == errno.ENODEV:
                return False
            raise

    def link_attrs(self, index: int) -> dict[int, bytes]:
        (_, payload), = self.request(f"get link {index}", RTM_GETLINK, 0, ifinfo(index))
        return parse_attrs(payload[_IFINFO.size:])

    def add_bridge(self, name: str) -> None:
        self.request(f"add bridge {name}", RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     ifinfo() + attr(IFLA_IFNAME, strz(name)) +
                     nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, strz("bridge"))))

    def add_veth(self, name: str, peer: str, *, peer_netns_fd: int | None = None,
                 peer_mac: str | None = None, master: int | None = None) -> None:
        """A veth pair in one message: name here (on master), peer directly in
        peer_netns_fd's namespace, so it never appears in ours. Both ends are down: a veth
        cannot be brought up before its pair exists (the kernel answers ENOTCONN)."""
        peer_attrs = attr(IFLA_IFNAME, strz(peer))
        if peer_netns_fd is not None:
            peer_attrs += attr(IFLA_NET_NS_FD, u32(peer_netns_fd))
        if peer_mac:
            peer_attrs += attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
        info = nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, strz("veth")),
                      nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, ifinfo() + peer_attrs)))
        body = ifinfo() + attr(IFLA_IFNAME, strz(name)) + info
        if master is not None:
            body += attr(IFLA_MASTER, u32(master))
        self.request(f"add veth {name}", RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def set_link(self, index: int, *, up: bool | None = None, master: int | None = None) -> None:
        body = ifinfo(index, up=up)
        if master is not None:
            body += attr(IFLA_MASTER, u32(master))
        self.request(f"set link {index}", RTM_NEWLINK, 0, body)

    def delete_link(self, index: int) -> None:
        self.request(f"delete link {index}", RTM_DELLINK, 0, ifinfo(index))

    # ---- addresses and routes ------------------------------------------------------------------

    def add_address(self, index: int, ip: str, prefixlen: int) -> None:
        packed = socket.inet_aton(ip)
        self.request(f"add address {ip}/{prefixlen}", RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
                     _IFADDR.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index) +
                     attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed))

    def addresses(self, index: int) -> list[str]:
        """The IPv4 addresses of a link."""
        out = []
        for _, payload in self.request("list addresses", RTM_GETADDR, NLM_F_DUMP,
                                       _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            family, _, _, _, idx = _IFADDR.unpack_from(payload)
            if family == socket.AF_INET and idx == index:
                addr = parse_attrs(payload[_IFADDR.size:]).get(IFA_LOCAL)
                if addr:
                    out.append(socket.inet_ntoa(addr))
        return out

    def add_default_route(self, gateway: str) -> None:
        self.request(f"add default route via {gateway}", RTM_NEWROUTE,
                     NLM_F_CREATE | NLM_F_EXCL,
                     _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                                 RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) +
                     attr(RTA_GATEWAY, socket.inet_aton(gateway)))
