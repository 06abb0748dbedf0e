"""pull and push against real registries: Debian's docker-registry (distribution 2.8) on
127.0.0.1, one instance open and one with htpasswd (basic) auth, checked with skopeo."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from tests.conftest import free_port
from tests.integration.test_build import (  # noqa: F401
    PYRUN, busybox, context, fresh_store, pyrun)


class Registry:
    def __init__(self, auth: bool = False):
        if shutil.which("docker-registry") is None:
            pytest.skip("docker-registry not installed (scripts/setup --test installs it)")
        self.dir = tempfile.mkdtemp(prefix="pyrun-registry-", dir="/var/tmp")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = (f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
               f"http:\n  addr: {self.host}\n")
        if auth:
            subprocess.run(["htpasswd", "-Bbc", f"{self.dir}/htpasswd", "tester", "s3cret"],
                           check=True, capture_output=True)
            cfg += (f"auth:\n  htpasswd:\n    realm: pyrun-test\n"
                    f"    path: {self.dir}/htpasswd\n")
        with open(f"{self.dir}/config.yml", "w") as f:
            f.write(cfg)
        self.log = open(f"{self.dir}/log", "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", f"{self.dir}/config.yml"],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("registry did not start: " + open(f"{self.dir}/log").read())

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def registry():
    r = Registry()
    yield r
    r.stop()


@pytest.fixture
def auth_registry():
    r = Registry(auth=True)
    yield r
    r.stop()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Credentials go to this test's own HOME, never the real one."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


@pytest.fixture
def image(pyrun, busybox, tmp_path):  # noqa: F811
    pyrun("build", "-t", "shared:1", context(tmp_path, "FROM busybox\nRUN echo shared > /s\n"
                                             "CMD [\"cat\", \"/s\"]\n"))
    return json.loads(pyrun("image", "inspect", "shared:1").stdout)[0]


def skopeo(*args) -> dict:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed (scripts/setup --test installs it)")
    p = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}


def test_push_pull_run_round_trip(pyrun, image, registry, home):  # noqa: F811
    name = f"{registry.host}/team/shared:1"
    pyrun("image", "tag", "shared:1", name)
    out = pyrun("push", name).stdout
    last = out.strip().splitlines()[-1]  # as docker: "1: digest: sha256:... size: N"
    digest, size = last.split("digest: ")[1].split(" size: ")
    assert out.count(": Pushed") == len(image["RootFS"]["Layers"]) + 1  # layers + config
    info = skopeo("inspect", "--tls-verify=false", f"docker://{name}")
    assert info["Digest"] == digest and info["Layers"] == image["RootFS"]["Layers"]
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{name}"], capture_output=True, check=True).stdout
    assert int(size) == len(raw)
    assert json.loads(pyrun("image", "inspect", name).stdout)[0]["RepoDigests"] == \
        [f"{registry.host}/team/shared@{digest}"]
    again = pyrun("push", name).stdout
    assert ": Pushed" not in again and "Layer already exists" in again  # HEAD: it has them
    with fresh_store() as other:
        out = other("pull", name).stdout
        assert f"Digest: {digest}" in out
        assert out.count(": Pull complete") == len(image["RootFS"]["Layers"])
        pulled = json.loads(other("image", "inspect", name).stdout)[0]
        assert pulled["Id"] == image["Id"]
        assert other("run", "--rm", name).stdout == "shared\n"
        again = other("pull", name).stdout
        assert "Pull complete" not in again and "Already exists" in again  # not fetched
        assert json.loads(other("image", "inspect", name).stdout)[0]["RepoDigests"] == \
            [f"{registry.host}/team/shared@{digest}"]
    with fresh_store() as other:  # by digest, as Docker: the repository, no tag
        by_digest = f"{registry.host}/team/shared@{digest}"
        other("pull", by_digest)
        rows = [r.split() for r in other("image", "ls").stdout.splitlines()[1:]]
        assert [r[:3] for r in rows] == [[f"{registry.host}/team/shared", "<none>",
                                          image["Id"][7:19]]]
        pulled = json.loads(other("image", "inspect", by_digest).stdout)[0]
        assert pulled["RepoTags"] == [] and pulled["RepoDigests"] == [by_digest]
        p = other("run", "--rm", by_digest)
        assert p.stdout == "shared\n" and "Unable to find" not in p.stderr
        other("image", "prune")  # pulled by digest is not dangling
        assert other("image", "ls", "-q").stdout.strip() == image["Id"][7:19]


def test_push_mounts_blobs_from_another_repository_and_uploads_in_chunks(
        pyrun, image, registry):  # noqa: F811
    first, second = f"{registry.host}/team/a:1", f"{registry.host}/team/b:1"
    pyrun("image", "tag", "shared:1", first)
    out = pyrun("push", "--chunk-size", "64k", first).stdout  # busybox: many chunks
    assert out.count(": Pushed") == len(image["RootFS"]["Layers"]) + 1
    with open(f"{registry.dir}/log") as f:
        patches = f.read().count("http.request.method=PATCH")
    assert patches > 10  # the busybox layer alone is some 2 MB: 30-odd chunks of 64 KiB
    pyrun("image", "tag", "shared:1", second)
    out = pyrun("push", second).stdout
    # Every blob came from team/a on the registry's side: nothing uploaded again.
    assert out.count(": Mounted from team/a") == len(image["RootFS"]["Layers"]) + 1, out
    assert ": Pushed" not in out
    for name in (first, second):
        assert skopeo("inspect", "--tls-verify=false", f"docker://{name}")["Layers"] == \
            image["RootFS"]["Layers"]
    with fresh_store() as other:
        assert other("run", "--rm", second).stdout == "shared\n"


def test_bad_chunk_size_is_one_line(pyrun, image, registry):  # noqa: F811
    p = pyrun("push", "--chunk-size", "lots", f"{registry.host}/team/a:1", check=False)
    assert p.returncode != 0 and "not a size: 'lots'" in p.stderr


def test_run_pulls_a_missing_image_from_its_registry(pyrun, image, registry):  # noqa: F811
    name = f"{registry.host}/auto/shared:1"
    pyrun("image", "tag", "shared:1", name)
    pyrun("push", name)
    with fresh_store() as other:
        p = other("run", "--rm", name)
        assert p.stdout == "shared\n" and f"Unable to find image '{name}' locally" in p.stderr


def test_pull_policies_of_run_and_build(pyrun, image, registry, tmp_path):  # noqa: F811
    name = f"{registry.host}/policy/app:1"
    pyrun("image", "tag", "shared:1", name)
    pyrun("push", name)
    with fresh_store() as other:
        p = other("run", "--rm", "--pull", "never", name, check=False)
        assert p.returncode == 125 and "locally (--pull never)" in p.stderr
        assert "Pull complete" not in p.stderr  # the registry not even asked
        assert other("run", "--rm", name).stdout == "shared\n"  # missing: pulled
        # A newer image under the same name: "missing" keeps what is here, "always" takes it.
        pyrun("build", "-t", name, context(tmp_path, "FROM busybox\nCMD [\"echo\", \"v2\"]\n"))
        pyrun("push", name)
        assert other("run", "--rm", name).stdout == "shared\n"
        p = other("run", "--rm", "--pull", "always", name)
        assert p.stdout == "v2\n" and "Already exists" in p.stderr  # the busybox layer
        # build --pull: the FROM image is fetched again even though it is here.
        pyrun("build", "-t", name, context(tmp_path, "FROM busybox\nCMD [\"echo\", \"v3\"]\n"))
        pyrun("push", name)
        out = other("build", "--pull", "-t", "child:1",
                    context(tmp_path, f"FROM {name}\nRUN true\n")).stdout
        assert "Already exists" in out  # pulled: the new config, the same busybox layer
        assert other("run", "--rm", "child:1").stdout == "v3\n"


@pytest.mark.parametrize("fmt, manifest_type", [
    ("oci", "application/vnd.oci.image.manifest.v1+json"),
    ("v2s2", "application/vnd.docker.distribution.manifest.v2+json")])
def test_pull_what_skopeo_pushed(pyrun, image, registry, tmp_path, fmt, manifest_type):  # noqa: F811,E501
    """skopeo gzips the layers on the way (a registry's usual form): the pull checks the
    compressed digests and unpacks the same diff_ids."""
    archive = tmp_path / "oci.tar"
    pyrun("image", "save", "--format", "oci", "-o", str(archive), "shared:1")
    name = f"{registry.host}/from/skopeo:{fmt}"
    skopeo("copy", "--dest-tls-verify=false", "--format", fmt, f"oci-archive:{archive}",
           f"docker://{name}")
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{name}")
    assert raw["mediaType"] == manifest_type
    assert all(layer["mediaType"].endswith(("gzip", "tar.gzip")) for layer in raw["layers"])
    digest = skopeo("inspect", "--tls-verify=false", f"docker://{name}")["Digest"]
    with fresh_store() as other:
        assert f"Digest: {digest}\n" in other("pull", name).stdout  # the registry's, as docker
        pulled = json.loads(other("image", "inspect", name).stdout)[0]
        assert pulled["RootFS"]["Layers"] == image["RootFS"]["Layers"]
        assert other("run", "--rm", name).stdout == "shared\n"
        # The registry's digest (of gzipped layers; pyrun's own manifest differs) finds it.
        assert pulled["RepoDigests"] == [f"{registry.host}/from/skopeo@{digest}"]
        p = other("run", "--rm", f"{registry.host}/from/skopeo@{digest}")
        assert p.stdout == "shared\n" and "Unable to find" not in p.stderr


def test_a_corrupted_blob_is_refused(pyrun, image, registry):  # noqa: F811
    name = f"{registry.host}/bad/shared:1"
    pyrun("image", "tag", "shared:1", name)
    pyrun("push", name)
    layer = image["RootFS"]["Layers"][-1].split(":")[1]
    blob = f"{registry.dir}/data/docker/registry/v2/blobs/sha256/{layer[:2]}/{layer}/data"
    with open(blob, "r+b") as f:
        f.seek(600)
        original = f.read(10)
        f.seek(600)
        f.write(b"corrupted!")
    with fresh_store() as other:
        p = other("pull", name, check=False)
        assert p.returncode == 1 and "does not match its digest" in p.stderr
        assert other("image", "ls", "-aq").stdout == ""  # nothing named
        assert os.listdir(os.path.join(other.root, "tmp")) == []
        # The registry mended, the pull resumes with what was complete: the good layers
        # are not fetched again, the one refused is.
        with open(blob, "r+b") as f:
            f.seek(600)
            f.write(original)
        out = other("pull", name).stdout
        layers = image["RootFS"]["Layers"]
        assert out.count(": Already exists") == len(layers) - 1, out
        assert f"{layer[:12]}: Pull complete" in out
        assert other("run", "--rm", name).stdout == "shared\n"


def test_a_pull_killed_midway_is_resumed_by_the_next(pyrun, busybox, registry, tmp_path):  # noqa: F811,E501
    name = f"{registry.host}/big/app:1"
    pyrun("build", "-t", name, context(tmp_path, "FROM busybox\n"
                                       "RUN dd if=/dev/urandom of=/big bs=1M count=150\n"))
    pyrun("push", name)
    base, big = json.loads(pyrun("image", "inspect", name).stdout)[0]["RootFS"]["Layers"]
    with fresh_store() as other:
        env = dict(os.environ, PYRUN_ROOT=other.root)
        p = subprocess.Popen([PYRUN, "pull", name], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        # Killed once the small layer is in and the big one on its way.
        layers, tmp = os.path.join(other.root, "layers"), os.path.join(other.root, "tmp")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                os.path.isdir(os.path.join(layers, base[7:])) and os.path.isdir(tmp)
                and any(n.startswith("layer-") for n in os.listdir(tmp))):
            time.sleep(0.005)
        p.kill()
        p.wait()
        assert not os.path.isdir(os.path.join(layers, big[7:])), "pulled before the kill"
        assert other("image", "ls", "-aq").stdout == ""
        out = other("pull", name).stdout
        assert f"{base[7:19]}: Already exists" in out and f"{big[7:19]}: Pull complete" in out
        assert other("run", "--rm", name, "ls", "-l", "/big").stdout.split()[4] == \
            str(150 * 2 ** 20)
        assert os.listdir(tmp) == []  # the killed pull's work directory swept


class CuttingProxy:
    """127.0.0.1:port forwarded to a registry, except that the first answer to a GET of one
    blob is cut off after `after` bytes (headers included). The Range header of every
    request is recorded."""

    def __init__(self, registry_port: int, blob: str, after: int):
        self.target, self.blob, self.after = registry_port, blob, after
        self.ranges: list[tuple[str, str | None]] = []
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        up = socket.create_connection(("127.0.0.1", self.target))
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
            rng = next((v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
                        if k.lower() == "range"), None)
            self.ranges.append((lines[0], rng))
            up.sendall(head)
            budget = None
            if lines[0].startswith("GET ") and self.blob in lines[0] and self.cuts == 0:
                self.cuts, budget = 1, self.after
            socks = [client, up]
            while True:
                ready, _, _ = select.select(socks, [], [], 10)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    other = up if s is client else client
                    if s is up and budget is not None:
                        data = data[:budget]
                        budget -= len(data)
                    other.sendall(data)
                    if budget == 0:
                        return  # cut: both sides closed below
        finally:
            up.close()
            client.close()

    def close(self):
        self.listener.close()


def test_a_layer_cut_off_midway_is_taken_up_with_a_range_request(pyrun, image, registry):  # noqa: F811,E501
    """The real registry answers the Range request (206) and the pull completes, checked
    against the layer's digest, in one run."""
    name = f"{registry.host}/cut/shared:1"
    pyrun("image", "tag", "shared:1", name)
    pyrun("push", name)
    sizes = {layer["digest"]: layer["size"] for layer in
             skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{name}")["layers"]}
    big = max(sizes, key=sizes.get)
    proxy = CuttingProxy(registry.port, big, after=300_000)
    try:
        via = f"127.0.0.1:{proxy.port}/cut/shared:1"
        with fresh_store() as other:
            out = other("pull", via).stdout
            assert f"{big[7:19]}: Pull complete" in out
            assert other("run", "--rm", via).stdout == "shared\n"
        blob_gets = [r for line, r in proxy.ranges if big in line and line.startswith("GET")]
        assert proxy.cuts == 1 and len(blob_gets) == 2
        start = int(blob_gets[1].removeprefix("bytes=").rstrip("-"))
        assert blob_gets[0] is None and 0 < start < 300_000  # what came before the cut
    finally:
        proxy.close()


def test_missing_image_and_unreachable_registry_are_one_line(pyrun, registry):  # noqa: F811
    p = pyrun("pull", f"{registry.host}/no/such:1", check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = pyrun("pull", f"127.0.0.1:{free_port()}/x/y:1", check=False)
    assert p.returncode == 1 and "cannot reach registry" in p.stderr


def test_basic_auth_login_push_logout(pyrun, image, auth_registry, home):  # noqa: F811
    name = f"{auth_registry.host}/private/shared:1"
    pyrun("image", "tag", "shared:1", name)
    p = pyrun("push", name, check=False)
    assert p.returncode == 1 and "unauthorized" in p.stderr
    assert pyrun("login", "-u", "tester", "--password-stdin", auth_registry.host,
                 input="s3cret\n").stdout == "Login Succeeded\n"
    auth = home / ".config" / "pyrun" / "auth.json"
    assert oct(auth.stat().st_mode & 0o777) == "0o600"
    assert auth_registry.host in json.loads(auth.read_text())["auths"]
    pyrun("push", name)
    with fresh_store() as other:
        assert other("run", "--rm", name).stdout == "shared\n"
    pyrun("logout", auth_registry.host)
    assert pyrun("pull", name, check=False).returncode == 1


def test_multi_platform_index_picks_this_hosts_platform(pyrun, image, registry, tmp_path):  # noqa: F811,E501
    """An index with an amd64 and an arm64 image (same layers, configs that differ), pushed
    by skopeo --all; pull takes this host's, --platform the other."""
    import hashlib
    from runtime.image.store import host_arch
    from tests.integration.test_archive import saved_layout
    _, layout = saved_layout(pyrun, tmp_path, name="shared:1")

    def put(obj) -> dict:
        data = json.dumps(obj).encode()
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    index = json.loads((layout / "index.json").read_text())
    native = index["manifests"][0]
    manifest = json.loads((layout / "blobs" / "sha256" / native["digest"][7:]).read_bytes())
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"][7:])
                        .read_bytes())
    other_arch = "arm64" if host_arch() != "arm64" else "amd64"
    foreign_cfg = dict(config, architecture=other_arch)
    foreign_manifest = dict(manifest, config=dict(manifest["config"], **put(foreign_cfg)))
    entries = [{"mediaType": manifest["mediaType"], "digest": native["digest"],
                "size": native["size"], "platform": {"os": "linux", "architecture": host_arch()}},
               dict({"mediaType": manifest["mediaType"],
                     "platform": {"os": "linux", "architecture": other_arch}},
                    **put(foreign_manifest))]
    idx = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": entries})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [dict(
        idx, mediaType="application/vnd.oci.image.index.v1+json",
        annotations={"org.opencontainers.image.ref.name": "multi"})]}))
    name = f"{registry.host}/multi/shared:1"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi", f"docker://{name}")
    with fresh_store() as other:
        other("pull", name)
        assert json.loads(other("image", "inspect", name).stdout)[0]["Architecture"] == host_arch()
        other("pull", "--platform", f"linux/{other_arch}", name)
        assert json.loads(other("image", "inspect", name).stdout)[0]["Architecture"] == \
            other_arch
        p = other("pull", "--platform", "linux/s390x", name, check=False)
        assert p.returncode == 1 and "no linux/s390x image" in p.stderr
