"""runtime/net/netlink.py: the messages it sends, read back by pyroute2 (an independent
implementation of the same format), and the kernel's answers as it reads them."""

from __future__ import annotations

import errno
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from runtime.net import netlink

HDR = struct.Struct("=IHHII")


class KernelDouble:
    """Records what is sent; answers each request with the scripted replies, then an ack
    (NLMSG_ERROR carrying `error`)."""

    def __init__(self, replies=(), error: int = 0):
        self.sent = []
        self.replies = list(replies)
        self.error = error

    def sendto(self, data, addr):
        assert addr == (0, 0)  # to the kernel
        self.sent.append(data)

    def recv(self, n):
        seq = HDR.unpack_from(self.sent[-1])[3]
        out = b""
        for kind, payload in self.replies:
            out += HDR.pack(HDR.size + len(payload), kind, 0, seq, 0) + payload
        self.replies = []
        ack = struct.pack("=i", -self.error) + self.sent[-1][:HDR.size]
        return out + HDR.pack(HDR.size + len(ack), netlink.NLMSG_ERROR, 0, seq, 0) + ack


def sent(kernel, cls):
    msg = cls(kernel.sent[-1])
    msg.decode()
    return msg


def test_a_veth_pair_in_one_message_with_its_peer_in_the_namespace():
    k = KernelDouble()
    netlink.Route(sock=k).add_veth("pyrunab12", "eth0", peer_netns_fd=7,
                                   peer_mac="02:70:0a:59:00:02")
    m = sent(k, ifinfmsg)
    assert m["header"]["type"] == netlink.RTM_NEWLINK
    flags = m["header"]["flags"]
    assert flags & netlink.NLM_F_CREATE and flags & netlink.NLM_F_EXCL and flags & netlink.NLM_F_ACK
    assert m.get_attr("IFLA_IFNAME") == "pyrunab12" and m.get_attr("IFLA_MASTER") is None
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_NET_NS_FD") == 7
    assert peer.get_attr("IFLA_ADDRESS") == "02:70:0a:59:00:02"
    # created down: the kernel refuses to bring up a veth before its pair exists
    assert m["flags"] == 0 and peer["flags"] == 0


def test_a_dummy_link_up_and_a_links_ipv4_settings():
    k = KernelDouble()
    nl = netlink.Route(sock=k)
    nl.add_link("pyrun0", "dummy")
    m = sent(k, ifinfmsg)
    assert m.get_attr("IFLA_IFNAME") == "pyrun0"
    assert m.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "dummy"
    nl.set_link(9, up=True, inet={netlink.PROXY_ARP: 1, netlink.RP_FILTER: 1,
                                  netlink.ROUTE_LOCALNET: 1})
    m = sent(k, ifinfmsg)
    assert (m["index"], m["flags"] & 1, m["change"] & 1) == (9, 1, 1)
    # read by hand: pyroute2 decodes IFLA_INET_CONF as the kernel's full dump, not as the
    # sparse attributes a change sends (devconf index: value; linux/ip.h)
    attrs = netlink.parse_attrs(k.sent[-1][HDR.size + 16:])
    inet = netlink.parse_attrs(netlink.parse_attrs(attrs[netlink.IFLA_AF_SPEC])[2])
    conf = netlink.parse_attrs(inet[netlink.IFLA_INET_CONF])
    assert {key: struct.unpack("=I", v)[0] for key, v in conf.items()} == {
        3: 1, 8: 1, 26: 1}  # IPV4_DEVCONF_PROXY_ARP, _RP_FILTER, _ROUTE_LOCALNET
    nl.set_link(9, up=False)
    m = sent(k, ifinfmsg)
    assert (m["flags"] & 1, m["change"] & 1) == (0, 1)
    assert netlink.IFLA_AF_SPEC not in netlink.parse_attrs(k.sent[-1][HDR.size + 16:])


def test_proxy_delay_of_one_link():
    from pyroute2.netlink.rtnl.ndtmsg import ndtmsg
    k = KernelDouble()
    netlink.Route(sock=k).set_proxy_delay(9, 0)
    m = sent(k, ndtmsg)
    assert m["header"]["type"] == netlink.RTM_SETNEIGHTBL and m["family"] == 2
    assert m.get_attr("NDTA_NAME") == "arp_cache"
    parms = m.get_attr("NDTA_PARMS")
    assert (parms.get_attr("NDTPA_IFINDEX"), parms.get_attr("NDTPA_PROXY_DELAY")) == (9, 0)


