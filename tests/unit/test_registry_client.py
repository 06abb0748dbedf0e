"""The registry client against a scripted HTTP server on 127.0.0.1: retries with backoff,
errors as one line, and what a pull or push shows of its progress."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading

import pytest

from runtime.image import reference
from runtime.registry import client
from runtime.registry.progress import Progress
from tests.conftest import free_port


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next (status, headers, body) of the server's script.
    A header "X-Cut: N" is not sent: the body is announced whole, N bytes of it are sent,
    and the connection is closed (a transfer cut short)."""

    def do_GET(self):
        self.server.seen.append((self.command, self.path))
        self.server.headers.append(dict(self.headers))
        status, headers, body = self.server.script.pop(0)
        headers = dict(headers)
        cut = int(headers.pop("X-Cut", len(body)))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:cut])
        if cut < len(body):
            self.wfile.flush()
            self.close_connection = True

    do_HEAD = do_PUT = do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    srv.script, srv.seen, srv.headers = [], [], []
    t = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def no_sleep(monkeypatch):
    waits = []
    monkeypatch.setattr(client.time, "sleep", waits.append)
    return waits


def session(srv) -> client.Session:
    return client.Session(reference.parse(f"127.0.0.1:{srv.server_address[1]}/team/app:1"))


def test_transient_failures_are_retried_with_backoff(server, no_sleep):
    server.script = [(503, {}, b""), (429, {"Retry-After": "3"}, b""), (502, {}, b""),
                     (200, {}, b"manifest")]
    _, data = session(server).request("GET", "/v2/team/app/manifests/1")
    assert data == b"manifest"
    assert no_sleep == [0.2, 3.0, 0.8]  # doubling, and the server's Retry-After when given
    assert len(server.seen) == 4


