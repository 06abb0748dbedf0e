"""engine/networking.py without root: what --network, --network-alias and --ip make of a
new container's record, connect's refusals, what the resolver is told, and `network
inspect`'s members (network definitions in a temporary directory; nothing is wired)."""

from __future__ import annotations

import pytest

from runtime.engine import model, networking
from runtime.engine.containers import Container
from runtime.net import networks


@pytest.fixture
def front(tmp_path, monkeypatch):
    monkeypatch.setattr(networks, "DEFS", str(tmp_path / "networks"))
    monkeypatch.setattr(networks, "_host_subnets", lambda: [])
    return networks.create("front", subnet="10.90.0.0/24")


class Store:
    root = "/nonexistent"


def container(settings: model.NetworkSettings, mode: str) -> Container:
    return Container(Store(), id="f" * 64, name="web", created="", image="", image_ref="",
                     path="true", args=[], config=model.Config(), net=settings,
                     host=model.HostConfig(network_mode=mode))


def test_a_user_network_with_alias_and_address(front):
    s = networking.requested("front", ["www"], "10.90.0.9")
    ep = s.networks["front"]
    assert (ep.network_id, ep.aliases, ep.requested_ip) == (front["Id"], ["www"], "10.90.0.9")
    assert ep.ip_address == ""  # given at the start
    assert list(networking.requested(front["Id"][:6]).networks) == ["front"]  # by id


@pytest.mark.parametrize("network, aliases, ip, message", [
    ("bridge", ["www"], None, "only supported for user-defined networks"),
    ("bridge", [], "172.17.0.9", "only when connecting to networks with user configured"),
    ("front", [], "10.91.0.9", "no configured subnet contains IP address 10.91.0.9"),
    ("front", [], "10.90.0.1", "no configured subnet contains"),  # the gateway's
    ("nowhere", [], None, "nowhere"),
])
def test_refused_requests(front, network, aliases, ip, message):
    with pytest.raises(networks.NoSuchNetwork if network == "nowhere" else
                       networking.NetworkingError, match=message):
        networking.requested(network, aliases, ip)


def test_what_the_resolver_serves(front):
    c = container(networking.requested("front", ["www"]), "front")
    assert networking.dns_endpoints(c) == []  # not wired: no address yet
    c.net.networks["front"].wired("10.90.0.5", "10.90.0.1", 24, "02:42:0a:5a:00:05", "pyv")
    assert networking.dns_endpoints(c) == [{
        "network": front["Id"], "network_name": "front", "ip": "10.90.0.5",
        "names": ["web", "www", "f" * 12], "internal": False}]
    assert networking.on_user_network(c)
    bridged = container(networking.requested("bridge"), "bridge")
    bridged.net.networks["bridge"].wired("10.88.0.5", "10.88.0.1", 16, "02:42", "pyv2")
    assert networking.dns_endpoints(bridged) == [] and not networking.on_user_network(bridged)


def test_connect_refusals(front, monkeypatch):
    c = container(model.NetworkSettings(), "none")
    monkeypatch.setattr(c, "reload", lambda: c)
    with pytest.raises(networking.NetworkingError, match="while it is on the none network"):
        networking.connect(c, "front")
    c = container(networking.requested("front"), "front")
    monkeypatch.setattr(c, "reload", lambda: c)
    with pytest.raises(networking.NetworkingError, match="already exists in network front"):
        networking.connect(c, "front")
    with pytest.raises(networking.NetworkingError, match="cannot be connected to the host"):
        networking.connect(c, "host")
    with pytest.raises(networking.NetworkingError, match="is not connected to network bridge"):
        networking.disconnect(c, "bridge")


def test_inspect_members_are_the_wired_and_running(front, monkeypatch):
    c = container(networking.requested("front"), "front")
    monkeypatch.setattr(Container, "running", property(lambda self: True))
    assert networking.inspected([c], front)["Containers"] == {}
    c.net.networks["front"].wired("10.90.0.5", "10.90.0.1", 24, "02:42:0a", "pyv")
    assert networking.inspected([c], front)["Containers"] == {"f" * 64: {
        "Name": "web", "EndpointID": "pyv", "MacAddress": "02:42:0a",
        "IPv4Address": "10.90.0.5/24", "IPv6Address": ""}}
