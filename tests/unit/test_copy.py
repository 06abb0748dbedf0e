"""engine/copy.py (cp, export, the API's archives) over a container whose root is a
directory of the test's: the container's side runs chrooted into it, so that a symlink in
the container resolves inside it, never onto the host. Without root the chroot happens in
a user namespace of the child's own (the copy's child is single-threaded: it may)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from runtime.engine import copy
from tests.unit.fakes import running_container


@pytest.fixture
def c(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        real_chroot = os.chroot

        def chroot_in_own_userns(path):
            from runtime.linux import syscalls
            uid, gid = os.geteuid(), os.getegid()
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                               ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
            real_chroot(path)
        monkeypatch.setattr(os, "chroot", chroot_in_own_userns)
    c = running_container(tmp_path / "store", "f")
    root = c.path("rootfs")
    for d in ("data/sub", "tmp", "etc"):
        os.makedirs(os.path.join(root, d))
    with open(os.path.join(root, "data", "a.txt"), "w") as f:
        f.write("in the container\n")
    with open(os.path.join(root, "data", "sub", "b.txt"), "w") as f:
        f.write("b\n")
    os.symlink("/", os.path.join(root, "escape"))  # a hostile image's link to the root
    os.symlink("/data/a.txt", os.path.join(root, "link"))
    return c


def test_a_file_and_a_directory_come_out_under_their_own_names(c, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    copy.copy_out(c, "/data/a.txt", str(out))
    copy.copy_out(c, "data", str(out))  # relative: from the container's root
    assert (out / "a.txt").read_text() == "in the container\n"
    assert (out / "data" / "sub" / "b.txt").read_text() == "b\n"
    copy.copy_out(c, "/data/a.txt", str(out / "renamed.txt"))  # DEST not a directory
    assert (out / "renamed.txt").read_text() == "in the container\n"


def test_a_link_comes_out_as_a_link_or_with_follow_as_its_target(c, tmp_path):
    copy.copy_out(c, "/link", str(tmp_path / "l1"))
    assert os.readlink(tmp_path / "l1") == "/data/a.txt"
    copy.copy_out(c, "/link", str(tmp_path / "l2"), follow=True)
    assert (tmp_path / "l2").read_text() == "in the container\n"


def test_what_is_missing_is_dockers_one_line(c, tmp_path):
    with pytest.raises(copy.CopyError, match="^Could not find the file /nope in container web$"):
        copy.copy_out(c, "/nope", str(tmp_path))
    with pytest.raises(copy.CopyError, match="no such directory"):
        copy.copy_out(c, "/data/a.txt", str(tmp_path / "missing" / "x"))
    with pytest.raises(copy.CopyError, match="no such file or directory"):
        copy.copy_in(c, str(tmp_path / "nothing-here"), "/tmp/")


def test_a_link_in_the_container_does_not_lead_onto_the_host(c, tmp_path):
    src = tmp_path / "planted"
    src.write_text("hello\n")
    host_target = "/tmp/planted-by-pyrun-unit-test"
    assert not os.path.exists(host_target)
    copy.copy_in(c, str(src), "/escape" + host_target)  # /escape -> / inside the container
    assert not os.path.exists(host_target)
    with open(c.path("rootfs") + host_target) as f:
        assert f.read() == "hello\n"


def test_copy_in_a_directory_and_under_a_new_name(c, tmp_path):
    d = tmp_path / "conf"
    (d / "deep").mkdir(parents=True)
    (d / "deep" / "x.conf").write_text("x=1\n")
    copy.copy_in(c, str(d), "/etc/")  # an existing directory: conf inside it
    copy.copy_in(c, str(d), "/etc/renamed")  # a new name: conf becomes it
    root = c.path("rootfs")
    for where in ("etc/conf", "etc/renamed"):
        with open(os.path.join(root, where, "deep", "x.conf")) as f:
            assert f.read() == "x=1\n"
    with pytest.raises(copy.CopyError, match="no such directory"):
        copy.copy_in(c, str(d), "/nowhere/x")


def test_the_apis_archives_and_stat(c):
    st = copy.path_stat(c, "/data")
    assert st["name"] == "data" and st["mode"] & (1 << 31)  # Go's ModeDir
    assert copy.path_stat(c, "/link")["linkTarget"] == "/data/a.txt"
    with pytest.raises(copy.NoSuchPath, match="Could not find the file /nope"):
        copy.path_stat(c, "/nope")
    pieces = []
    copy.archive_out(c, "/data", pieces.append)
    with tarfile.open(fileobj=io.BytesIO(b"".join(pieces))) as t:
        assert sorted(t.getnames()) == ["data", "data/a.txt", "data/sub", "data/sub/b.txt"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("new.txt")
        info.size = 4
        t.addfile(info, io.BytesIO(b"new\n"))
        evil = tarfile.TarInfo("../../outside.txt")
        evil.size = 4
        t.addfile(evil, io.BytesIO(b"bad\n"))
    with pytest.raises(copy.CopyError):  # the filter refuses the name that climbs out
        copy.archive_in(c, "/tmp", iter([buf.getvalue()]))
    with open(os.path.join(c.path("rootfs"), "tmp", "new.txt")) as f:
        assert f.read() == "new\n"
    assert not os.path.exists(os.path.join(os.path.dirname(c.path("rootfs")), "outside.txt"))
    with pytest.raises(copy.NoSuchPath):
        copy.archive_in(c, "/nowhere", iter([buf.getvalue()]))


def test_export_is_the_whole_root_as_a_tar(c):
    out = io.BytesIO()
    copy.export(c, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as t:
        names = t.getnames()
    assert {"data/a.txt", "escape", "link", "etc", "tmp"} <= set(names)


@pytest.mark.parametrize("arg, want", [
    ("web:/etc/passwd", ("web", "/etc/passwd")),
    ("web:relative", ("web", "relative")),
    ("in.txt", (None, "in.txt")),          # no colon: the host's, relative to here
    ("./a:b", (None, "./a:b")),            # ./ and / are the host's, colons and all
    ("/tmp/a:b", (None, "/tmp/a:b")),
    ("-", (None, "-")),
])
def test_a_cp_argument_is_the_containers_only_with_a_colon(arg, want):
    assert copy.split_arg(arg) == want