def test_addresses_and_routes():
    k = KernelDouble()
    nl = netlink.Route(sock=k)
    nl.add_address(3, "10.89.0.2", 24)
    m = sent(k, ifaddrmsg)
    assert (m["index"], m["prefixlen"]) == (3, 24)
    assert m.get_attr("IFA_LOCAL") == "10.89.0.2" and m.get_attr("IFA_ADDRESS") == "10.89.0.2"
    assert m.get_attr("IFA_FLAGS") is None
    nl.add_address(3, "10.89.0.1", 24, prefix_route=False)
    assert sent(k, ifaddrmsg).get_attr("IFA_FLAGS") == netlink.IFA_F_NOPREFIXROUTE
    nl.add_default_route("10.89.0.1")
    m = sent(k, rtmsg)
    assert m["header"]["type"] == netlink.RTM_NEWROUTE
    assert (m["dst_len"], m["table"]) == (0, 254) and m.get_attr("RTA_GATEWAY") == "10.89.0.1"
    nl.route_to("10.89.0.2", 7)
    m = sent(k, rtmsg)
    assert m["header"]["flags"] & netlink.NLM_F_REPLACE  # over a route an old veth holds
    assert (m["dst_len"], m["scope"], m.get_attr("RTA_DST"), m.get_attr("RTA_OIF")) == (
        32, 253, "10.89.0.2", 7)
    assert m.get_attr("RTA_GATEWAY") is None


def test_a_link_is_found_by_name_and_its_index_read_from_the_reply():
    reply = netlink.ifinfo(index=42) + netlink.attr(netlink.IFLA_IFNAME, b"pyrun0\0")
    k = KernelDouble(replies=[(netlink.RTM_NEWLINK, reply)])
    assert netlink.Route(sock=k).index("pyrun0") == 42
    assert sent(k, ifinfmsg).get_attr("IFLA_IFNAME") == "pyrun0"


def test_addresses_of_one_link_from_a_dump():
    def addr(index, ip):
        return struct.pack("=BBBBI", 2, 24, 0, 0, index) + netlink.attr(
            netlink.IFA_LOCAL, bytes(int(b) for b in ip.split(".")))
    k = KernelDouble(replies=[(netlink.RTM_NEWADDR, addr(1, "127.0.0.1")),
                              (netlink.RTM_NEWADDR, addr(5, "10.89.0.1")),
                              (netlink.NLMSG_DONE, b"\0" * 4)])
    assert netlink.Route(sock=k).addresses(5) == ["10.89.0.1"]
    assert HDR.unpack_from(k.sent[-1])[2] & netlink.NLM_F_DUMP == netlink.NLM_F_DUMP


@pytest.mark.parametrize("code,cls", [(errno.EEXIST, FileExistsError),
                                      (errno.ENODEV, OSError), (errno.EPERM, PermissionError)])
def test_kernel_errors_are_oserrors_naming_the_request(code, cls):
    k = KernelDouble(error=code)
    with pytest.raises(cls) as e:
        netlink.Route(sock=k).add_veth("pyrunab12", "eth0")
    assert e.value.errno == code and str(e.value).startswith(f"[Errno {code}] netlink add veth")


def test_exists_is_false_only_for_a_missing_link():
    assert netlink.Route(sock=KernelDouble(error=errno.ENODEV)).exists("nope") is False
    with pytest.raises(PermissionError):
        netlink.Route(sock=KernelDouble(error=errno.EPERM)).exists("pyrun0")


def test_mac_is_made_of_the_address():
    assert netlink.mac_for("10.89.0.2") == "02:70:0a:59:00:02"
    assert netlink.mac_for("192.168.255.254") == "02:70:c0:a8:ff:fe"


def test_subnet_as_ipaddress_has_it():
    import ipaddress

    from runtime.net.bridge import NetworkError, Subnet
    for text in ("10.89.0.0/24", "172.30.0.0/16", "192.168.7.252/30", "10.0.0.0/8"):
        mine, theirs = Subnet(text), ipaddress.ip_network(text)
        assert (str(mine), mine.prefixlen) == (str(theirs), theirs.prefixlen)
        assert [h for _, h in zip(range(300), mine.hosts())] == \
            [str(h) for _, h in zip(range(300), theirs.hosts())]
    last = list(Subnet("10.89.0.0/24").hosts())[-1]
    assert last == "10.89.0.254"  # not the broadcast
    for bad in ("10.89.0.0", "10.89.0.1/24", "10.89.0.0/31", "300.1.1.0/24", "a.b.c.d/8"):
        with pytest.raises(NetworkError):
            Subnet(bad)


