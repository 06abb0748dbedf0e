"""The API's pure pieces: Docker's create body → CreateOptions' fields, the multiplexed
stream's frames, routing patterns; a container's input (the pipe the service keeps for
docker run -i and docker attach) over a socket pair."""

from __future__ import annotations

import pytest

import os
import socket
import threading

from runtime.api import containers as apic
from runtime.api.containers import create_args
from runtime.api.http import ApiError, frame


@pytest.mark.parametrize("body, want", [
    ({"Image": "x"}, {"image_ref": "x", "network": "bridge", "publish": (), "restart": "no",
                      "command": ()}),
    ({"Image": "x", "Cmd": "echo", "Entrypoint": [""]}, {"command": ("echo",),
                                                          "entrypoint": []}),
    ({"Image": "x", "Entrypoint": "sh"}, {"entrypoint": ["sh"]}),
    ({"Image": "x", "HostConfig": {"PortBindings": {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": [{"HostPort": ""}],
        "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
        "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}},
     {"publish": ("8080:80/tcp", "53/udp", "127.0.0.1:8443:443/tcp",
                  "127.0.0.1::8000/tcp")}),
    ({"Image": "x", "HostConfig": {"Binds": ["/a:/b:ro,z", "v:/c", "/d:/e:Z"]}},
     {"volumes": ("/a:/b:ro", "v:/c", "/d:/e")}),
    ({"Image": "x", "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t",
                                               "TmpfsOptions": {"SizeBytes": 1024,
                                                                "Mode": 0o1777}}]}},
     {"mounts": ("type=tmpfs,target=/t,tmpfs-size=1024,tmpfs-mode=1777",)}),
    ({"Image": "x", "HostConfig": {"NetworkMode": "shop"}, "NetworkingConfig": {
        "EndpointsConfig": {"shop": {"Aliases": ["web", ""], "IPAMConfig": {
            "IPv4Address": "10.89.1.9"}}}}},
     {"network": "shop", "network_aliases": ("web",), "ip": "10.89.1.9"}),
    ({"Image": "x", "HostConfig": {"RestartPolicy": {"Name": "on-failure",
                                                     "MaximumRetryCount": 3}}},
     {"restart": "on-failure:3"}),
    ({"Image": "x", "HostConfig": {"NanoCpus": 500000000, "Memory": 64 << 20,
                                   "PidsLimit": -1}},
     {"cpus": 0.5, "memory": 64 << 20, "pids_limit": None}),
    ({"Image": "x", "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000,
                                    "Retries": 3}},
     {"health_cmd": "true", "health_interval": "1000000000ns", "health_retries": 3}),
    ({"Image": "x", "Healthcheck": {"Test": ["CMD", "test", "-e", "/a b"]}},
     {"health_cmd": "test -e '/a b'"}),
    ({"Image": "x", "Healthcheck": {"Test": ["NONE"]}}, {"no_healthcheck": True}),
    ({"Image": "x", "HostConfig": {"Tmpfs": {"/run": "size=1m", "/tmp": ""}}},
     {"tmpfs": ("/run:size=1m", "/tmp")}),
    ({"Image": "x", "AttachStdin": True, "OpenStdin": True, "StdinOnce": True},
     {"interactive": True, "stdin_once": True}),  # docker run -i
    ({"Image": "x", "OpenStdin": True}, {"interactive": True, "stdin_once": False}),  # -di
    ({"Image": "x", "HostConfig": {"ShmSize": 1 << 28, "GroupAdd": ["audio", 27],
                                   "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]}},
     {"shm_size": 1 << 28, "group_add": ("audio", "27"), "ulimits": ("nofile=1024:2048",)}),
    ({"Image": "x", "HostConfig": {"PidMode": "host", "IpcMode": "host", "UTSMode": "host",
                                   "UsernsMode": "host",
                                   "Sysctls": {"net.core.somaxconn": "1024"}}},
     {"pid": "host", "ipc": "host", "uts": "host", "userns": "host",
      "sysctls": ("net.core.somaxconn=1024",)}),
    ({"Image": "x", "HostConfig": {"Memory": 64 << 20, "MemorySwap": -1, "CpuShares": 512,
                                   "CpusetCpus": "0", "CpuQuota": 50000, "CpuPeriod": 100000,
                                   "BlkioWeight": 300, "OomKillDisable": True,
                                   "MemoryReservation": 32 << 20}},
     {"memory_swap": -1, "cpu_shares": 512, "cpuset_cpus": "0", "cpu_quota": 50000,
      "cpu_period": 100000, "blkio_weight": 300, "oom_kill_disable": True,
      "memory_reservation": 32 << 20}),
    ({"Image": "x", "HostConfig": {"Devices": [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "", "CgroupPermissions": "rwm"}]}},
     {"devices": ("/dev/fuse::rwm",)}),
    # what the docker CLI and compose send when a flag is not used: accepted
    ({"Image": "x", "HostConfig": {"IpcMode": "private", "PidMode": "", "Ulimits": None,
                                   "Devices": [], "Sysctls": {}, "MemorySwap": 0,
                                   "OomKillDisable": False, "CpuShares": 0}},
     {"image_ref": "x"}),
    ({"Image": "x", "HostConfig": {"OomScoreAdj": 500}}, {"oom_score_adj": 500}),
    ({"Image": "x", "HostConfig": {"VolumesFrom": ["data:ro"]}},
     {"volumes_from": ("data:ro",)}),
    ({"Image": "x", "Tty": True, "HostConfig": {"ConsoleSize": [17, 91]}},
     {"tty": True, "console_size": (17, 91)}),  # the docker CLI's terminal, with 1.41 too
])
def test_a_create_body_becomes_create_options(body, want):
    got = create_args(body, None)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "Config cannot be empty"),
    ([], 400, "must be a JSON object"),
    # set, what pyrun does not apply yet: one line naming the flag, not a container without
    ({"Image": "x", "HostConfig": {"KernelMemory": 1 << 20}}, 400, "--kernel-memory"),
    ({"Image": "x", "HostConfig": {"DeviceRequests": [{"Count": -1}]}}, 400,
     "--gpus is not supported"),
])
def test_what_create_refuses(body, status, message):
    with pytest.raises(ApiError, match=message) as e:
        create_args(body, None)
    assert e.value.status == status


