"""User-defined networks on the real kernel: their own bridges and subnets, names through
127.0.0.11, isolation between networks, ports published from them, connect/disconnect."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import free_port
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import HTTPD, NOTHING, engine, http_get, settled  # noqa: F401

GET = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 {} 80 | tail -1'


@pytest.fixture
def nets(engine):  # noqa: F811
    """Makes networks with unique names; every one removed afterwards (after the
    containers: engine's clean-up runs after this one's), and nothing of them left."""
    made = []

    def make(*args):
        name = f"pyrun-test-{uuid.uuid4().hex[:6]}"
        engine("network", "create", *args, name)
        made.append(name)
        return name
    yield make
    ids = engine("ls", "-aq", check=False).stdout.split()
    if ids:
        engine("rm", "-f", *ids, check=False)
    for name in made:
        engine("network", "rm", "-f", name, check=False)
    assert settled() == NOTHING
    listed = engine("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [n for n in listed if n.startswith("pyrun-test-")]


def test_containers_find_each_other_by_name_alias_and_id_and_not_across_networks(engine,
                                                                              nets):
    front, other = nets(), nets()
    sid = engine("run", "-d", "--name", "pyrun-web", "--network", front, "--network-alias",
                 "site", "busybox", *HTTPD).stdout.strip()
    script = "; ".join([GET.format("pyrun-web"), GET.format("site"), GET.format(sid[:12]),
                        GET.format(f"pyrun-web.{front}"), "cat /etc/resolv.conf"])
    out = engine("run", "--rm", "--network", front, "busybox", "sh", "-c", script).stdout
    lines = out.splitlines()
    assert lines[:4] == [f"hello from {sid[:12]}"] * 4
    assert "nameserver 127.0.0.11" in lines  # as Docker's embedded DNS
    # Another network neither resolves the name nor reaches the address
    ip = json.loads(engine("inspect", "pyrun-web").stdout)[0]["NetworkSettings"][
        "Networks"][front]["IPAddress"]
    probe = engine("run", "--rm", "--network", other, "busybox", "sh", "-c",
                   f"nslookup pyrun-web; {GET.format(ip)}; echo rc=$?", check=False).stdout
    assert "NXDOMAIN" in probe and "hello" not in probe
    # nor does the default bridge
    probe = engine("run", "--rm", "busybox", "sh", "-c", f"{GET.format(ip)}; echo rc=$?").stdout
    assert "hello" not in probe and "rc=" in probe


def test_a_published_port_works_from_a_user_network(engine, nets):
    net = nets()
    port = free_port()
    engine("run", "-d", "--name", "pyrun-pub", "--network", net, "-p", f"{port}:80", "busybox",
           *HTTPD)
    body = http_get(f"http://127.0.0.1:{port}/")
    assert body.startswith("hello from ")


def test_networks_have_their_own_subnets_and_refuse_what_docker_refuses(engine, nets):
    a = nets()
    b = nets("--subnet", "10.89.200.0/24", "--gateway", "10.89.200.254", "--label", "k=v")
    info = {d["Name"]: d for d in json.loads(engine("network", "inspect", a, b).stdout)}
    sa, sb = (info[n]["IPAM"]["Config"][0] for n in (a, b))
    assert sa["Subnet"] != sb["Subnet"] and sb == {"Subnet": "10.89.200.0/24",
                                                   "Gateway": "10.89.200.254"}
    assert info[b]["Labels"] == {"k": "v"} and info[b]["Driver"] == "bridge"
    out = engine("run", "--rm", "--network", b, "--ip", "10.89.200.9", "busybox", "sh", "-c",
                 "ip -o -4 addr show eth0; ip route").stdout
    assert "10.89.200.9/24" in out and "default via 10.89.200.254" in out
    listed = engine("network", "ls").stdout
    assert listed.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert all(n in listed for n in ("bridge", "host", "none", a, b))
    assert engine("network", "ls", "-f", "label=k=v", "--format", "{{.Name}}").stdout.split() \
        == [b]
    for args, message in [
            (("network", "create", a), f"network with name {a} already exists"),
            (("network", "create", "--subnet", "10.89.200.128/25", "pyrun-x"),
             "Pool overlaps with other one on this address space"),
            (("network", "create", "--subnet", "10.89.201.0/24", "--gateway", "10.9.9.9",
              "pyrun-x"), "gateway 10.9.9.9 is not a host address of 10.89.201.0/24"),
            (("network", "create", "bridge"), "bridge is a pre-defined network"),
            (("network", "rm", "host"), "host is a pre-defined network and cannot be removed"),
            (("network", "rm", "pyrun-nonesuch"), "network pyrun-nonesuch not found"),
            (("run", "--rm", "--network", "pyrun-nonesuch", "busybox", "true"),
             "network pyrun-nonesuch not found"),
            (("run", "--rm", "--network-alias", "x", "busybox", "true"),
             "network-scoped aliases are only supported for user-defined networks"),
            (("run", "--rm", "--network", b, "--ip", "10.89.7.7", "busybox", "true"),
             "no configured subnet contains IP address 10.89.7.7")]:
        p = engine(*args, check=False)
        code = 125 if args[0] == "run" else 1  # the docker CLI's
        assert p.returncode == code and p.stderr.count("\n") == 1 and message in p.stderr, args
    assert "pyrun-x" not in engine("network", "ls").stdout  # nothing half-made
    assert engine("ls", "-aq").stdout == ""


def test_a_network_in_use_is_not_removed_and_prune_keeps_it(engine, nets):
    used, unused = nets(), nets()
    engine("run", "-d", "--name", "pyrun-user", "--network", used, "busybox", "sleep", "60")
    p = engine("network", "rm", used, check=False)
    assert p.returncode == 1 and "has active endpoints" in p.stderr
    out = engine("network", "prune", "-f").stdout
    assert unused in out and used not in out
    assert engine("network", "ls", "-q", "-f", f"name={unused}").stdout == ""
    members = json.loads(engine("network", "inspect", used).stdout)[0]["Containers"]
    assert [m["Name"] for m in members.values()] == ["pyrun-user"]
    engine("rm", "-f", "pyrun-user")
    assert engine("network", "rm", used).stdout.strip() == used
    assert used not in engine("network", "ls").stdout


def test_connect_and_disconnect_a_running_container(engine, nets):
    a, b = nets(), nets()
    engine("run", "-d", "--name", "pyrun-srv", "--network", a, "busybox", *HTTPD)
    engine("network", "connect", "--alias", "api", b, "pyrun-srv")
    addrs = engine("exec", "pyrun-srv", "ip", "-o", "-4", "addr").stdout
    assert " eth0 " in addrs and " eth1 " in addrs
    reached = engine("run", "--rm", "--network", b, "busybox", "sh", "-c",
                     GET.format("api")).stdout
    assert reached.startswith("hello from ")
    p = engine("network", "connect", b, "pyrun-srv", check=False)
    assert p.returncode == 1 and "already exists in network" in p.stderr
    engine("network", "disconnect", b, "pyrun-srv")
    assert " eth1 " not in engine("exec", "pyrun-srv", "ip", "-o", "-4", "addr").stdout
    gone = engine("run", "--rm", "--network", b, "busybox", "nslookup", "api",
                  check=False).stdout
    assert "NXDOMAIN" in gone
    nets_of = json.loads(engine("inspect", "pyrun-srv").stdout)[0]["NetworkSettings"][
        "Networks"]
    assert list(nets_of) == [a]
    events = engine("events", "--since", "0", "--until", "0s", "--filter", "type=network",
                    "--format", "{{.Action}}").stdout.split()
    assert events[-2:] == ["connect", "disconnect"]


def test_a_renamed_container_is_found_by_its_new_name(engine, nets):
    net = nets()
    engine("run", "-d", "--name", "pyrun-old", "--network", net, "busybox", *HTTPD)
    engine("rename", "pyrun-old", "pyrun-new")
    out = engine("run", "--rm", "--network", net, "busybox", "sh", "-c",
                 f"{GET.format('pyrun-new')}; nslookup pyrun-old", check=False).stdout
    assert out.startswith("hello from ") and "NXDOMAIN" in out


def test_an_internal_network_has_no_way_out_but_its_names_resolve(engine, nets):
    net = nets("--internal")
    engine("run", "-d", "--name", "pyrun-in", "--network", net, "busybox", *HTTPD)
    out = engine("run", "--rm", "--network", net, "busybox", "sh", "-c",
                 f"{GET.format('pyrun-in')}; ip route; nslookup deb.debian.org",
                 check=False).stdout
    assert out.startswith("hello from ")
    assert "default" not in out  # no route out
    assert "NXDOMAIN" in out     # and no names from outside


def test_a_sidecar_joins_another_containers_network_namespace(engine, nets):
    """--network container:NAME, as Docker's (and compose's network_mode: service:X):
    the donor's interfaces, address, host name and /etc files; nothing of its own to
    wire or tear down, so the donor keeps serving after the sidecar has gone."""
    net = nets()
    port = free_port()
    sid = engine("run", "-d", "--name", "pyrun-donor", "--network", net, "-p", f"{port}:80",
                 "busybox", *HTTPD).stdout.strip()
    donor = json.loads(engine("inspect", "pyrun-donor").stdout)[0]
    ip = donor["NetworkSettings"]["Networks"][net]["IPAddress"]
    out = engine("run", "--rm", "--network", "container:pyrun-donor", "busybox", "sh", "-c",
                 f"hostname; {GET.format('127.0.0.1')}; ip -4 -o addr show eth0; "
                 "grep -c . /etc/resolv.conf").stdout.splitlines()
    assert out[:2] == [sid[:12], f"hello from {sid[:12]}"]
    assert f"inet {ip}/" in out[2]
    assert int(out[3]) > 0
    assert http_get(f"http://127.0.0.1:{port}/") == f"hello from {sid[:12]}\n"  # still served
    cid = engine("create", "--name", "pyrun-side", "--network", "container:pyrun-donor",
                 "busybox", "true").stdout.strip()
    (side,) = json.loads(engine("inspect", cid).stdout)
    assert side["HostConfig"]["NetworkMode"] == f"container:{sid}"  # by id: a rename keeps it
    assert side["NetworkSettings"]["Networks"] == {}
    p = engine("network", "connect", net, "pyrun-side", check=False)
    assert p.returncode != 0 and "sharing network namespace" in p.stderr
    joined = ["--network", "container:pyrun-donor"]
    for extra, message in (([*joined, "-p", "8080:80"], "port publishing and the network mode"),
                           ([*joined, "--hostname", "x"], "hostname and the network mode"),
                           ([*joined, "--sysctl", "net.ipv4.ip_forward=1"],
                            "another container's"),
                           (["--network", "container:pyrun-nowhere"], "No such container")):
        p = engine("run", "--rm", *extra, "busybox", "true", check=False)
        assert p.returncode == 125 and message in p.stderr, (extra, p.stderr)
    engine("stop", "-t", "0", "pyrun-donor")
    p = engine("start", "pyrun-side", check=False)
    assert p.returncode == 1 and "non running container" in p.stderr
    # a donor with --network none: its namespace is the runtime's, pinned by no file
    engine("run", "-d", "--name", "pyrun-lonely", "--network", "none", "busybox", "sh", "-c",
           "httpd -p 127.0.0.1:8000 -h /etc; exec sleep 60")
    out = engine("run", "--rm", "--network", "container:pyrun-lonely", "busybox", "sh", "-c",
                 "readlink /proc/self/ns/net; ls /sys/class/net; "
                 "wget -q -O - http://127.0.0.1:8000/hostname").stdout.split()
    assert out[0] == engine("exec", "pyrun-lonely", "readlink",
                            "/proc/self/ns/net").stdout.strip()
    assert out[1:] == ["lo", engine("inspect", "-f", "{{.Config.Hostname}}",
                                    "pyrun-lonely").stdout.strip()]
