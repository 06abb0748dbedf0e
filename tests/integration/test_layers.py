"""Layer tars on the real kernel: hostile archives stay contained, whiteouts convert both ways."""

import io
import os
import stat
import tarfile

import pytest

from runtime.image import layer


def make_tar(entries) -> io.BytesIO:
    """entries: (name, kind, extra) with kind file|dir|sym|link|chr; extra = data or target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = (extra or b"x")
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
                info.mode = 0o666
            elif kind == "setuid":
                data = b"#!/bin/sh\n"
                info.size, info.mode = len(data), 0o4755
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


@pytest.fixture
def sandbox(tmp_path):
    """A layer dir, and a sibling "outside" dir that must stay untouched."""
    dest = tmp_path / "layer"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    return dest, outside


def untouched(outside):
    return list(outside.iterdir()) == []


def test_dotdot_is_refused(sandbox):
    dest, outside = sandbox
    with pytest.raises(layer.LayerError, match="leaves the layer"):
        layer.unpack(make_tar([("../outside/evil", "file", b"boom")]), str(dest))
    assert untouched(outside)


def test_absolute_names_land_inside(sandbox):
    dest, outside = sandbox
    layer.unpack(make_tar([(str(outside / "evil"), "file", b"x")]), str(dest))
    assert untouched(outside)
    assert (dest / str(outside).lstrip("/") / "evil").read_bytes() == b"x"


@pytest.mark.parametrize("target", ["__OUTSIDE__", "../outside", "../../../../../../../.."])
def test_symlinked_parent_cannot_carry_a_write_out(sandbox, target):
    dest, outside = sandbox
    target = str(outside) if target == "__OUTSIDE__" else target
    tar = make_tar([("link", "sym", target), ("link/evil", "file", b"boom")])
    with pytest.raises(layer.LayerError, match="goes through a symlink"):
        layer.unpack(tar, str(dest))
    assert untouched(outside)
    assert os.readlink(dest / "link") == target  # the symlink itself is fine to keep


@pytest.mark.parametrize("target", ["__PASSWD__", "../outside/x", "missing"])
def test_hardlinks_only_within_the_layer(sandbox, target):
    dest, outside = sandbox
    (outside / "x").write_text("secret")
    target = "/etc/passwd" if target == "__PASSWD__" else target
    with pytest.raises(layer.LayerError):
        layer.unpack(make_tar([("stolen", "link", target)]), str(dest))
    assert not (dest / "stolen").exists()


def test_hardlink_inside_and_modes_kept(sandbox):
    dest, _ = sandbox
    layer.unpack(make_tar([("bin", "dir", None), ("bin/tool", "setuid", None),
                           ("bin/tool2", "link", "bin/tool"), ("dev-null", "chr", None)]),
                 str(dest))
    st = os.stat(dest / "bin" / "tool")
    assert stat.S_IMODE(st.st_mode) == 0o4755  # setuid kept, as the spec allows
    assert st.st_nlink == 2
    assert os.stat(dest / "bin" / "tool2").st_ino == st.st_ino
    dev = os.lstat(dest / "dev-null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1


def test_whiteouts_become_overlay_whiteouts_and_back(sandbox, tmp_path):
    dest, _ = sandbox
    layer.unpack(make_tar([("etc", "dir", None), ("etc/.wh.motd", "file", b""),
                           ("var", "dir", None), ("var/.wh..wh..opq", "file", b""),
                           ("var/new", "file", b"n")]), str(dest))
    wh = os.lstat(dest / "etc" / "motd")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(dest / "var", "trusted.overlay.opaque") == b"y"
    out = tmp_path / "out.tar"
    with open(out, "wb") as f:
        digest, size = layer.pack(str(dest), f)
    with tarfile.open(out) as t:
        names = t.getnames()
    assert "etc/.wh.motd" in names and "var/.wh..wh..opq" in names and "var/new" in names
    with open(tmp_path / "again.tar", "wb") as f:
        assert layer.pack(str(dest), f)[0] == digest  # same tree, same bytes
    assert digest.startswith("sha256:") and size == out.stat().st_size


def test_gzip_layers_are_read(sandbox):
    import gzip
    dest, _ = sandbox
    raw = make_tar([("hello", "file", b"compressed")]).getvalue()
    layer.unpack(io.BufferedReader(io.BytesIO(gzip.compress(raw))), str(dest))
    assert (dest / "hello").read_bytes() == b"compressed"


def test_garbage_is_a_clear_error(sandbox):
    dest, _ = sandbox
    with pytest.raises(layer.LayerError, match="not a valid tar"):
        layer.unpack(io.BytesIO(b"this is not a tar archive" * 40), str(dest))


def test_zstd_layers_are_read(sandbox):
    zstandard = pytest.importorskip("zstandard", reason="zstandard is a pyrun dependency")
    dest, _ = sandbox
    raw = make_tar([("z", "file", b"zstd content")]).getvalue()
    data = zstandard.ZstdCompressor().compress(raw)
    layer.unpack(io.BufferedReader(io.BytesIO(data)), str(dest))
    assert (dest / "z").read_bytes() == b"zstd content"


def test_file_owner_mode_time_and_xattrs_kept_and_a_later_entry_wins(sandbox):
    dest, _ = sandbox
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for data, mtime in ((b"first", 1_000_000), (b"second", 1_234_567)):
            info = tarfile.TarInfo("etc/app.conf")
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o640, 1000, 33, \
                mtime
            info.pax_headers = {"SCHILY.xattr.user.origin": "layer"}
            t.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("etc/app.conf.d")  # a directory where a file was: replaced
        d.type, d.mode = tarfile.DIRTYPE, 0o750
        t.addfile(d)
    buf.seek(0)
    (dest / "etc").mkdir()
    (dest / "etc" / "app.conf.d").write_text("a file from an earlier layer")
    layer.unpack(buf, str(dest))
    f = dest / "etc" / "app.conf"
    st = os.lstat(f)
    assert f.read_bytes() == b"second"
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 33, 0o640)
    assert st.st_mtime == 1_234_567
    assert os.getxattr(f, "user.origin") == b"layer"
    assert stat.S_ISDIR(os.lstat(dest / "etc" / "app.conf.d").st_mode)


def test_many_files_in_many_directories_all_land_with_their_metadata(sandbox):
    """Every file arrives whole, with owner, mode and mtime, and the directories keep their
    mtimes (set after their contents)."""
    dest, _ = sandbox
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in range(12):
            info = tarfile.TarInfo(f"d{d}")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1000 + d
            t.addfile(info)
            for f in range(40):
                data = f"{d}/{f}".encode() * (1 + f * 50)
                info = tarfile.TarInfo(f"d{d}/f{f}")
                info.size, info.mode, info.mtime = len(data), 0o640 + (f % 2), 5000 + f
                info.uid, info.gid = 1000 + f, 2000 + d
                t.addfile(info, io.BytesIO(data))
        big = b"B" * ((1 << 20) * 3 + 7)  # more than one copy chunk
        info = tarfile.TarInfo("d0/big")
        info.size = len(big)
        t.addfile(info, io.BytesIO(big))
    buf.seek(0)
    counted = layer.unpack(buf, str(dest))
    assert counted == layer.dir_size(str(dest))  # what the store records as the size
    for d in range(12):
        assert os.lstat(dest / f"d{d}").st_mtime == 1000 + d
        for f in range(40):
            st = os.lstat(dest / f"d{d}" / f"f{f}")
            assert (dest / f"d{d}" / f"f{f}").read_bytes() == f"{d}/{f}".encode() * (1 + f * 50)
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime) == \
                (1000 + f, 2000 + d, 0o640 + (f % 2), 5000 + f)
    assert (dest / "d0" / "big").read_bytes() == big


def test_later_entries_win_and_links_see_their_target(sandbox):
    """Within one tar: a file given twice ends as the second; a hardlink finds the file
    written just before it; a whiteout replaces a file given before it."""
    dest, _ = sandbox
    counted = layer.unpack(make_tar([("a", "file", b"first"), ("b", "file", b"shared"),
                                     ("b-link", "link", "b"), ("a", "file", b"second"),
                                     ("c", "file", b"gone"), (".wh.c", "file", b"")]),
                           str(dest))
    assert counted is None  # entries replaced others: the size needs a walk
    assert (dest / "a").read_bytes() == b"second"
    assert os.lstat(dest / "b").st_ino == os.lstat(dest / "b-link").st_ino
    assert stat.S_ISCHR(os.lstat(dest / "c").st_mode)  # now a whiteout


def test_the_size_counted_while_unpacking_is_the_walked_size(sandbox):
    """Hardlinks count once; whiteouts of what this layer lacks replace nothing."""
    dest, _ = sandbox
    counted = layer.unpack(make_tar([("d", "dir", None), ("d/a", "file", b"12345"),
                                     ("d/a-link", "link", "d/a"), ("d/s", "sym", "a"),
                                     ("d/.wh.lower", "file", b""), ("b", "file", b"xy")]),
                           str(dest))
    assert counted == 7 == layer.dir_size(str(dest))


def test_a_file_already_in_the_directory_is_replaced(sandbox):
    dest, _ = sandbox
    (dest / "old").write_bytes(b"before")
    assert layer.unpack(make_tar([("old", "file", b"after")]), str(dest)) is None
    assert (dest / "old").read_bytes() == b"after"
