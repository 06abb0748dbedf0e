"""rtnetlink, the little of it a container's network needs: links (dummy, veth) and their
IPv4 settings, IPv4 addresses and routes, over a NETLINK_ROUTE socket.

pyroute2 speaks all of netlink, but its import loads its whole package, asyncio included
(several times runc's whole `run`: scripts/bench imports); these few messages are on the way
to every bridged container's start. The tests read the results back with
pyroute2 and `ip`, as independent clients.

    with Route() as nl:                      # the netlink socket of the caller's netns
        nl.add_veth("pyrunab12", "eth0", peer_netns_fd=fd)
        nl.set_link(nl.index("pyrunab12"), up=True, inet={PROXY_ARP: 1})
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
RTM_SETNEIGHTBL = 67
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLA_F_NESTED = 0x8000

# attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_AF_SPEC, IFLA_INET_CONF = 26, 1
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_NOPREFIXROUTE = 0x200
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
NDTA_NAME, NDTA_PARMS, NDTPA_IFINDEX, NDTPA_PROXY_DELAY = 1, 6, 1, 13

# a link's IPv4 settings (linux/ip.h IPV4_DEVCONF_*: net.ipv4.conf.<link>.<name>)
PROXY_ARP, RP_FILTER, ROUTE_LOCALNET = 3, 8, 26

IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253

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


def u64(value: int) -> bytes:
    return struct.pack("=Q", value)


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

    def add_link(self, name: str, kind: str) -> None:
        """A link of a kind that needs no more than its name (dummy, bridge)."""
        self.request(f"add {kind} {name}", RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     ifinfo() + attr(IFLA_IFNAME, strz(name)) +
                     nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, strz(kind))))

    def add_veth(self, name: str, peer: str, *, peer_netns_fd: int | None = None,
                 peer_mac: str | None = None) -> None:
        """A veth pair in one message: name here, peer directly in peer_netns_fd's
        namespace, so it never appears in ours. Both ends are down: a veth cannot be brought
        up before its pair exists (the kernel answers ENOTCONN)."""
        peer_attrs = attr(IFLA_IFNAME, strz(peer))
        if peer_netns_fd is not None:
            peer_attrs += attr(IFLA_NET_NS_FD, u32(peer_netns_fd))
        if peer_mac:
            peer_attrs += attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
        info = nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, strz("veth")),
                      nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, ifinfo() + peer_attrs)))
        self.request(f"add veth {name}", RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     ifinfo() + attr(IFLA_IFNAME, strz(name)) + info)

    def set_link(self, index: int, *, up: bool | None = None,
                 inet: dict[int, int] | None = None) -> None:
        """Up or down, and IPv4 settings ({PROXY_ARP: 1, ...}) in the same message (what
        the sysctls net.ipv4.conf.<link>.* set, without a /proc write each)."""
        body = ifinfo(index, up=up)
        if inet:
            conf = b"".join(attr(key, u32(value)) for key, value in sorted(inet.items()))
            body += nested(IFLA_AF_SPEC, nested(socket.AF_INET, nested(IFLA_INET_CONF, conf)))
        self.request(f"set link {index}", RTM_NEWLINK, 0, body)

    def set_proxy_delay(self, index: int, msecs: int) -> None:
        """The link's ARP proxy_delay (net.ipv4.neigh.<link>.proxy_delay): how long a
        proxied ARP answer waits, 0.8 s by default, for the address's owner to answer
        first."""
        self.request(f"set proxy_delay of link {index}", RTM_SETNEIGHTBL, 0,
                     struct.pack("=B3x", socket.AF_INET) + attr(NDTA_NAME, strz("arp_cache")) +
                     nested(NDTA_PARMS, attr(NDTPA_IFINDEX, u32(index)),
                            attr(NDTPA_PROXY_DELAY, u64(msecs))))

    def delete_link(self, index: int) -> None:
        self.request(f"delete link {index}", RTM_DELLINK, 0, ifinfo(index))

    # ---- addresses and routes ------------------------------------------------------------------

    def add_address(self, index: int, ip: str, prefixlen: int, *,
                    prefix_route: bool = True) -> None:
        """ip/prefixlen on a link; without prefix_route, the kernel adds no route to the
        prefix through it."""
        packed = socket.inet_aton(ip)
        body = (_IFADDR.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index) +
                attr(IFA_LOCAL, packed) + attr(IFA_ADDRESS, packed))
        if not prefix_route:
            body += attr(IFA_FLAGS, u32(IFA_F_NOPREFIXROUTE))
        self.request(f"add address {ip}/{prefixlen}", RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
                     body)

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

    def route_to(self, ip: str, index: int) -> None:
        """ip/32 through a link (scope link: on it, no gateway), replacing a route to ip
        that another link still holds."""
        self.request(f"add route to {ip}", RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE,
                     _RTMSG.pack(socket.AF_INET, 32, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                                 RT_SCOPE_LINK, RTN_UNICAST, 0) +
                     attr(RTA_DST, socket.inet_aton(ip)) + attr(RTA_OIF, u32(index)))
