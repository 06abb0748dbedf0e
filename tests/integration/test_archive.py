"""image save / load: pyrun's own round trip, the OCI layout against the image-spec
validator and skopeo, and the docker-archive against a real (private) dockerd."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

from tests.conftest import conformance_dir, unmount_under
from tests.integration.test_build import busybox, context, fresh_store, pyrun  # noqa: F401


@pytest.fixture
def built(pyrun, busybox, tmp_path):  # noqa: F811
    ctx = context(tmp_path, "FROM busybox\nRUN echo made > /made\nCMD [\"cat\", \"/made\"]\n")
    pyrun("build", "-t", "saved:1", ctx)
    return json.loads(pyrun("image", "inspect", "saved:1").stdout)[0]["Id"]


def saved_layout(pyrun, tmp_path, *save_args, name="saved:1"):  # noqa: F811
    """pyrun image save --format oci [args] NAME, extracted: (archive, layout dir)."""
    out = tmp_path / ("oci" + "".join(a.strip("-") for a in save_args) + ".tar")
    pyrun("image", "save", "--format", "oci", *save_args, "-o", str(out), name)
    layout = tmp_path / ("layout" + "".join(a.strip("-") for a in save_args))
    layout.mkdir()
    with tarfile.open(out) as t:
        t.extractall(layout)
    return out, layout


def validate_layout(layout) -> subprocess.CompletedProcess:
    validator = conformance_dir("oci-image-spec") / "validate_layout.py"
    return subprocess.run([sys.executable, str(validator), str(layout)], capture_output=True,
                          text=True)


def test_docker_archive_round_trip(pyrun, built, tmp_path):  # noqa: F811
    out = tmp_path / "saved.tar"
    pyrun("image", "save", "-o", str(out), "saved:1")
    with tarfile.open(out) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["saved:1"] and len(manifest[0]["Layers"]) == 2
    with fresh_store() as other:
        assert other("image", "load", "-i", str(out)).stdout == "Loaded image: saved:1\n"
        assert json.loads(other("image", "inspect", "saved:1").stdout)[0]["Id"] == built
        assert other.image_files("saved:1", "/made") == b"made\n"


def test_oci_layout_validates_and_skopeo_reads_it(pyrun, built, tmp_path):  # noqa: F811
    out, layout = saved_layout(pyrun, tmp_path)
    p = validate_layout(layout)
    assert p.returncode == 0 and p.stdout.startswith("OK"), p.stdout + p.stderr
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed (scripts/setup --test installs it)")
    p = subprocess.run(["skopeo", "inspect", f"oci-archive:{out}"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    cfg = json.loads(pyrun("image", "inspect", "saved:1").stdout)[0]
    assert info["Layers"] == cfg["RootFS"]["Layers"]
    p = subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{out}"],
                       capture_output=True, text=True)
    assert json.loads(p.stdout)["config"]["Cmd"] == ["cat", "/made"]


def test_load_refuses_a_tampered_layer(pyrun, built, tmp_path):  # noqa: F811
    out = tmp_path / "saved.tar"
    pyrun("image", "save", "-o", str(out), "saved:1")
    bad = tmp_path / "bad.tar"
    with tarfile.open(out) as src, tarfile.open(bad, "w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))
        victim = manifest[0]["Layers"][-1]
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == victim:
                import io
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w") as lt:
                    info = tarfile.TarInfo("made")
                    info.size = 5
                    lt.addfile(info, io.BytesIO(b"evil\n"))
                data = buf.getvalue()
                m.size = len(data)
            import io
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    with fresh_store() as other:
        p = other("image", "load", "-i", str(bad), check=False)
        assert p.returncode != 0 and "the config says" in p.stderr
        assert other("image", "ls", "-q").stdout == ""


@pytest.fixture
def dockerd():
    binary = shutil.which("dockerd")
    if binary is None:
        pytest.skip("dockerd not installed (Debian docker.io; scripts/setup --test installs it)")
    d = tempfile.mkdtemp(prefix="pyrun-dockerd-", dir="/var/tmp")
    sock = os.path.join(d, "docker.sock")
    log = open(os.path.join(d, "dockerd.log"), "w")
    # No bridge, no iptables: this daemon must not touch the host's network or ruleset.
    proc = subprocess.Popen([binary, "--data-root", f"{d}/data", "--exec-root", f"{d}/exec",
                             "--pidfile", f"{d}/docker.pid", "--host", f"unix://{sock}",
                             "--bridge", "none", "--iptables=false", "--ip6tables=false",
                             "--ip-masq=false", "--containerd-namespace", "pyrun-test",
                             "--containerd-plugins-namespace", "pyrun-test-plugins"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")

    def docker(*args, check=True):
        p = subprocess.run([cli, "-H", f"unix://{sock}", *args], capture_output=True,
                           text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {p.stdout}{p.stderr}")
        return p
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("dockerd exited: " + open(os.path.join(d, "dockerd.log")).read())
            if os.path.exists(sock) and docker("version", check=False).returncode == 0:
                break
            time.sleep(0.2)
        yield docker
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        unmount_under(d)
        shutil.rmtree(d, ignore_errors=True)
        assert not os.path.exists(d), f"{d} could not be removed"


def test_docker_loads_what_pyrun_saves_and_back(pyrun, built, tmp_path, dockerd):  # noqa: F811
    out = tmp_path / "saved.tar"
    pyrun("image", "save", "-o", str(out), "saved:1")
    assert "Loaded image: saved:1" in dockerd("load", "-i", str(out)).stdout
    info = json.loads(dockerd("image", "inspect", "saved:1").stdout)[0]
    assert info["Id"] == built
    assert info["Config"]["Cmd"] == ["cat", "/made"]
    dockerd("tag", "saved:1", "from-docker:2")
    back = tmp_path / "from-docker.tar"
    dockerd("save", "-o", str(back), "from-docker:2")
    assert "Loaded image: from-docker:2" in pyrun("image", "load", "-i", str(back)).stdout
    assert pyrun.image_files("from-docker:2", "/made") == b"made\n"
    assert json.loads(pyrun("image", "inspect", "from-docker:2").stdout)[0]["Id"] == built


def test_umoci_reads_the_oci_layout(pyrun, built, tmp_path):  # noqa: F811
    if shutil.which("umoci") is None:
        pytest.skip("umoci not installed (scripts/setup --test installs it)")
    _, layout = saved_layout(pyrun, tmp_path)
    p = subprocess.run(["umoci", "ls", "--layout", str(layout)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.split() == ["1"], p.stderr  # the tag
    bundle = tmp_path / "bundle"
    p = subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", str(bundle)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (bundle / "rootfs" / "made").read_text() == "made\n"
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == \
        ["cat", "/made"]


def test_oci_layout_with_gzip_layers(pyrun, built, tmp_path):  # noqa: F811
    out, layout = saved_layout(pyrun, tmp_path, "--gzip")
    p = validate_layout(layout)
    assert p.returncode == 0, p.stdout + p.stderr
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" /
                           index["manifests"][0]["digest"][7:]).read_text())
    assert {l["mediaType"] for l in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"}
    import gzip
    first = (layout / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]).read_bytes()
    assert gzip.decompress(first)[257:262] == b"ustar"  # a gzip-compressed tar
    with fresh_store() as other:
        assert "Loaded image: saved:1" in other("image", "load", "-i", str(out)).stdout
        assert json.loads(other("image", "inspect", "saved:1").stdout)[0]["Id"] == built
