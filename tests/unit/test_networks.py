"""Network definitions (runtime/net/networks.py) and the bridge's addresses, on files only."""

from __future__ import annotations

import os

import pytest

from runtime.net import bridge, networks
from runtime.net.bridge import NetworkError, Subnet


@pytest.fixture
def defs(network_defs):
    return network_defs


def test_a_network_gets_the_first_free_subnet_and_its_own_link_and_pool(defs):
    a = networks.create("front", labels={"k": "v"})
    b = networks.create("back")  # 10.89.2.0/24 is a route of the host's
    assert a["IPAM"]["Config"] == [{"Subnet": "10.89.1.0/24", "Gateway": "10.89.1.1"}]
    assert b["IPAM"]["Config"] == [{"Subnet": "10.89.3.0/24", "Gateway": "10.89.3.1"}]
    net = networks.net_of(a)
    assert net.link == "pyrunbr-" + a["Id"][:7] and len(net.link) <= 15
    assert net.leases == str(defs / "leases") + "-" + a["Id"][:12]
    assert [d["Name"] for d in networks.list_all()] == ["front", "back"]
    assert networks.get(a["Id"][:5]) == a == networks.get("front")


def test_leases_come_from_the_network_and_its_pool(defs, monkeypatch):
    monkeypatch.setattr(bridge, "reclaim", lambda: 0)  # the owners live
    d = networks.create("front", subnet="10.90.0.0/29", gateway="10.90.0.6")
    net = networks.net_of(d)
    got = [bridge.lease(f"{i:064x}", net, "pyrunveth") for i in range(5)]
    assert got == ["10.90.0.1", "10.90.0.2", "10.90.0.3", "10.90.0.4", "10.90.0.5"]
    with pytest.raises(NetworkError, match="no free address left in 10.90.0.0/29"):
        bridge.lease("f" * 64, net)
    assert sorted(os.listdir(net.leases)) == got
    assert bridge.leases_in_use(net.leases) and not bridge.leases_in_use(bridge.LEASES)


def test_a_network_with_leases_is_not_removed(defs, monkeypatch):
    d = networks.create("front")
    net = networks.net_of(d)
    bridge.lease("a" * 64, net, "pyrunveth")
    monkeypatch.setattr(bridge, "reclaim", lambda: 0)  # the owner lives
    with pytest.raises(NetworkError, match="has active endpoints"):
        networks.remove("front")
    assert networks.in_use(d)
    bridge.release(os.listdir(net.leases)[0], net.leases)
    assert networks.remove("front")["Id"] == d["Id"]
    assert networks.list_all() == [] and not os.path.exists(net.leases)


@pytest.mark.parametrize("args, message", [
    (("bridge",), "pre-defined"),
    (("bad name",), "invalid network name"),
    (("x", "10.89.0.0/16"), "Pool overlaps"),
    (("x", "10.90.0.0/24", "10.90.1.1"), "is not a host address"),
    (("x", "10.90.0.0/24", "10.90.0.0"), "is not a host address"),
    (("x", "10.90.0.0/24", "10.90.0.255"), "is not a host address"),
    (("x", None, "10.90.0.1"), "--gateway needs --subnet"),
    (("x", "10.90.0.1/24"), "host bits set"),
])
def test_bad_networks_are_refused_and_nothing_is_written(defs, args, message):
    with pytest.raises(NetworkError, match=message):
        networks.create(*args)
    assert networks.list_all() == []


def test_the_predefined_networks_are_described_not_stored(defs):
    assert networks.get("bridge")["IPAM"]["Config"][0]["Gateway"] == "10.89.0.1"
    assert networks.get("none")["Driver"] == "null"
    with pytest.raises(networks.NoSuchNetwork, match="network nope not found"):
        networks.get("nope")
    with pytest.raises(NetworkError, match="pre-defined"):
        networks.remove("host")


def test_subnets_overlap_when_they_share_an_address():
    assert Subnet("10.0.0.0/8").overlaps(Subnet("10.89.1.0/24"))
    assert not Subnet("10.89.1.0/24").overlaps(Subnet("10.89.2.0/24"))
    assert Subnet("10.89.1.0/24").contains("10.89.1.255")
    assert not Subnet("10.89.1.0/24").contains("10.89.2.0")


def test_options_are_the_users_alone_and_an_older_definition_reads_the_same(defs):
    """docker-compose compares a network's Options with its file's and refuses `run` on
    any other: the bridge's name is derived from the id, not an option."""
    import json
    d = networks.create("front")
    assert d["Options"] == {} and networks.get("front")["Options"] == {}
    path = os.path.join(networks.DEFS, d["Id"] + ".json")
    with open(path) as f:
        old = json.load(f)
    old["Options"] = {"com.docker.network.bridge.name": "pyrunbr-" + d["Id"][:7]}
    with open(path, "w") as f:  # as pyrun wrote it before
        json.dump(old, f)
    again = networks.get("front")
    assert again["Options"] == {} and networks.net_of(again).link == "pyrunbr-" + d["Id"][:7]
    assert networks.get("bridge")["Options"] == {"com.docker.network.bridge.name": "pyrun0"}
