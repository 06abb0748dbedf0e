"""What neither a container nor another host may reach on this host, tried with crafted
frames as an attacker sends them: the host's 127.0.0.1 from a container (a container has
CAP_NET_RAW by default, as Docker's), another container's address as a container's own
(networks are told apart by source address), and from a neighbour a port published on
127.0.0.1 alone or a container's own address. Each case beside a control the same frame
reaches when it is allowed, so that a frame that never left cannot pass for a drop."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import uuid

import pytest

from tests.conftest import free_port
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def udp_frame(dst_mac: bytes, src_mac: bytes, src: str, dst: str, dport: int,
              payload: bytes) -> bytes:
    """An Ethernet frame with one UDP datagram (no UDP checksum, which IPv4 allows)."""
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, socket.IPPROTO_UDP,
                     0, socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def in_netns(netns: str, fn) -> None:
    """fn() in a child that has joined the network namespace at `netns`."""
    from runtime.linux import syscalls as sc
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(netns, os.O_RDONLY)
            sc.setns(fd, sc.CLONE_NEWNET, netns)
            fn()
            code = 0
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0


def send_frames(netns: str, ifname: str, dst_mac: bytes, datagrams) -> None:
    """From `ifname` in `netns`, each (src, dst, dport, payload) to dst_mac."""
    def send():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((ifname, 0))
        src_mac = s.getsockname()[4]
        for src, dst, dport, payload in datagrams:
            s.send(udp_frame(dst_mac, src_mac, src, dst, dport, payload))
        s.close()
    in_netns(netns, send)


def received(sock: socket.socket, timeout: float = 1.0) -> list[bytes]:
    out = []
    sock.settimeout(timeout)
    try:
        while True:
            out.append(sock.recv(100))
            sock.settimeout(0.2)
    except socket.timeout:
        return out


def mac_of(name: str) -> bytes:
    with open(f"/sys/class/net/{name}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def link_of_peer(netns: str, ifname: str = "eth0") -> str:
    """The host's end of the container's veth: its IFLA_LINK, read in the namespace (sysfs
    shows the host's links whatever the namespace)."""
    r, w = os.pipe()

    def read():
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            (link,) = ipr.get_links(ipr.link_lookup(ifname=ifname)[0])
            os.write(w, str(link.get_attr("IFLA_LINK")).encode())
    in_netns(netns, read)
    os.close(w)
    index = int(os.read(r, 32))
    os.close(r)
    return socket.if_indextoname(index)


def test_a_container_cannot_reach_the_hosts_loopback(engine):  # noqa: F811
    engine("run", "-d", "--name", "pyrun-t-raw", "busybox", "sleep", "30")
    settings = json.loads(engine("inspect", "pyrun-t-raw").stdout)[0]["NetworkSettings"]
    caps = engine("exec", "pyrun-t-raw", "grep", "CapEff", "/proc/self/status").stdout
    assert int(caps.split()[1], 16) & (1 << 13)  # CAP_NET_RAW: it could craft these frames
    loopback, anywhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), \
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loopback.bind(("127.0.0.1", 0))
    anywhere.bind(("0.0.0.0", 0))
    try:
        gateway_mac = mac_of(link_of_peer(settings["Netns"]))
        send_frames(settings["Netns"], "eth0", gateway_mac, [
            (settings["IPAddress"], settings["Gateway"], anywhere.getsockname()[1], b"control"),
            (settings["IPAddress"], "127.0.0.1", loopback.getsockname()[1], b"escape"),
        ])
        assert received(anywhere) == [b"control"]  # the frames do reach the host
        assert received(loopback) == []
    finally:
        loopback.close()
        anywhere.close()


def test_a_container_cannot_speak_with_another_containers_address(engine):  # noqa: F811
    for name in ("pyrun-t-a", "pyrun-t-b"):
        engine("run", "-d", "--name", name, "busybox", "sleep", "30")
    a, b = (json.loads(engine("inspect", name).stdout)[0]["NetworkSettings"]
            for name in ("pyrun-t-a", "pyrun-t-b"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    try:
        send_frames(a["Netns"], "eth0", mac_of(link_of_peer(a["Netns"])), [
            (a["IPAddress"], a["Gateway"], port, b"own"),
            (b["IPAddress"], a["Gateway"], port, b"spoofed"),
            ("198.18.0.9", a["Gateway"], port, b"made up"),
        ])
        assert received(listener) == [b"own"]
    finally:
        listener.close()


@pytest.fixture
def neighbour():
    """Another host on a link of this one: a namespace behind a veth whose host end is
    198.18.77.1/30 (a benchmark range) and is none of pyrun's links. Removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    ns, link = f"pyrun-t-lan{tag}", f"lanpyrun{tag}"
    netns = f"/run/netns/{ns}"

    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True)
    try:
        ip("netns", "add", ns)
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("addr", "add", "198.18.77.1/30", "dev", link)
        ip("link", "set", link, "up")
        ip("-n", ns, "addr", "add", "198.18.77.2/30", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        yield netns, mac_of(link)
    finally:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_neighbour_reaches_published_ports_alone(engine, neighbour):  # noqa: F811
    """Not a port published on 127.0.0.1 alone, nor the container's address itself (the
    host forwards: a neighbour may route a container subnet through it). busybox has no
    UDP listener: the test listens in the container's namespace."""
    netns, host_mac = neighbour
    everywhere, local_only = free_port(), free_port()
    engine("run", "-d", "--name", "pyrun-t-lo", "-p", f"{everywhere}:9999/udp", "-p",
           f"127.0.0.1:{local_only}:9998/udp", "busybox", "sleep", "30")
    settings = json.loads(engine("inspect", "pyrun-t-lo").stdout)[0]["NetworkSettings"]
    container = settings["Netns"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # in the container's namespace: what each port gets, one line
        try:
            from runtime.linux import syscalls as sc
            sc.setns(os.open(container, os.O_RDONLY), sc.CLONE_NEWNET, container)
            socks = []
            for port in (9999, 9998, 9997):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("0.0.0.0", port))
                socks.append(s)
            os.write(w, b"ready")
            got = [b"+".join(received(s, 2.0)) for s in socks]
            os.write(w, b" ".join(got) or b"-")
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 5) == b"ready"
        send_frames(netns, "eth0", host_mac, [
            ("198.18.77.2", "198.18.77.1", everywhere, b"control"),
            ("198.18.77.2", "127.0.0.1", local_only, b"escape"),
            ("198.18.77.2", settings["IPAddress"], 9997, b"routed"),
        ])
        assert os.read(r, 100).split(b" ") == [b"control", b"", b""]
    finally:
        os.close(r)
        os.waitpid(pid, 0)
