"""net/ports.py over a recording stand-in for `nft`: the table made once in one transaction
and marked, each network's elements, the rules a published port becomes, "port is already allocated" from the rules
themselves, a container's rules removed by its comment, the table gone with the last user.
(The kernel's side, bytes through a published port, is the integration tests'.)"""

from __future__ import annotations

import pytest

from runtime.net import bridge, ports


class FakeNft:
    """`nft -f -` scripts recorded; `nft -j list chain` answered from the publish rules
    added so far (as nft's JSON: a handle, the comment, the dport match)."""

    def __init__(self):
        self.scripts: list[str] = []
        self.publish: list[dict] = []
        self.handle = 0
        self.table = False

    def run(self, script: str) -> str:
        self.scripts.append(script)
        if script.startswith("create table") and self.table:
            raise ports.PortError("nftables: Error: Could not process rule: File exists")
        self.table = self.table or "table ip pyrun\n" in script
        for line in script.splitlines():
            words = line.split()
            if words[:4] == ["add", "rule", "ip", "pyrun"] and words[4] == "publish":
                self.handle += 1
                proto, port = words[words.index("dport") - 1], int(words[words.index("dport") + 1])
                self.publish.append({"handle": self.handle, "comment": line.split('"')[1],
                                     "expr": [{"match": {"left": {"payload": {
                                         "protocol": proto, "field": "dport"}},
                                         "right": port}}]})
            if words[:3] == ["delete", "rule", "ip"]:
                self.publish = [r for r in self.publish if r["handle"] != int(words[-1])]
        return ""

    def json(self, args):
        if args[-1] == "publish":
            return {"nftables": [{"rule": r} for r in self.publish]}
        return {"nftables": []}


@pytest.fixture
def nft(tmp_path, monkeypatch, network_defs):
    fake = FakeNft()
    monkeypatch.setattr(ports, "_nft", fake.run)
    monkeypatch.setattr(ports, "_nft_json", fake.json)
    monkeypatch.setattr(ports, "MARK", str(tmp_path / "nft-table"))
    monkeypatch.setattr(ports, "port_free", lambda port, proto="tcp", host_ip="": True)
    return fake


def test_the_table_is_made_once_in_one_transaction_and_marked(nft, tmp_path):
    ports.publish("a" * 64, "10.89.0.2", [])
    ports.publish("b" * 64, "10.89.0.3", [])
    script, elements = nft.scripts  # then the default network's elements, once
    assert elements == ("add element ip pyrun same { 10.89.0.0/24 . 10.89.0.0/24 }\n"
                        "add element ip pyrun subnets { 10.89.0.0/24 }\n")
    assert script.startswith("create table ip pyrun\n")
    assert "fib daddr type local jump publish" in script  # from outside and from this host
    assert 'iifname "pyrun*" oifname != "pyrun*" masquerade' in script
    # before NAT: 127.0.0.0/8 from anywhere but lo, and a network's addresses from anywhere
    # but pyrun's links (a neighbour routing through this host)
    assert "boundary { type filter hook prerouting priority raw;" in script
    assert 'add rule ip pyrun boundary iifname != "lo" ip daddr 127.0.0.0/8 drop' in script
    assert 'add rule ip pyrun boundary iifname != "pyrun*" ip daddr @subnets drop' in script
    assert (tmp_path / "nft-table").exists()