def test_shared_network_goes_only_after_a_quiet_linger(tmp_path, monkeypatch):
    """Each container's end starts a removal; only one that finds no lease, and none made or
    given back for LINGER seconds, deletes the table and the bridge."""
    import os
    import time

    from runtime.net import bridge, network, ports
    leases = tmp_path / "leases"
    leases.mkdir()
    monkeypatch.setattr(bridge, "LEASES", str(leases))
    monkeypatch.setattr(bridge, "LOCK", str(tmp_path / "network.lock"))
    monkeypatch.setattr(network, "LINGER", 2.0)
    netns = tmp_path / "netns"
    netns.mkdir()
    monkeypatch.setattr(bridge, "NETNS_DIR", str(netns))
    removed = []
    monkeypatch.setattr(ports, "remove_table_if_unused", lambda: removed.append("table"))
    monkeypatch.setattr(bridge, "delete_link", lambda name: removed.append(name))

    network.remove_shared(patience=0)  # a container just gave its address back
    assert removed == []
    old = time.time() - 5
    from runtime.oci.state import own_identity
    (netns / f"pyrun-{'c' * 12}").write_text("{} {}".format(*own_identity()))  # its holder
    (leases / "10.89.0.2").write_text("c" * 64)
    os.utime(leases, (old, old))
    network.remove_shared(patience=0)  # quiet for long, but a container runs
    assert removed == []
    (leases / "10.89.0.2").unlink()
    os.utime(leases, (old, old))
    network.remove_shared(patience=0)
    assert removed == ["table", "pyrun0"]


def test_a_removal_started_while_the_pool_is_busy_waits_for_it_to_be_quiet(tmp_path,
                                                                          monkeypatch):
    """The step whose end would have judged last was killed before it started a removal:
    an earlier removal that found the pool busy must not give up."""
    import os

    from runtime.net import bridge, network, ports
    (tmp_path / "leases").mkdir()
    monkeypatch.setattr(bridge, "LEASES", str(tmp_path / "leases"))
    monkeypatch.setattr(bridge, "LOCK", str(tmp_path / "network.lock"))
    monkeypatch.setattr(network, "LINGER", 0.2)
    removed, slept = [], []
    monkeypatch.setattr(ports, "remove_table_if_unused", lambda: removed.append("table"))
    monkeypatch.setattr(bridge, "delete_link", lambda name: removed.append(name))
    monkeypatch.setattr(network.time, "sleep", lambda s: (slept.append(s), os.utime(
        tmp_path / "leases", (0, 0))))  # time passes: the pool has been quiet since
    network.remove_shared()
    assert len(slept) == 1 and removed == ["table", "pyrun0"]


def test_leases_and_namespaces_of_dead_holders_are_reclaimed(tmp_path, monkeypatch):
    """A build killed with its steps' namespaces mounted in its own mount namespace leaves
    their files (empty here, holding the maker's identity) and leases: the next command's
    repair removes them, veth included, and keeps what a live process holds."""
    import os

    from runtime.net import bridge, network
    from runtime.oci.state import own_identity
    for d in ("leases", "netns"):
        (tmp_path / d).mkdir()
    monkeypatch.setattr(bridge, "LEASES", str(tmp_path / "leases"))
    monkeypatch.setattr(bridge, "NETNS_DIR", str(tmp_path / "netns"))
    monkeypatch.setattr(bridge, "LOCK", str(tmp_path / "network.lock"))
    deleted, scheduled = [], []
    monkeypatch.setattr(bridge, "delete_link", lambda name: deleted.append(name))
    monkeypatch.setattr(network, "remove_shared_if_unused", lambda: scheduled.append(1))
    live, dead, none = "a" * 32, "b" * 32, "d" * 32
    pid, start = own_identity()
    (tmp_path / "netns" / f"pyrun-{live[:12]}").write_text(f"{pid} {start}")
    (tmp_path / "netns" / f"pyrun-{dead[:12]}").write_text(f"{pid} {start + 1}")  # pid reused
    (tmp_path / "netns" / f"pyrun-{none[:12]}").write_text(f"{pid} {start - 1}")  # no lease
    (tmp_path / "leases" / "10.89.0.2").write_text(live)
    (tmp_path / "leases" / "10.89.0.3").write_text(dead)
    network.repair()
    assert os.listdir(tmp_path / "leases") == ["10.89.0.2"]
    assert os.listdir(tmp_path / "netns") == [f"pyrun-{live[:12]}"]
    assert deleted == [bridge.veth_name(dead)]
    assert scheduled == [1]  # the bridge's removal, which the dead step never started
    network.repair()
    assert scheduled == [1]  # nothing repaired: no background removal forked
