"""image/archive.py without root: `pyrun save` and `pyrun load` (docker-archive, the OCI
layout plain and gzipped) round trip through temporary stores, and a bad archive names
nothing."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from runtime.errors import PyrunError
from runtime.image import archive
from runtime.image.store import Store


def layer_tar(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture
def source(tmp_path):
    """A store with demo/app:1 of two layers."""
    store = Store(str(tmp_path / "a")).ensure()
    diff_ids = [store.add_layer_tar(layer_tar({"etc/motd": b"one\n"}))[0],
                store.add_layer_tar(layer_tar({"srv/index.html": b"<h1>two</h1>\n"}))[0]]
    config = {"architecture": "amd64", "os": "linux", "created": "2026-12-02T00:00:00Z",
              "config": {"Cmd": ["cat", "/srv/index.html"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    img = store.put_image(config)
    store.tag(img.id, "demo/app:1")
    return store, img


def saved(store, names, **kw) -> str:
    path = os.path.join(store.root, "out.tar")
    with open(path, "wb") as f:
        archive.save(store, names, f, **kw)
    return path


@pytest.mark.parametrize("fmt, gzip", [("docker", False), ("oci", False), ("oci", True)])
def test_round_trip_keeps_the_image_its_name_and_its_files(source, tmp_path, fmt, gzip):
    store, img = source
    path = saved(store, ["demo/app:1"], fmt=fmt, gzip=gzip)
    other = Store(str(tmp_path / "b")).ensure()
    ((loaded, names),) = archive.load(other, path)
    assert loaded.id == img.id  # the same config, so the same image
    assert names == ["demo/app:1"]  # as `pyrun load` prints it
    assert other.resolve("demo/app:1").id == img.id
    with open(os.path.join(loaded.layer_dirs[-1], "srv", "index.html"), "rb") as f:
        assert f.read() == b"<h1>two</h1>\n"


def test_docker_archive_is_what_docker_load_reads(source):
    store, img = source
    with tarfile.open(saved(store, ["demo/app:1"])) as t:
        (entry,) = json.load(t.extractfile("manifest.json"))
        assert entry["RepoTags"] == ["demo/app:1"]  # familiar names, as docker save
        assert entry["Config"] == img.id.split(":")[1] + ".json"
        assert entry["Layers"] == [d.split(":")[1] + "/layer.tar" for d in img.diff_ids]
        for name in entry["Layers"]:
            assert t.getmember(name).isfile()
        repos = json.load(t.extractfile("repositories"))
        assert repos == {"demo/app": {"1": img.diff_ids[-1].split(":")[1]}}


def test_saved_by_id_the_archive_names_nothing(source, tmp_path):
    store, img = source
    other = Store(str(tmp_path / "b")).ensure()
    ((loaded, names),) = archive.load(other, saved(store, [img.id]))
    assert loaded.id == img.id and names == []


def test_a_layer_that_is_not_what_the_config_says_names_nothing(source, tmp_path):
    store, img = source
    path = saved(store, ["demo/app:1"])
    bad = str(tmp_path / "bad.tar")
    with tarfile.open(path) as src, tarfile.open(bad, "w") as dst:
        last = img.diff_ids[-1].split(":")[1] + "/layer.tar"
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == last:
                data = layer_tar({"srv/index.html": b"<h1>tampered</h1>\n"}).getvalue()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    other = Store(str(tmp_path / "b")).ensure()
    with pytest.raises(PyrunError, match="the config says " + img.diff_ids[-1]):
        archive.load(other, bad)
    assert other.images() == []


@pytest.mark.parametrize("members, message", [
    ({"hello.txt": b"hi"}, "not an image archive"),
    ({"manifest.json": b"{not json"}, "manifest.json is not valid JSON"),
    ({"manifest.json": json.dumps([{"Config": "c.json", "Layers": []}]).encode()},
     "archive is missing c.json"),
])
def test_what_is_not_an_image_archive_is_one_clear_error(tmp_path, members, message):
    path = tmp_path / "x.tar"
    path.write_bytes(layer_tar(members).getvalue())
    with pytest.raises(PyrunError, match=message):
        archive.load(Store(str(tmp_path / "b")).ensure(), str(path))


def test_unknown_format_is_refused(source):
    store, _ = source
    with pytest.raises(PyrunError, match="unknown archive format 'zip'"):
        archive.save(store, ["demo/app:1"], io.BytesIO(), fmt="zip")
