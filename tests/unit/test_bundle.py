"""engine/bundle.py without root: the layout a Bundle makes for a container and a build's
RUN step alike, its /etc files and config.json, and the image's users resolved (the overlay
mount itself is tests/integration's)."""

from __future__ import annotations

import json
import os

import pytest

from runtime.engine.bundle import Bundle, resolve_user
from runtime.engine.config import etc_mounts
from runtime.errors import PyrunError


def test_the_layout_and_its_files(tmp_path):
    b = Bundle(str(tmp_path / "c"), ["/l1", "/l2"])
    b.make()
    b.make()  # again: a restart prepares the same directory
    for d in ("upper", "work", "rootfs", "bundle", "init/proc", "init/sys", "init/dev"):
        assert (tmp_path / "c" / d).is_dir()
    for f in ("hosts", "hostname", "resolv.conf"):  # mount points in the init layer
        assert (tmp_path / "c" / "init" / "etc" / f).read_text() == ""
    b.write_etc("web", "127.0.0.1\tlocalhost\n", "nameserver 10.0.0.1\n")
    assert (tmp_path / "c" / "hostname").read_text() == "web\n"
    assert [m["source"] for m in etc_mounts(b.dir)] == [
        os.path.join(b.dir, f) for f in ("hosts", "hostname", "resolv.conf")]
    where = b.write_config({"ociVersion": "1.0.2"})
    assert where == b.path("bundle") and b.rootfs == b.path("rootfs")
    assert json.loads((tmp_path / "c" / "bundle" / "config.json").read_text()) == {
        "ociVersion": "1.0.2"}
    b.unmount()  # nothing mounted: safe all the same


@pytest.fixture
def rootfs(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nnginx:x:101:101::/:/bin/false\n")
    (etc / "group").write_text("root:x:0:\nnginx:x:101:\nweb:x:200:nginx,other\n")
    return str(tmp_path)


@pytest.mark.parametrize("user, ids", [
    ("", (0, 0, [])),
    ("nginx", (101, 101, [200])),
    ("nginx:web", (101, 200, [200])),
    ("1000", (1000, 0, [])),       # a uid the image does not list: group 0, as Docker
    ("1000:33", (1000, 33, [])),
])
def test_users_are_read_from_the_image(rootfs, user, ids):
    assert resolve_user(rootfs, user) == ids


def test_group_add_joins_names_and_gids_once(rootfs):
    assert resolve_user(rootfs, "", ("web", "33")) == (0, 0, [200, 33])
    assert resolve_user(rootfs, "nginx", ("web", "101")) == (101, 101, [200, 101])
    with pytest.raises(PyrunError, match="Unable to find group staff"):
        resolve_user(rootfs, "", ("staff",))


@pytest.mark.parametrize("user, message", [("nobody", "unable to find user nobody"),
                                           ("nginx:staff", "unable to find group staff")])
def test_unknown_users_are_refused(rootfs, user, message):
    with pytest.raises(PyrunError, match=message):
        resolve_user(rootfs, user)
