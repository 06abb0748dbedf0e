"""api/server.py without a listening service: requests over a socket pair to Service's
connection handler, Docker's statuses for the engine's errors, keep-alive, and the socket
it serves (a unix socket of mode 0660; TCP only with TLS)."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading

import pytest

from runtime.api import server
from runtime.api.http import ApiError
from runtime.engine.containers import ContainerStateConflict, InvalidSpec
from runtime.engine.networking import InvalidEndpoint
from runtime.errors import ConfigError, Conflict, NotFound, PyrunError


@pytest.fixture
def service(tmp_path):
    return server.Service(str(tmp_path / "store"))


def talk(service, *requests: bytes) -> bytes:
    """The requests on one connection to the service's handler, then our end; all the
    bytes it answered."""
    ours, theirs = socket.socketpair()
    t = threading.Thread(target=service.handle_connection, args=(theirs,))
    t.start()
    ours.sendall(b"".join(requests))
    ours.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := ours.recv(65536):
        data += chunk
    t.join(10)
    ours.close()
    return data


def exchange(service, *requests: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each answer."""
    data = talk(service, *requests)
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(x.split(b": ", 1) for x in lines[1:])
        n = int(headers.get(b"Content-Length", b"0"))
        answers.append((int(lines[0].split()[1]), rest[:n]))
        data = rest[n:]
    return answers


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode()


def test_errors_are_dockers_statuses_and_the_connection_goes_on(service):
    answers = exchange(service, get("/_ping"), get("/v1.41/containers/pyrun-none/json"),
                       get("/v1.41/nothing"), get("/v1.99/version"),
                       b"PUT /v1.41/_ping HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n",
                       get("/version"))
    assert [s for s, _ in answers] == [200, 404, 404, 400, 405, 200]
    assert answers[0][1] == b"OK"
    assert json.loads(answers[1][1]) == {"message": "No such container: pyrun-none"}
    assert json.loads(answers[2][1])["message"] == "page not found: GET /v1.41/nothing"
    assert "too new" in json.loads(answers[3][1])["message"]
    assert json.loads(answers[5][1])["ApiVersion"] == "1.41"


def test_a_bug_is_a_500_naming_it_and_the_service_serves_on(service, capsys):
    from runtime.api.routes import ROUTES, route

    @route("GET", "/pyrun-test-bug")
    def bug(svc, conn, req):
        raise KeyError("oops")
    try:
        (status, body), (again, _) = exchange(service, get("/pyrun-test-bug"), get("/_ping"))
    finally:
        ROUTES.pop()
    assert status == 500 and json.loads(body)["message"] == "KeyError: 'oops'"
    assert again == 200
    assert "Traceback" in capsys.readouterr().err  # where it was, for whoever mends it


@pytest.mark.parametrize("error, status", [
    (ApiError(418, "x"), 418), (NotFound("x"), 404), (Conflict("x"), 409),
    (ConfigError("x"), 400), (ValueError("x"), 400), (PyrunError("x"), 500),
    (RuntimeError("x"), 500),
    # as dockerd answers them: a bad flag 400, a kill or pause of a stopped container 409
    (InvalidSpec("invalid port spec"), 400), (InvalidEndpoint("no subnet"), 400),
    (ContainerStateConflict("not running"), 409),
])
def test_status_of(error, status):
    assert server.status_of(error) == status


def test_the_unix_socket_is_root_and_the_groups_alone(tmp_path):
    path = str(tmp_path / "sub" / "docker.sock")
    s, remove = server.listening_socket(f"unix://{path}")
    try:
        assert remove == path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert stat.S_ISSOCK(os.stat(path).st_mode)
    finally:
        s.close()


def test_tcp_without_tls_and_other_schemes_are_refused():
    with pytest.raises(PyrunError, match="only with TLS client verification"):
        server.listening_socket("tcp://127.0.0.1:0")
    with pytest.raises(PyrunError, match="cannot serve 'http://x'"):
        server.listening_socket("http://x")