def test_a_published_port_is_one_dnat_rule_named_after_its_container(nft):
    want = [{"host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80, "proto": "tcp"},
            {"host_ip": "127.0.0.1", "host_port": 5353, "container_port": 53, "proto": "udp"}]
    ports.publish("a" * 64, "10.89.0.2", want)
    rules = nft.scripts[-1].splitlines()
    assert rules == [
        f'add rule ip pyrun publish tcp dport 8080 dnat to 10.89.0.2:80 comment "pyrun {"a" * 64}"',
        f'add rule ip pyrun publish ip daddr 127.0.0.1 udp dport 5353 dnat to 10.89.0.2:53 '
        f'comment "pyrun {"a" * 64}"']
    assert sorted(ports.published_ports()) == [("tcp", 8080), ("udp", 5353)]


def test_a_taken_port_is_dockers_error_and_port_0_is_given_a_free_one(nft):
    ports.publish("a" * 64, "10.89.0.2", [{"host_ip": "", "host_port": 8080,
                                           "container_port": 80, "proto": "tcp"}])
    with pytest.raises(ports.PortError, match="Bind for 0.0.0.0:8080 failed: port is already "
                                               "allocated"):
        ports.publish("b" * 64, "10.89.0.3", [{"host_ip": "", "host_port": 8080,
                                               "container_port": 80, "proto": "tcp"}])
    any_port = {"host_ip": "", "host_port": 0, "container_port": 80, "proto": "tcp"}
    ports.publish("c" * 64, "10.89.0.4", [any_port])
    assert any_port["host_port"] not in (0, 8080)  # written back for inspect and ls


def test_a_networks_traffic_is_let_through_once_an_internal_one_kept_in_and_forgotten(nft):
    net = bridge.Net("pyrunbr-abc", bridge.Subnet("10.89.1.0/24"), internal=True)
    ports.publish("a" * 64, "10.89.1.2", [], net)
    ports.publish("b" * 64, "10.89.1.3", [], net)
    assert 'forward iifname "pyrun*" oifname "pyrun*" ip saddr . ip daddr != @same drop' in \
        nft.scripts[0]  # isolation by address: rp_filter vouches for the source
    elements = [s for s in nft.scripts if s.startswith("add element")]
    assert elements == ["add element ip pyrun same { 10.89.1.0/24 . 10.89.1.0/24 }\n"
                        "add element ip pyrun subnets { 10.89.1.0/24 }\n"
                        "add element ip pyrun internal { 10.89.1.0/24 }\n"]
    ports.forget_network(net)  # the network removed: its subnet may be another's next
    assert nft.scripts[-1] == ("delete element ip pyrun same { 10.89.1.0/24 . 10.89.1.0/24 }\n"
                               "delete element ip pyrun subnets { 10.89.1.0/24 }\n"
                               "delete element ip pyrun internal { 10.89.1.0/24 }\n")
    count = len(nft.scripts)
    ports.forget_network(net)
    assert len(nft.scripts) == count
    ports.publish("c" * 64, "10.89.1.2", [], bridge.Net("pyrunbr-def",
                                                         bridge.Subnet("10.89.1.0/24")))
    assert nft.scripts[-1].startswith("add element ip pyrun same { 10.89.1.0/24 . 10.89.1.0/24 }\n")


def test_a_table_left_without_its_mark_is_replaced_in_one_transaction(nft, tmp_path):
    nft.table = True  # a crash before the mark, or an older pyrun's table
    ports.ensure_table()
    assert nft.scripts[1].startswith("add table ip pyrun\ndelete table ip pyrun\n"
                                     "add table ip pyrun\n")
    assert "add rule ip pyrun prerouting" in nft.scripts[1]
    assert (tmp_path / "nft-table").exists()


def test_an_older_tables_networks_and_ports_are_carried_into_the_new_one(nft, tmp_path,
                                                                          monkeypatch):
    # an upgrade of pyrun with containers running: their networks' elements and published
    # ports go into the new table in its one transaction, and their marks are written
    (tmp_path / "nft-table-v0").touch()  # an older pyrun's marks: gone
    (tmp_path / "nft-table-v0.10.89.0.0_24").touch()
    nft.table = True

    def prefix(addr, n):
        return {"prefix": {"addr": addr, "len": n}}
    monkeypatch.setattr(ports, "_nft_json", lambda args: {"nftables": [
        {"set": {"name": "same", "elem": [
            {"concat": [prefix("10.89.0.0", 24), prefix("10.89.0.0", 24)]},
            {"concat": [prefix("10.89.1.0", 24), prefix("10.89.1.0", 24)]}]}},
        {"set": {"name": "internal", "elem": [prefix("10.89.1.0", 24)]}}]})
    rule = 'ip daddr 127.0.0.1 udp dport 5353 dnat to 10.89.0.2:53 comment "pyrun abc"'
    monkeypatch.setattr(ports, "_nft_list", lambda args: (
        "table ip pyrun {\n\tchain publish {\n\t\t" + rule + "\n\t}\n}\n"))
    ports._ensure_table()
    script = nft.scripts[-1]
    for line in ("add element ip pyrun same { 10.89.0.0/24 . 10.89.0.0/24 }",
                 "add element ip pyrun subnets { 10.89.1.0/24 }",
                 "add element ip pyrun internal { 10.89.1.0/24 }",
                 f"add rule ip pyrun publish {rule}"):
        assert line + "\n" in script
    assert script.index("delete table") < script.index("add rule ip pyrun publish")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("nft-table")) == [
        "nft-table", "nft-table.10.89.0.0_24", "nft-table.10.89.1.0_24"]


def test_unpublish_removes_its_containers_rules_only_and_can_be_repeated(nft):
    spec = {"host_ip": "", "container_port": 80, "proto": "tcp"}
    ports.publish("a" * 64, "10.89.0.2", [dict(spec, host_port=8080),
                                          dict(spec, host_port=8081)])
    ports.publish("b" * 64, "10.89.0.3", [dict(spec, host_port=9090)])
    ports.unpublish("a" * 64)
    assert nft.scripts[-1] == ("delete rule ip pyrun publish handle 1\n"
                               "delete rule ip pyrun publish handle 2\n")
    assert ports.published_ports() == [("tcp", 9090)]
    count = len(nft.scripts)
    ports.unpublish("a" * 64)  # nothing left of it: no nft run
    assert len(nft.scripts) == count


def test_the_table_goes_with_the_last_lease(nft, tmp_path, monkeypatch):
    ports.publish("a" * 64, "10.89.1.2", [], bridge.Net("pyrunbr-abc",
                                                         bridge.Subnet("10.89.1.0/24")))
    monkeypatch.setattr(bridge, "leases_in_use", lambda leases=None: True)
    ports.remove_table_if_unused()
    assert (tmp_path / "nft-table").exists()
    monkeypatch.setattr(bridge, "leases_in_use", lambda leases=None: False)
    ports.remove_table_if_unused()
    assert nft.scripts[-1] == "delete table ip pyrun\n"
    assert not list(tmp_path.glob("nft-table*"))  # the networks' marks with it
