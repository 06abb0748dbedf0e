"""engine/inspect.py without root: the shapes Docker's clients decode (the docker CLI's
templates, the SDK's attrs, compose's ps), and Docker's container filters."""

from __future__ import annotations

import json

import pytest

from runtime.engine import inspect, model
from runtime.engine.containers import Container
from runtime.errors import PyrunError
from runtime.oci.state import own_identity


class Store:
    def __init__(self, root):
        self.root = str(root)


def make(tmp_path, *, running=False, status="created", exit_code=0, **host) -> Container:
    pid, start = own_identity() if running else (0, 0)
    state = model.State(status=status, exit_code=exit_code, monitor_pid=pid,
                        monitor_start=start, started_at="2026-12-02T10:00:00Z" if running
                        else "")
    c = Container(
        Store(tmp_path), id="ab" * 32, name="web", created="2026-12-02T09:59:00.5Z",
        image="sha256:" + "cd" * 32, image_ref="custom-nginx:packaged", path="nginx",
        args=["-g", "daemon off;"],
        config=model.Config(env=["PATH=/bin"], labels={"tier": "front", "team": "ops"},
                            hostname="abababababab"),
        host=model.HostConfig(**host),
        net=model.NetworkSettings(networks={"bridge": model.Endpoint(network_id="f0" * 32)}),
        state=state)
    (tmp_path / "containers" / c.id).mkdir(parents=True, exist_ok=True)
    return c


def test_inspect_uses_dockers_types_for_what_the_record_keeps_richer(tmp_path):
    c = make(tmp_path, ports=[model.Port("0.0.0.0", 8080, 80, "tcp"),
                              model.Port("127.0.0.1", 8443, 443, "tcp")],
             binds=[{"Type": "bind", "Source": "/srv/www", "Destination": "/www",
                     "RW": False},
                    {"Type": "volume", "Name": "data", "Source": "/var/lib/pyrun/v/data",
                     "Destination": "/data", "RW": True}],
             tmpfs=[{"Destination": "/run", "Options": ["size=64m"]}])
    d = inspect.container(c)
    json.dumps(d)  # all of it JSON, as the API serves it
    assert d["Name"] == "/web" and d["Id"] == c.id and d["Path"] == "nginx"
    assert d["State"]["Running"] is False and d["State"]["Status"] == "created"
    hc = d["HostConfig"]
    assert hc["Binds"] == ["/srv/www:/www:ro", "data:/data"]
    assert hc["Tmpfs"] == {"/run": "size=64m"}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                  "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}]}
    assert "Ports" not in hc and "Capabilities" not in hc  # None: Docker's default set
    assert d["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0",
                                                        "HostPort": "8080"}]
    assert [m["Type"] for m in d["Mounts"]] == ["bind", "volume"]
    assert d["Mounts"][1]["Name"] == "data" and d["Mounts"][1]["Driver"] == "local"
    assert d["Config"]["Image"] == "custom-nginx:packaged"
    assert "Healthcheck" not in d["Config"]
    assert d["NetworkSettings"]["Networks"]["bridge"]["NetworkID"] == "f0" * 32


def test_inspect_is_a_copy(tmp_path):
    c = make(tmp_path)
    inspect.container(c)["Config"]["Labels"]["tier"] = "back"
    assert c.config.labels["tier"] == "front"


def test_a_healthcheck_without_results_yet_is_starting(tmp_path):
    c = make(tmp_path)
    c.config.healthcheck = {"Test": ["CMD", "true"]}
    assert inspect.container(c)["State"]["Health"] == {"Status": "starting",
                                                       "FailingStreak": 0, "Log": []}


def test_running_is_read_off_the_monitor_not_the_file(tmp_path):
    c = make(tmp_path, status="running")  # says running, but names no live monitor
    assert inspect.container(c)["State"]["Running"] is False
    live = make(tmp_path, running=True, status="running")
    assert inspect.container(live)["State"]["Running"] is True
    live.state.paused = True
    assert inspect.status(live) == "paused"
    assert inspect.container(live)["State"]["Paused"] is True


def test_summary_lists_ports_only_while_running(tmp_path):
    ports = [model.Port("0.0.0.0", 8080, 80, "tcp")]
    s = inspect.summary(make(tmp_path, status="exited", ports=ports))
    assert s["Names"] == ["/web"] and s["Command"] == "nginx -g daemon off;"
    assert s["Ports"] == [] and s["State"] == "exited"
    assert s["Created"] == 1796205540  # seconds, as Docker's list gives them
    s = inspect.summary(make(tmp_path, running=True, status="running", ports=ports))
    assert s["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080,
                           "Type": "tcp"}]
    assert s["Status"].startswith("Up ")


@pytest.mark.parametrize("filters, chosen", [
    ({"name": ["we"]}, True), ({"name": ["/web"]}, True), ({"name": ["db"]}, False),
    ({"status": ["exited"]}, True), ({"status": ["running", "created"]}, False),
    ({"exited": ["3"]}, True), ({"exited": ["0"]}, False),
    ({"id": ["abab"]}, True), ({"id": ["ba"]}, False),
    ({"label": ["tier"]}, True), ({"label": ["tier=front", "team=ops"]}, True),
    ({"label": ["tier=back"]}, False), ({"label": ["tier", "zone"]}, False),
    ({"ancestor": ["custom-nginx:packaged"]}, True), ({"ancestor": ["cdcd"]}, True),
    ({"ancestor": ["busybox"]}, False),
    ({"network": ["bridge"]}, True), ({"network": ["f0f0"]}, True),
    ({"network": ["pyrun-other"]}, False),
    ({"name": ["web"], "status": ["running"]}, False),  # keys AND'ed
    ({"status": ["running", "exited"]}, True),  # a key's values OR'ed
])
def test_container_filters_as_docker(tmp_path, filters, chosen):
    assert inspect.matches(make(tmp_path, status="exited", exit_code=3), filters) is chosen


def test_filter_errors_are_one_line(tmp_path):
    with pytest.raises(PyrunError, match="invalid filter 'colour'"):
        inspect.matches(make(tmp_path), {"colour": ["red"]})
    with pytest.raises(PyrunError, match="expected name=value"):
        inspect.filters_of(["status"])
    assert inspect.filters_of(["status=exited", "status=created", "label=a=b"]) == \
        {"status": ["exited", "created"], "label": ["a=b"]}