def call(method: str, path: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    return (f"{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def test_volumes_over_the_api(service):
    q = "?filters=" + json.dumps({"label": ["tier=db"]}).replace(" ", "")
    answers = exchange(
        service,
        call("POST", "/v1.41/volumes/create", {"Name": "pyrun-v", "Labels": {"tier": "db"}}),
        call("POST", "/v1.41/volumes/create", {}),
        get("/v1.41/volumes" + q), get("/v1.41/volumes/pyrun-v"),
        call("POST", "/v1.41/volumes/prune"), call("DELETE", "/v1.41/volumes/pyrun-v"),
        call("DELETE", "/v1.41/volumes/pyrun-v"), get("/v1.41/volumes"))
    assert [s for s, _ in answers] == [201, 201, 200, 200, 200, 204, 404, 200]
    anon = json.loads(answers[1][1])["Name"]
    assert [v["Name"] for v in json.loads(answers[2][1])["Volumes"]] == ["pyrun-v"]
    assert json.loads(answers[3][1])["Labels"] == {"tier": "db"}
    assert json.loads(answers[4][1])["VolumesDeleted"] == [anon]  # anonymous ones only
    assert json.loads(answers[7][1]) == {"Volumes": [], "Warnings": None}


def test_networks_over_the_api(service, network_defs):
    create = {"Name": "pyrun-n", "Internal": True, "Labels": {"a": "b"},
              "IPAM": {"Config": [{"Subnet": "10.92.0.0/24"}]}}
    answers = exchange(service, call("POST", "/v1.41/networks/create", create),
                       call("POST", "/v1.41/networks/create", create),
                       get("/v1.41/networks/pyrun-n"), get("/v1.41/networks"),
                       call("DELETE", "/v1.41/networks/pyrun-n"),
                       get("/v1.41/networks/pyrun-n"))
    assert [s for s, _ in answers] == [201, 409, 200, 200, 204, 404]
    made = json.loads(answers[2][1])
    assert made["Id"] == json.loads(answers[0][1])["Id"] and made["Internal"] is True
    assert made["IPAM"]["Config"][0]["Subnet"] == "10.92.0.0/24"
    assert {"bridge", "host", "none", "pyrun-n"} <= {n["Name"] for n in
                                                     json.loads(answers[3][1])}


def test_images_over_the_api(service):
    import io
    import tarfile
    from runtime.image import base
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("hello")
        info.size = 3
        t.addfile(info, io.BytesIO(b"hi\n"))
    buf.seek(0)
    img = base.import_tar(service.store, buf, "pyrun-img:1", source="unit")
    ref = "?filters=" + json.dumps({"reference": ["pyrun-img"]}).replace(" ", "")
    answers = exchange(
        service, get("/v1.41/images/json" + ref), get("/v1.41/images/pyrun-img:1/json"),
        get("/v1.41/images/pyrun-img:1/history"),
        call("POST", "/v1.41/images/pyrun-img:1/tag?repo=pyrun-other&tag=2"),
        call("DELETE", "/v1.41/images/pyrun-img:1"), get("/v1.41/images/pyrun-img:1/json"),
        get("/v1.41/images/pyrun-other:2/json"), call("POST", "/v1.41/images/pyrun-none/tag"))
    assert [s for s, _ in answers] == [200, 200, 200, 201, 200, 404, 200, 400]
    (listed,) = json.loads(answers[0][1])
    assert listed["Id"] == img.id and listed["RepoTags"] == ["pyrun-img:1"]
    assert json.loads(answers[1][1])["Config"]["Env"] == base.DEFAULT_ENV
    assert json.loads(answers[2][1])[0]["Comment"] == "Imported from unit"
    assert json.loads(answers[4][1]) == [{"Untagged": "pyrun-img:1"}]  # the other tag stays
    assert json.loads(answers[6][1])["Id"] == img.id
    assert "repository name is required" in json.loads(answers[7][1])["message"]


def body_post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def streamed(service, request: bytes) -> tuple[int, list]:
    """One request whose answer may be chunked JSON lines: (status, the JSON messages)."""
    head, _, rest = talk(service, request).partition(b"\r\n\r\n")
    if b"chunked" in head:
        body = b""
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            body, rest = body + rest[:n], rest[n + 2:]
            if n == 0:
                break
    else:
        body = rest
    return int(head.split()[1]), [json.loads(x) for x in body.splitlines() if x.strip()]


def context_tar(files: dict) -> bytes:
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, "../../etc/passwd"
            else:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data or b""))
    return buf.getvalue()


