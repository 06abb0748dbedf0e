"""image/base.py: base images without a registry. import_tar (docker import) and
bootstrap_debian over a stand-in for debootstrap (the real one is the demo's and the
integration tests'), and which mirror the host's apt names."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from runtime.errors import PyrunError
from runtime.image import base
from runtime.image.store import ImageNotFound, Store


def rootfs_tar(files: dict) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_an_imported_tar_is_a_one_layer_image_with_the_default_path(tmp_path):
    store = Store(str(tmp_path / "store")).ensure()
    img = base.import_tar(store, rootfs_tar({"hello.txt": b"hi\n"}), "pyrun-imp:1",
                          source="rootfs.tar", changes={"Cmd": ["sh"]})
    assert store.resolve("pyrun-imp:1").id == img.id
    assert img.config["config"] == {"Env": base.DEFAULT_ENV, "Cmd": ["sh"]}
    assert img.config["history"][0]["comment"] == "Imported from rootfs.tar"
    (layer,) = img.layer_dirs
    with open(os.path.join(layer, "hello.txt")) as f:
        assert f.read() == "hi\n"


FAKE_DEBOOTSTRAP = """#!/bin/sh
# as debootstrap --variant=minbase SUITE ROOTFS MIRROR
root=$3
mkdir -p "$root/etc/apt/apt.conf.d" "$root/var/cache/apt/archives" "$root/bin"
echo pkg > "$root/var/cache/apt/archives/bash.deb"
echo "I: Retrieving InRelease"
echo "I: Base system installed successfully."
echo "$2 from $4" > "$root/etc/made-by"
exit ${FAKE_EXIT:-0}
"""


@pytest.fixture
def debootstrap(tmp_path, monkeypatch):
    tool = tmp_path / "debootstrap"
    tool.write_text(FAKE_DEBOOTSTRAP)
    tool.chmod(0o755)
    monkeypatch.setattr(base.shutil, "which",
                        lambda name: str(tool) if name == "debootstrap" else None)
    return tool


def test_bootstrap_slims_apt_leaves_no_packages_and_tags_debian_suite(tmp_path, debootstrap):
    store = Store(str(tmp_path / "store")).ensure()
    out = io.StringIO()
    img = base.bootstrap_debian(store, "bookworm", mirror="http://mirror.test/debian", out=out)
    assert store.resolve("debian:bookworm").id == img.id
    assert img.config["config"]["Cmd"] == ["bash"]
    assert img.config["history"][0]["created_by"] == "pyrun image bootstrap debian:bookworm"
    (layer,) = img.layer_dirs
    assert open(os.path.join(layer, "etc/made-by")).read() == \
        "bookworm from http://mirror.test/debian\n"
    assert os.listdir(os.path.join(layer, "var/cache/apt/archives")) == []
    assert sorted(os.listdir(os.path.join(layer, "etc/apt/apt.conf.d"))) == \
        sorted(base.APT_SLIM)
    assert "[1] Retrieving InRelease" in out.getvalue()  # progress, a line each off a tty
    assert os.listdir(os.path.join(store.root, "tmp")) == []  # the work directory gone


def test_a_failed_bootstrap_says_why_and_leaves_nothing(tmp_path, debootstrap, monkeypatch):
    monkeypatch.setenv("FAKE_EXIT", "3")
    store = Store(str(tmp_path / "store")).ensure()
    with pytest.raises(PyrunError, match=r"debootstrap failed \(exit 3\):\nI: Retrieving"):
        base.bootstrap_debian(store, "bookworm", mirror="http://m/debian", out=io.StringIO())
    assert os.listdir(os.path.join(store.root, "tmp")) == []
    with pytest.raises(ImageNotFound):
        store.resolve("debian:bookworm")


def test_no_tool_is_one_line_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(base.shutil, "which", lambda name: None)
    with pytest.raises(PyrunError, match="apt-get install debootstrap"):
        base.bootstrap_debian(Store(str(tmp_path)).ensure(), "bookworm")


def test_the_mirror_is_the_first_plain_debian_one_of_apt(tmp_path, monkeypatch):
    files = {
        "/etc/apt/sources.list.d/debian.sources":
            "Types: deb\nURIs: http://security.debian.org/debian-security\n"
            "Types: deb\nURIs: http://deb.example/debian\n",
        "/etc/apt/sources.list": "deb [arch=amd64] http://other.example/debian bookworm main\n",
    }
    real_open = open

    def fake_open(path, *a, **kw):
        if path in files:
            return io.StringIO(files[path])
        if str(path).startswith("/etc/apt"):
            raise FileNotFoundError(path)
        return real_open(path, *a, **kw)
    monkeypatch.setattr(base, "open", fake_open, raising=False)
    monkeypatch.setattr(base.os, "listdir", lambda d: ["debian.sources", "README"])
    assert base.debian_mirror() == "http://deb.example/debian"
    del files["/etc/apt/sources.list.d/debian.sources"]
    assert base.debian_mirror() == "http://other.example/debian"
    files.clear()
    with pytest.raises(PyrunError, match="no Debian mirror configured"):
        base.debian_mirror()

