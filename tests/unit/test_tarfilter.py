"""runtime/tarfilter.py: PEP 706's extraction filters, tarfile's own where this Python has
them (3.11.4+) and pyrun's where it does not (Debian 12's 3.11.2): both must refuse the
same hostile members and extract the same good ones."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from runtime import tarfilter

PATHS = [False] + ([True] if tarfilter.NATIVE else [])


@pytest.fixture(params=PATHS, ids=lambda native: "tarfile's" if native else "pyrun's")
def native(request, monkeypatch):
    monkeypatch.setattr(tarfilter, "NATIVE", request.param)
    return request.param


def _tar(*members) -> bytes:
    """members: (TarInfo fields..., data or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for given, data in members:
            fields = dict(given)  # the parameters are shared between cases
            info = tarfile.TarInfo(fields.pop("name"))
            for k, v in fields.items():
                setattr(info, k, v)
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name, data=b"x\n", **kw):
    return dict(name=name, **kw), data


def _link(name, target, kind=tarfile.SYMTYPE):
    return dict(name=name, type=kind, linkname=target), None


def _dir(name, mode=0o755):
    return dict(name=name, type=tarfile.DIRTYPE, mode=mode), None


def _extractall(raw: bytes, dest, kind):
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as t:
        tarfilter.extractall(t, str(dest), kind)


@pytest.mark.parametrize("kind", ["tar", "data"])
@pytest.mark.parametrize("members", [
    [_file("../outside.txt")],
    [_file("a/../../outside.txt")],
    # a link made by the archive, then a name through it: the check sees what came before
    [_link("x", ".."), _file("x/outside.txt")],
    [_link("x", "/tmp"), _file("x/outside.txt")],
], ids=["dotdot", "dotdot-inside", "through-own-link", "through-absolute-link"])
def test_nothing_lands_outside_the_destination(tmp_path, native, kind, members):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(tarfile.TarError):
        _extractall(_tar(*members), dest, kind)
    assert not (tmp_path / "outside.txt").exists()
    assert not os.path.exists("/tmp/outside.txt")


@pytest.mark.parametrize("member", [
    _link("abs", "/etc/passwd"),
    _link("up", "../../etc/passwd"),
    _link("hard", "../x", kind=tarfile.LNKTYPE),
    (dict(name="null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), None),
    (dict(name="pipe", type=tarfile.FIFOTYPE), None),
], ids=["absolute-link", "link-out", "hardlink-out", "device", "fifo"])
def test_data_refuses_links_out_and_special_files(tmp_path, native, member):
    with pytest.raises(tarfile.TarError):
        _extractall(_tar(member), tmp_path, "data")
    assert os.listdir(tmp_path) == []


def test_names_lose_their_leading_slash_and_modes_their_set_id_bits(tmp_path, native):
    _extractall(_tar(_file("/abs.txt", b"abs\n", mode=0o4777),
                     _link("inside", "abs.txt")), tmp_path, "data")
    assert (tmp_path / "abs.txt").read_bytes() == b"abs\n"
    assert stat.S_IMODE(os.stat(tmp_path / "abs.txt").st_mode) == 0o755
    assert os.readlink(tmp_path / "inside") == "abs.txt"


def test_a_read_only_directory_gets_its_mode_after_its_content(tmp_path, native):
    # as tarfile's extractall: a 0555 directory would refuse its own files (as non-root)
    _extractall(_tar(_dir("ro", 0o555), _file("ro/f.txt", b"f\n"), _dir("ro/sub")),
                tmp_path, "tar")
    assert (tmp_path / "ro" / "f.txt").read_bytes() == b"f\n"
    assert stat.S_IMODE(os.stat(tmp_path / "ro").st_mode) == 0o555
    os.chmod(tmp_path / "ro", 0o755)  # for pytest's clean-up


def test_an_unknown_filter_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        tarfilter.filtered(tarfile.TarInfo("a"), str(tmp_path), "fully_trusted")