def test_frames_of_the_multiplexed_stream():
    assert frame(1, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert frame(2, b"x" * 256)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x00"


def test_routes_match_names_with_slashes_and_versions():
    from runtime.api import server  # noqa: F401 - registers nothing by itself
    from runtime.api.routes import route
    hits = []

    @route("GET", "/pyrun-test/{name*}/json")
    def handler(svc, conn, req, name):
        hits.append(name)
    from runtime.api.routes import ROUTES
    method, regex, fn = ROUTES[-1]
    assert regex.match("/pyrun-test/registry:5000/a/b:1/json").group("name") == \
        "registry:5000/a/b:1"
    ROUTES.pop()
    assert server.VERSION_PREFIX.match("/v1.41/containers/json").group(3) == "/containers/json"


class _C:
    """As much of a container as the input's functions read."""
    def __init__(self, cid):
        self.id = cid


def test_a_start_takes_the_input_an_attach_made_and_the_next_start_a_new_one():
    c = _C("pyrun-unit-input")
    try:
        first = apic.input_for_start(c)  # the attach before docker run's start
        assert apic.input_for_start(c) is first  # the start finds it
        r = first.take_read_end()
        os.close(r)
        second = apic.input_for_start(c)  # a later start: that run has ended
        assert second is not first and first.w is None  # the old one closed
    finally:
        apic.drop_input(c.id, apic.INPUTS[c.id])
    assert c.id not in apic.INPUTS and second.r is None and second.w is None


def relay(inp, once):
    ours, client = socket.socketpair()
    t = threading.Thread(target=apic._relay_input, args=(ours, inp, once))
    t.start()
    return client, t


def test_the_clients_bytes_reach_the_container_and_its_end_ends_a_stdin_once_input():
    inp = apic.Input()
    client, t = relay(inp, once=True)
    client.sendall(b"line one\n")
    client.shutdown(socket.SHUT_WR)  # docker run -i at its stdin's end
    t.join(5)
    assert not t.is_alive()
    r = inp.take_read_end()  # what the container reads, even if it starts only now
    with os.fdopen(r, "rb") as f:
        assert f.read() == b"line one\n"  # then the end of its input
    client.close()


def test_an_input_that_is_not_stdin_once_outlives_its_client():
    inp = apic.Input()
    client, t = relay(inp, once=False)
    client.sendall(b"x")
    client.close()
    t.join(5)
    assert inp.w is not None  # open for the next attach, as docker run -di's is
    assert os.read(inp.r, 10) == b"x"
    assert inp.write(b"y") and os.read(inp.r, 10) == b"y"
    inp.close()
    assert not inp.write(b"z")  # closed: refused, not written to a reused number


def test_what_a_client_sends_after_the_container_ended_is_read_and_dropped():
    inp = apic.Input()
    os.close(inp.take_read_end())  # the container has gone: writes fail with EPIPE
    client, t = relay(inp, once=True)
    client.sendall(b"late keys" * 1000)
    client.shutdown(socket.SHUT_WR)
    t.join(5)
    assert not t.is_alive() and inp.w is None
    client.close()


def test_an_interactive_exec_waits_for_the_first_resize_unless_input_comes_first():
    sized = threading.Event()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert apic._await_size(sized, ours, 0.01) == "timeout"
        theirs.sendall(b"ls\n")  # a client that types without sizing is not kept waiting
        assert apic._await_size(sized, ours, 60) == "input"
        assert ours.recv(16) == b"ls\n"  # the input is left for the relay
        threading.Timer(0.05, sized.set).start()
        assert apic._await_size(sized, ours, 60) == "sized"