class FakeBuild:
    """`pyrun build` as the API runs it: the argv kept, the output and exit code given."""

    def __init__(self, out: str, code: int):
        self.out, self.code, self.argv, self.seen = out, code, None, {}

    def __call__(self, argv, **kw):
        import io
        self.argv = argv
        ctx = argv[-1]
        self.seen = {n: open(os.path.join(ctx, n)).read() for n in os.listdir(ctx)
                     if os.path.isfile(os.path.join(ctx, n))}
        self.stdout = io.StringIO(self.out)
        return self

    def wait(self):
        return self.code


def test_a_build_runs_pyrun_build_over_the_unpacked_context(service, monkeypatch):
    from runtime.api import build
    from runtime.image import base
    import io
    img = base.import_tar(service.store, io.BytesIO(context_tar({"x": b"x"})), None)
    fake = FakeBuild(f"Step 1/1 : FROM busybox\nSuccessfully built {img.id[7:19]}\n", 0)
    monkeypatch.setattr(build.subprocess, "Popen", fake)
    q = ("t=pyrun-b:1&nocache=1&target=app&buildargs=" +
         json.dumps({"WHO": "api"}).replace(" ", "") + "&dockerfile=sub/Dockerfile.dev")
    status, msgs = streamed(service, body_post(f"/v1.41/build?{q}", context_tar(
        {"sub/Dockerfile.dev": b"FROM busybox\n", "note": b"n"})))
    assert status == 200
    assert msgs == [{"stream": "Step 1/1 : FROM busybox\n"},
                    {"stream": f"Successfully built {img.id[7:19]}\n"},
                    {"aux": {"ID": img.id}}]
    argv = fake.argv
    assert argv[argv.index("-t") + 1] == "pyrun-b:1" and "--no-cache" in argv
    assert argv[argv.index("--build-arg") + 1] == "WHO=api"
    assert argv[argv.index("--target") + 1] == "app"
    assert argv[argv.index("-f") + 1].endswith("/context/sub/Dockerfile.dev")
    assert fake.seen["note"] == "n"
    work = os.path.dirname(argv[-1])
    assert os.path.basename(work).startswith("pyrun-api-build-") and not os.path.exists(work)


def test_a_failed_build_is_dockers_error_message_with_the_steps_code(service, monkeypatch):
    from runtime.api import build
    fake = FakeBuild("Step 2/2 : RUN exit 7\npyrun: Dockerfile:2: The command '/bin/sh -c "
                     "exit 7' returned a non-zero code: 7\n", 7)
    monkeypatch.setattr(build.subprocess, "Popen", fake)
    status, msgs = streamed(service, body_post("/v1.41/build", context_tar(
        {"Dockerfile": b"FROM busybox\nRUN exit 7\n"})))
    message = "Dockerfile:2: The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    assert (status, msgs[-1]) == (200, {"errorDetail": {"code": 7, "message": message},
                                        "error": message})
    assert {"stream": "Step 2/2 : RUN exit 7\n"} in msgs


def test_what_a_build_refuses_before_it_starts(service):
    tar = context_tar({"Dockerfile": b"FROM busybox\n"})
    for query, body, message in (
            ("labels=" + json.dumps({"a": "b"}).replace(" ", ""), tar,
             "build labels are not supported"),
            ("remote=https://example.test/x.git", tar, "remote context"),
            ("dockerfile=../../etc/passwd", tar, "outside the context"),
            ("", context_tar({"Dockerfile": b"FROM busybox\n", "escape": None}),
             "not a readable tar"),  # a link out of the context: unpacked, never
            ("", b"not a tar at all" * 64, "not a readable tar")):
        status, msgs = streamed(service, body_post(f"/v1.41/build?{query}", body))
        assert status == 400 and message in msgs[0]["message"], (query, msgs)
