"""The API's pure pieces: Docker's create body → CreateOptions' fields, the multiplexed
stream's frames, routing patterns."""

from __future__ import annotations

import pytest

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
        "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}]}}},
     {"publish": ("8080:80/tcp", "53/udp", "127.0.0.1:8443:443/tcp")}),
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
])
def test_a_create_body_becomes_create_options(body, want):
    got = create_args(body, None)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "Config cannot be empty"),
    ([], 400, "must be a JSON object"),
    ({"Image": "x", "AttachStdin": True}, 501, "stdin is not supported yet"),
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
