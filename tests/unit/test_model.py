"""The container record (runtime/engine/model.py, Container in engine/containers.py): its
sections' names in Docker's spelling, the state's moves, the round trip through
container.json, and `inspect` made from it. No root: nothing runs."""

from __future__ import annotations

from runtime.engine import inspect, model
from runtime.engine.containers import Container


class Store:
    root = "/var/lib/pyrun-test-store"


def full_record() -> dict:
    """A container.json as create and a start leave it (a container on a user network, a
    published port, a volume and a healthcheck)."""
    return {
        "Id": "a" * 64, "Name": "web", "Created": "2026-12-01T10:00:00.000000000Z",
        "Image": "sha256:" + "b" * 64, "ImageRef": "nginx:1", "Path": "nginx",
        "Args": ["-g", "daemon off;"],
        "Config": {"Env": ["PATH=/bin"], "Cmd": ["nginx", "-g", "daemon off;"],
                   "Entrypoint": [], "WorkingDir": "/", "User": "", "Hostname": "aaaa",
                   "Labels": {"tier": "front"}, "Tty": False, "OpenStdin": False,
                   "StdinOnce": False,
                   "StopSignal": "SIGQUIT", "StopTimeout": 10,
                   "ExposedPorts": {"80/tcp": {}},
                   "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 10**9}},
        "HostConfig": {"NetworkMode": "front", "AutoRemove": False, "Memory": 0,
                       "Ports": [{"host_ip": "127.0.0.1", "host_port": 8080,
                                  "container_port": 80, "proto": "tcp"}],
                       "PidsLimit": 0, "NanoCpus": 500_000_000, "ReadonlyRootfs": False,
                       "Binds": [{"Type": "volume", "Name": "data", "Source": "/v/data",
                                  "Destination": "/data", "RW": True}],
                       "Tmpfs": [{"Destination": "/run", "Options": ["size=1m"]}],
                       "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
                       "CapAdd": [], "CapDrop": [], "Capabilities": ["CAP_CHOWN"],
                       "Privileged": False, "SecurityOpt": [], "ExtraHosts": ["db:10.0.0.9"],
                       "Dns": [], "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                       "Init": False, "ConsoleSize": None, "ShmSize": 0,
                       "GroupAdd": [], "Ulimits": [], "PidMode": "", "IpcMode": "",
                       "UTSMode": "", "UsernsMode": "", "Sysctls": {}, "Devices": [],
                       "MemorySwap": 0,
                       "MemoryReservation": 0, "OomKillDisable": False, "CpuShares": 0,
                       "CpuQuota": 0, "CpuPeriod": 0, "CpusetCpus": "", "CpusetMems": "",
                       "BlkioWeight": 0, "BlkioWeightDevice": [],
                       "BlkioDeviceReadBps": [{"Path": "/dev/vda", "Rate": 1048576,
                                               "Major": 254, "Minor": 0}],
                       "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
                       "BlkioDeviceWriteIOps": [], "OomScoreAdj": 0, "VolumesFrom": [],
                       "Links": []},
        "State": {"Status": "running", "Pid": 4242, "ExitCode": 0,
                  "StartedAt": "2026-12-01T10:00:01.000000000Z", "FinishedAt": "",
                  "OOMKilled": False, "Paused": False, "Error": "", "MonitorPid": 0,
                  "MonitorStart": 0, "StoppedByUser": False,
                  "Restarting": False},
        "NetworkSettings": {
            "Networks": {"front": {"NetworkID": "c" * 64, "Aliases": ["www"],
                                   "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                                   "IPAddress": "10.1.0.5", "Gateway": "10.1.0.1",
                                   "IPPrefixLen": 24, "MacAddress": "02:42:0a:01:00:05",
                                   "EndpointID": "pyrunv1234"}},
            "Netns": "/run/netns/pyrun-aaaa", "IPAddress": "10.1.0.5",
            "Gateway": "10.1.0.1", "IPPrefixLen": 24, "MacAddress": "02:42:0a:01:00:05"},
        "RestartCount": 2, "Seccomp": "default", "NoNewPrivileges": False,
    }


def test_sections_use_dockers_names():
    assert model.State.KEYS["oom_killed"] == "OOMKilled"
    assert model.HostConfig.KEYS["nano_cpus"] == "NanoCpus"
    assert model.Endpoint.KEYS["ipam_config"] == "IPAMConfig"
    assert model.Endpoint.KEYS["network_id"] == "NetworkID"
    assert model.NetworkSettings.KEYS["ip_prefix_len"] == "IPPrefixLen"
    assert model.Port.KEYS["host_port"] == "host_port"  # pyrun's own, not Docker's


def test_a_record_survives_its_file():
    d = full_record()
    c = Container.from_json(Store(), d)
    assert c.to_json() == d
    assert c.host.ports[0].host_port == 8080 and c.host.ports[0].text() == \
        "127.0.0.1:8080->80/tcp"
    assert c.net.networks["front"].requested_ip == "10.1.0.5"
    assert c.command == ["nginx", "-g", "daemon off;"] and c.restart_count == 2
    assert c.dir == "/var/lib/pyrun-test-store/containers/" + "a" * 64


def test_an_older_record_takes_the_defaults():
    c = Container.from_json(Store(), {"Id": "a" * 64, "Image": "sha256:" + "b" * 64,
                                      "State": {"Status": "exited", "ExitCode": 3}})
    assert (c.state.status, c.state.exit_code, c.state.monitor_pid) == ("exited", 3, 0)
    assert c.host.capabilities is None  # Docker's default set, not none at all
    assert c.config.stop_signal == "SIGTERM" and c.config.stop_timeout == 10
    assert c.host.restart_name() == "no"
    # before endpoints were kept, a container was on the default bridge by NetworkMode alone
    assert list(c.net.networks) == ["bridge"] and c.net.networks["bridge"].network_id == ""
    d = {"Id": "a" * 64, "Image": "", "HostConfig": {"NetworkMode": "front"},
         "NetworkSettings": {"Networks": {}}}  # disconnected from every network: stays so
    assert Container.from_json(Store(), d).net.networks == {}
    d = {"Id": "a" * 64, "Image": "", "HostConfig": {"NetworkMode": "none"}}
    assert Container.from_json(Store(), d).net.networks == {}


def test_the_states_moves():
    s = model.State()
    s.monitored_by(100, 7)
    s.started(4242, "t1")
    assert (s.status, s.pid, s.started_at, s.monitor_pid) == ("running", 4242, "t1", 100)
    s.paused = True
    s.exited(137, "t2", oom_killed=True, error="")
    assert (s.status, s.exit_code, s.pid, s.paused, s.oom_killed, s.finished_at) == \
        ("exited", 137, 0, False, True, "t2")
    s.started(99, "t3")  # a restart clears what the last exit said
    assert (s.oom_killed, s.error, s.exit_code) == (False, "", 137)


def test_an_endpoint_is_wired_and_unwired():
    ep = model.Endpoint(network_id="c" * 64, aliases=["www"])
    ep.wired("10.1.0.5", "10.1.0.1", 24, "02:42:0a:01:00:05", "pyrunv1")
    assert model.dump(ep)["IPAddress"] == "10.1.0.5"
    ep.unwired()
    assert (ep.ip_address, ep.endpoint_id, ep.aliases) == ("", "", ["www"])


def test_inspect_gives_dockers_types():
    c = Container.from_json(Store(), full_record())
    d = inspect.container(c)  # no monitor lives: the record's "running" is not believed
    assert d["Name"] == "/web" and d["State"]["Running"] is False
    assert d["State"]["Status"] == "running"  # as recorded; status() reads the host
    assert d["Config"]["Image"] == "nginx:1" and d["Config"]["AttachStdout"] is True
    hc = d["HostConfig"]
    assert "Ports" not in hc
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert hc["Binds"] == ["data:/data"] and hc["Tmpfs"] == {"/run": "size=1m"}
    assert d["Mounts"][0]["Name"] == "data" and d["Mounts"][0]["Driver"] == "local"
    assert d["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1",
                                                         "HostPort": "8080"}]}
    assert d["NetworkSettings"]["Networks"]["front"]["Aliases"] == ["www"]
    c.config.healthcheck = None
    c.host.capabilities = None
    d = inspect.container(c)
    assert "Healthcheck" not in d["Config"] and "Capabilities" not in d["HostConfig"]
    assert c.to_json()["HostConfig"]["Ports"]  # inspect changed a copy, not the record


def test_filters_read_the_record():
    c = Container.from_json(Store(), full_record())
    assert inspect.matches(c, {"label": ["tier=front"], "network": ["front"]})
    assert inspect.matches(c, {"ancestor": ["nginx:1"]})
    assert not inspect.matches(c, {"network": ["back"]})
    assert inspect.summary(c)["Command"] == "nginx -g daemon off;"
