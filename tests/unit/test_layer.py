"""runtime/image/layer.py on temporary directories: pack is deterministic (the same tree,
the same digest), unpack gives the tree back, and a layer's entries cannot leave the layer
(".." members, writes through a symlink that points out). Whiteouts need CAP_MKNOD: those
are tests/integration/test_layers.py's."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from runtime.image import layer


def tree(root) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            out[rel] = (os.readlink(p) if os.path.islink(p) else
                        open(p, "rb").read() if os.path.isfile(p) else "dir",
                        st.st_mode & 0o7777 if not os.path.islink(p) else None)
    return out


@pytest.fixture
def src(tmp_path):
    s = tmp_path / "src"
    (s / "etc" / "app").mkdir(parents=True)
    (s / "etc" / "app" / "conf").write_text("a=1\n")
    (s / "bin").mkdir()
    (s / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(s / "bin" / "tool", 0o755)
    os.symlink("../etc/app/conf", s / "bin" / "conf-link")
    os.link(s / "bin" / "tool", s / "bin" / "tool-hard")
    return s


def test_pack_is_deterministic_and_unpack_gives_the_tree_back(src, tmp_path):
    a, b = io.BytesIO(), io.BytesIO()
    digest, size = layer.pack(str(src), a)
    assert layer.pack(str(src), b)[0] == digest  # same tree, same bytes
    assert digest == "sha256:" + hashlib.sha256(a.getvalue()).hexdigest()
    assert size == len(a.getvalue())
    dest = tmp_path / "dest"
    dest.mkdir()
    a.seek(0)
    layer.unpack(a, str(dest))
    assert tree(dest) == tree(src)
    assert os.stat(dest / "bin" / "tool").st_ino == os.stat(dest / "bin" / "tool-hard").st_ino


def tar_of(*members) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    out.seek(0)
    return out


def entry(name, data=None, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if data is not None:
        info.size = len(data)
    return info, data


def test_a_member_that_leaves_the_layer_is_refused(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(layer.LayerError, match="leaves the layer"):
        layer.unpack(tar_of(entry("../evil", b"x")), str(dest))
    assert not (tmp_path / "evil").exists()


def test_a_symlink_cannot_carry_a_write_out_of_the_layer(tmp_path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    with pytest.raises(layer.LayerError, match="under 'esc' goes through a symlink"):
        layer.unpack(tar_of(entry("esc", kind=tarfile.SYMTYPE, link=str(outside)),
                            entry("esc/planted", b"x")), str(dest))
    assert list(outside.iterdir()) == []


def test_not_a_tar_is_one_clear_error(tmp_path):
    with pytest.raises(layer.LayerError, match="not a valid tar"):
        layer.unpack(io.BytesIO(b"\x00garbage" * 200), str(tmp_path))