def test_retries_are_bounded_and_end_in_one_clear_line(server, no_sleep):
    server.script = [(429, {"Retry-After": "3600"}, b"")] * 3 + [
        (429, {}, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')]
    with pytest.raises(client.RegistryError) as e:
        session(server).request("GET", "/v2/team/app/manifests/1")
    port = server.server_address[1]
    assert str(e.value) == (f"127.0.0.1:{port}/team/app:1: too many requests "
                            "(TOOMANYREQUESTS: slow down) [GET /v2/team/app/manifests/1]")
    assert no_sleep == [client.MAX_WAIT] * 3  # an hour's Retry-After is capped
    assert len(server.seen) == 4


def test_not_found_is_not_retried(server, no_sleep):
    server.script = [(404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}')]
    with pytest.raises(client.RegistryError, match="not found .MANIFEST_UNKNOWN: no."):
        session(server).request("GET", "/v2/team/app/manifests/1")
    assert no_sleep == [] and len(server.seen) == 1


def test_a_file_body_is_sent_whole_again_on_retry(server, no_sleep):
    bodies = []

    class Recording(Scripted):
        def do_PUT(self):
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            Scripted.do_GET(self)
    server.RequestHandlerClass = Recording
    server.script = [(503, {}, b""), (201, {}, b"")]
    f = io.BytesIO(b"0123456789")
    session(server).request("PUT", "/v2/team/app/blobs/uploads/x?digest=sha256:1",
                            {"Content-Length": "10"}, body=f, ok=(201,))
    assert bodies == [b"0123456789", b"0123456789"]


def test_bearer_challenge_fetches_a_token_anonymously_then_with_credentials(
        server, no_sleep, tmp_path, monkeypatch):
    port = server.server_address[1]
    challenge = {"WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/token",'
                                     'service="reg.test",scope="repository:team/app:pull"'}
    server.script = [(401, challenge, b""), (200, {}, b'{"token": "T1"}'),
                     (200, {}, b"manifest")]
    _, data = session(server).request("GET", "/v2/team/app/manifests/1")
    assert data == b"manifest"
    assert server.seen[1] == ("GET", "/token?service=reg.test&scope=repository%3Ateam%2Fapp"
                                     "%3Apull")
    assert "Authorization" not in server.headers[1]  # anonymous: no credentials stored
    assert server.headers[2]["Authorization"] == "Bearer T1"
    # With credentials (pyrun login), the token request carries them; an OAuth2-style
    # answer ("access_token") is taken too.
    monkeypatch.setattr(client, "AUTH_FILE", str(tmp_path / "auth.json"))
    client.login(f"127.0.0.1:{port}", "tester", "s3cret")
    server.script = [(401, challenge, b""), (200, {}, b'{"access_token": "T2"}'),
                     (200, {}, b"manifest")]
    session(server).request("GET", "/v2/team/app/manifests/1")
    assert server.headers[4]["Authorization"] == "Basic dGVzdGVyOnMzY3JldA=="  # tester:s3cret
    assert server.headers[5]["Authorization"] == "Bearer T2"


def test_a_refused_token_is_one_line(server, no_sleep):
    port = server.server_address[1]
    server.script = [(401, {"WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/t"'},
                      b""), (403, {}, b"no")]
    with pytest.raises(client.RegistryError, match="authentication failed .403."):
        session(server).request("GET", "/v2/team/app/manifests/1")


def test_a_connection_lost_before_the_answer_is_tried_again(server, no_sleep):
    server.script = [(200, {"X-Cut": "0"}, b"x"), (200, {}, b"manifest")]

    class Silent(Scripted):  # closes without answering the first request
        def do_GET(self):
            if len(self.server.seen) == 0:
                self.server.seen.append((self.command, self.path))
                self.server.script.pop(0)
                self.close_connection = True
                return
            Scripted.do_GET(self)
    server.RequestHandlerClass = Silent
    _, data = session(server).request("GET", "/v2/team/app/manifests/1")
    assert data == b"manifest" and no_sleep == [0.2] and len(server.seen) == 2


def test_nothing_listening_is_not_tried_again(no_sleep):
    s = client.Session(reference.parse(f"127.0.0.1:{free_port()}/team/app:1"))
    with pytest.raises(client.RegistryError, match="cannot reach registry"):
        s.request("GET", "/v2/")
    assert no_sleep == []


BLOB = bytes(range(256)) * 1000
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def part(start: int) -> dict:
    return {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"}


def test_a_blob_cut_short_is_taken_up_where_it_stopped(server, no_sleep):
    server.script = [(200, {"X-Cut": "100000"}, BLOB),
                     (206, {"X-Cut": "50000", **part(100000)}, BLOB[100000:]),
                     (206, part(150000), BLOB[150000:])]
    blob = client._Blob(session(server), BLOB_DIGEST)
    data = b"".join(iter(lambda: blob.read(1 << 16), b""))
    blob.check()
    assert data == BLOB
    assert [h.get("Range") for h in server.headers] == [None, "bytes=100000-",
                                                         "bytes=150000-"]
    assert no_sleep == [0.2, 0.2]  # each cut is a new try: the count restarts after data


def test_a_registry_that_ignores_range_sends_it_whole_and_the_start_is_skipped(
        server, no_sleep):
    server.script = [(200, {"X-Cut": "70000"}, BLOB), (200, {}, BLOB)]
    blob = client._Blob(session(server), BLOB_DIGEST)
    assert b"".join(iter(lambda: blob.read(1 << 16), b"")) == BLOB
    blob.check()


def test_a_blob_cut_short_every_time_ends_in_one_line(server, no_sleep):
    server.script = [(200, {"X-Cut": "10"}, BLOB)] + [(206, {"X-Cut": "0", **part(10)},
                                                        BLOB[10:])] * 3
    blob = client._Blob(session(server), BLOB_DIGEST)
    with pytest.raises(client.RegistryError) as e:
        blob.check()
    assert str(e.value) == (f"blob {BLOB_DIGEST}: transfer cut short at 10 bytes (closed "
                            f"with {len(BLOB) - 10} bytes to come; 4 tries)")
    assert len(no_sleep) == 3


def test_a_range_answered_with_other_bytes_is_refused(server, no_sleep):
    server.script = [(200, {"X-Cut": "1000"}, BLOB), (206, part(0), BLOB)]
    blob = client._Blob(session(server), BLOB_DIGEST)
    with pytest.raises(client.RegistryError) as e:
        blob.check()
    assert str(e.value) == (f"blob {BLOB_DIGEST}: asked for bytes 1000- and got bytes "
                            f"0-{len(BLOB) - 1}/{len(BLOB)}")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_redraws_rows_with_bytes_and_rate():
    out, clock = Terminal(), Clock()
    p = Progress(out, clock)
    p.start("sha256:" + "a" * 64, "Downloading", total=4_000_000)
    p.start("sha256:" + "b" * 64, "Downloading", total=1000)
    clock.t += 2
    p.advance("sha256:" + "a" * 64, 3_000_000)
    assert "aaaaaaaaaaaa: Downloading  3MB/4MB  1.5MB/s" in out.getvalue()
    p.done("sha256:" + "b" * 64, "Already exists")
    p.close()
    last = out.getvalue().rsplit("\x1b[2F", 1)[1]  # the last redraw, from the first row
    assert last == ("aaaaaaaaaaaa: Downloading  3MB/4MB  1.5MB/s\x1b[K\n"
                    "bbbbbbbbbbbb: Already exists\x1b[K\n")


def test_progress_elsewhere_is_one_plain_line_per_finished_blob():
    out, clock = io.StringIO(), Clock()
    p = Progress(out, clock)
    p.start("sha256:" + "a" * 64, "Downloading", total=2_500_000)
    p.advance("sha256:" + "a" * 64, 2_500_000)
    clock.t += 0.5
    p.done("sha256:" + "a" * 64, "Pull complete")
    p.done("sha256:" + "c" * 64, "Already exists")
    p.close()
    assert out.getvalue() == ("aaaaaaaaaaaa: Pull complete (2.5MB in 0.5s)\n"
                              "cccccccccccc: Already exists\n")


@pytest.fixture
def config(tmp_path, monkeypatch):
    """pyrun's config file, this test's own; no PYRUN_INSECURE_REGISTRIES from outside."""
    path = tmp_path / "config.json"
    monkeypatch.setenv("PYRUN_CONFIG", str(path))
    monkeypatch.delenv("PYRUN_INSECURE_REGISTRIES", raising=False)
    return path


def scheme(name: str) -> str:
    return client.Session(reference.parse(f"{name}/team/app:1")).scheme


def test_loopback_registries_are_plain_http_others_https(config):
    assert [scheme(h) for h in ("localhost:5000", "127.0.0.5:80", "[::1]:5000",
                                "registry.test:5000", "10.1.2.3:5000", "ghcr.io")] == \
        ["http"] * 3 + ["https"] * 3


def test_insecure_registries_from_the_config_file_and_the_environment(config, monkeypatch):
    config.write_text('{"insecure-registries": ["registry.test:5000", "mirror.test",'
                      ' "10.0.0.0/8", "fd00::/8"]}')
    assert [scheme(h) for h in ("registry.test:5000", "registry.test:6000", "mirror.test:1",
                                "10.1.2.3:5000", "[fd00::1]:5000", "11.0.0.1:5000",
                                "other.test")] == ["http", "https", "http", "http", "http",
                                                   "https", "https"]
    monkeypatch.setenv("PYRUN_INSECURE_REGISTRIES", "other.test, 11.0.0.1:5000")
    assert scheme("other.test") == scheme("11.0.0.1:5000") == "http"


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "not a JSON object"),
    ("{oops", "not a JSON object"),
    ('{"insecure-registries": "registry.test"}', "must be a list"),
    ('{"insecure-registries": ["10.0.0.0/99"]}', "'10.0.0.0/99': not an address range"),
])
def test_a_bad_config_file_is_one_line(config, text, message):
    config.write_text(text)
    with pytest.raises(client.RegistryError, match=message):
        scheme("10.1.2.3:5000")


def test_a_listed_registry_is_spoken_to_in_plain_http(server, config, monkeypatch):
    """registry.test (resolved here to the scripted server) is reached over HTTP once
    listed: the request arrives as plain HTTP and is answered."""
    port = server.server_address[1]
    real = client.http.client.socket.create_connection

    def to_loopback(address, *args, **kw):
        host, p = address
        return real(("127.0.0.1" if host == "registry.test" else host, p), *args, **kw)
    monkeypatch.setattr(client.http.client.socket, "create_connection", to_loopback)
    config.write_text(f'{{"insecure-registries": ["registry.test:{port}"]}}')
    server.script = [(200, {}, b"manifest")]
    s = client.Session(reference.parse(f"registry.test:{port}/team/app:1"))
    assert s.request("GET", "/v2/team/app/manifests/1")[1] == b"manifest"
    assert server.headers[0]["Host"] == f"registry.test:{port}"


def test_a_schema1_manifest_is_one_clear_line(server, no_sleep, tmp_path):
    from runtime.image.store import Store
    server.script = [(200, {"Content-Type": client.MEDIA_DOCKER_SCHEMA1},
                      b'{"schemaVersion": 1, "name": "team/app", "fsLayers": []}')]
    port = server.server_address[1]
    with pytest.raises(client.RegistryError) as e:
        client.pull(Store(str(tmp_path / "store")), f"127.0.0.1:{port}/team/app:1")
    assert str(e.value) == (f"127.0.0.1:{port}/team/app:1: Docker schema 1 manifests are not "
                            "supported (deprecated since 2017); push the image again with a "
                            "current client")
    assert Store(str(tmp_path / "store")).images() == []  # nothing stored


INDEX = [{"digest": "sha256:1", "platform": {"os": "linux", "architecture": "amd64"}},
         {"digest": "sha256:2", "platform": {"os": "linux", "architecture": "arm",
                                             "variant": "v6"}},
         {"digest": "sha256:3", "platform": {"os": "linux", "architecture": "arm",
                                             "variant": "v7"}},
         {"digest": "sha256:4", "platform": {"os": "linux", "architecture": "arm64",
                                             "variant": "v8"}},
         {"digest": "sha256:5", "platform": {"os": "windows", "architecture": "amd64"}}]


@pytest.mark.parametrize("text, digest", [
    ("linux/amd64", "sha256:1"), ("linux/arm/v7", "sha256:3"), ("linux/arm", "sha256:2"),
    ("linux/arm64", "sha256:4"), ("linux/arm64/v8", "sha256:4"), ("windows/amd64", "sha256:5"),
    ("linux/arm/v5", None), ("linux/s390x", None)])
def test_platform_picked_from_an_index_with_or_without_a_variant(text, digest):
    choice = client.pick_platform(INDEX, client.parse_platform(text))
    assert (choice or {}).get("digest") == digest


@pytest.mark.parametrize("bad", ["linux", "linux/", "a/b/c/d", "/amd64"])
def test_a_bad_platform_is_one_line(bad):
    with pytest.raises(client.RegistryError, match=r"expected os/arch\[/variant\], got"):
        client.parse_platform(bad)


def test_a_missing_image_is_pulled_docker_hub_names_included(tmp_path, monkeypatch):
    """run --pull missing, as Docker's: the "Unable to find image" line, then the pull; a
    name the store has is not pulled; never does not pull."""
    from runtime.image.store import Store
    pulled = []
    monkeypatch.setattr(client, "pull", lambda store, name, out=None: pulled.append(name))
    out = io.StringIO()
    store = Store(str(tmp_path)).ensure()
    assert client.ensure(store, "nginx", "missing", out=out) is True
    assert out.getvalue() == "Unable to find image 'nginx:latest' locally\n"
    assert pulled == ["nginx"]
    assert client.ensure(store, "nginx", "never", out=out) is False and pulled == ["nginx"]
