"""The resolver of user-defined networks (runtime/net/dns.py): messages and answers, pure."""

from __future__ import annotations

import socket
import struct

import pytest

from runtime.net import dns

NET_A, NET_B = "a" * 64, "b" * 64
ENTRIES = {
    "c1" * 32: {"netns": "/x", "endpoints": [
        {"network": NET_A, "network_name": "front", "ip": "10.89.1.2",
         "names": ["web", "site", "c1c1c1c1c1c1"]}]},
    "c2" * 32: {"netns": "/y", "endpoints": [
        {"network": NET_A, "network_name": "front", "ip": "10.89.1.3", "names": ["client"]}]},
    "c3" * 32: {"netns": "/z", "endpoints": [
        {"network": NET_B, "network_name": "back", "ip": "10.89.2.2", "names": ["db"]}]},
}


def query(name: str, qtype: int = dns.A, qid: int = 0x1234) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns.encode_name(name) + \
        struct.pack("!HH", qtype, 1)


def test_a_query_is_parsed_case_folded():
    qid, flags, name, qtype, end = dns.parse_query(query("WeB.Front.", dns.AAAA))
    assert (qid, flags, name, qtype, end) == (0x1234, 0x0100, "web.front", dns.AAAA,
                                               len(query("WeB.Front.")))


@pytest.mark.parametrize("msg", [b"", b"\0" * 11, struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0),
                                 struct.pack("!HHHHHH", 1, 0, 2, 0, 0, 0) + b"\0\0\1\0\1",
                                 struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c"])
def test_what_is_not_one_question_is_refused(msg):
    with pytest.raises((ValueError, IndexError, struct.error)):
        dns.parse_query(msg)


@pytest.mark.parametrize("name", ["web", "site", "c1c1c1c1c1c1", "web.front", "WEB"])
def test_names_aliases_and_short_ids_on_a_shared_network_resolve(name):
    assert dns.lookup(ENTRIES, "c2" * 32, name.lower(), dns.A) == \
        (dns.NOERROR, [(dns.A, socket.inet_aton("10.89.1.2"))])


def test_other_networks_names_are_forwarded_not_answered():
    assert dns.lookup(ENTRIES, "c2" * 32, "db", dns.A) is None
    assert dns.lookup(ENTRIES, "c3" * 32, "web", dns.A) is None
    assert dns.lookup(ENTRIES, "unknown", "web", dns.A) is None
    assert dns.lookup(ENTRIES, "c2" * 32, "deb.debian.org", dns.A) is None


def test_a_known_name_has_no_aaaa_records_and_addresses_have_ptr():
    assert dns.lookup(ENTRIES, "c2" * 32, "web", dns.AAAA) == (dns.NOERROR, [])
    rcode, records = dns.lookup(ENTRIES, "c2" * 32, "2.1.89.10.in-addr.arpa", dns.PTR)
    assert rcode == dns.NOERROR and records == [(dns.PTR, dns.encode_name("web.front"))]
    assert dns.lookup(ENTRIES, "c3" * 32, "2.1.89.10.in-addr.arpa", dns.PTR) is None


def test_an_answer_carries_the_question_and_pointer_named_records():
    q = query("web")
    *_, end = dns.parse_query(q)
    reply = dns.answer(q, end, dns.NOERROR, [(dns.A, socket.inet_aton("10.89.1.2"))])
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
    assert (qid, qd, an, ns, ar) == (0x1234, 1, 1, 0, 0)
    assert flags & 0x8000 and flags & 0x0100 and flags & 0xF == 0  # a reply, RD kept, NOERROR
    assert reply[12:end] == q[12:end]
    assert reply[end:end + 2] == b"\xc0\x0c" and reply[-4:] == socket.inet_aton("10.89.1.2")
    nx = dns.answer(q, end, dns.NXDOMAIN, [])
    assert struct.unpack("!H", nx[2:4])[0] & 0xF == dns.NXDOMAIN


def test_upstreams_are_the_host_resolvers_ipv4_ones(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("search x\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 9.9.9.9\n")
    assert dns.upstreams(str(conf)) == [("127.0.0.53", 53), ("9.9.9.9", 53)]
    assert dns.upstreams(str(tmp_path / "none")) == [("8.8.8.8", 53)]
