"""Extracting tars that come from outside (an API client's build context, a container's
files for `cp`) with PEP 706's filters on every Python 3.11.

tarfile's own filters ("tar": no absolute names, nothing outside the destination; "data":
also no links out, no devices, no owners or set-id bits) arrived in 3.11.4. Debian 12's
python3 is 3.11.2 (3.11.2-6+deb12u6 has no tarfile.data_filter), so there the same rules
are applied here, member by member, just before each is extracted: the check resolves what
earlier members made, as tarfile's does (a symlink "x -> /etc" then "x/passwd" is refused,
the shape of CVE-2018-15664's `docker cp` race). Where tarfile has them, its own run.

    extract(t, member, dest, kind)   one member ("tar" | "data")
    extractall(t, dest, kind)        every member, directories' times and modes last

Owners are taken by number, never by name: a name lookup loads the NSS modules that
/etc/nsswitch.conf names, which past a chroot are the container's (CVE-2019-14271).
"""

from __future__ import annotations

import copy
import os
import tarfile

NATIVE = hasattr(tarfile, "data_filter")


class FilterError(tarfile.TarError):
    """A member the filter refuses (tarfile's own FilterError where it has one)."""


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def filtered(m: tarfile.TarInfo, dest: str, kind: str) -> tarfile.TarInfo:
    """The member as the filter lets it be extracted into dest, or FilterError: tarfile's
    tar_filter/data_filter rules (CPython 3.12's Lib/tarfile.py), for a tarfile without
    them."""
    if kind not in ("tar", "data"):
        raise ValueError(f"unknown tar filter {kind!r}")
    data = kind == "data"
    dest = os.path.realpath(dest)
    out = copy.copy(m)
    name = m.name.lstrip("/")  # as tar itself does with absolute names
    out.name = name
    if not _inside(os.path.realpath(os.path.join(dest, name)), dest):
        raise FilterError(f"{m.name!r} would be extracted outside the destination")
    mode = m.mode & 0o755  # no set-id or sticky bits, no group/other write
    if data:
        if m.isreg() or m.islnk():
            if not mode & 0o100:
                mode &= ~0o111
            mode |= 0o600
        elif not (m.isdir() or m.issym()):
            raise FilterError(f"{m.name!r} is a special file")
        out.uid, out.gid = os.geteuid(), os.getegid()  # the owner is the one who extracts
        out.uname = out.gname = ""
        if m.islnk() or m.issym():
            if os.path.isabs(m.linkname):
                raise FilterError(f"{m.name!r} is a link to an absolute path")
            base = os.path.dirname(name) if m.issym() else ""
            target = os.path.realpath(os.path.join(dest, base, m.linkname))
            if not _inside(target, dest):
                raise FilterError(f"{m.name!r} would link outside the destination")
    out.mode = mode
    return out


def extract(t: tarfile.TarFile, m: tarfile.TarInfo, dest: str, kind: str = "data") -> None:
    if NATIVE:
        t.extract(m, dest, filter=kind, numeric_owner=True)
    else:
        t.extract(filtered(m, dest, kind), dest, numeric_owner=True)


def extractall(t: tarfile.TarFile, dest: str, kind: str = "data") -> None:
    if NATIVE:
        t.extractall(dest, filter=kind, numeric_owner=True)
        return
    dirs = []
    for m in t:
        m = filtered(m, dest, kind)
        if m.isdir():  # its times and mode once its content is in (as extractall does)
            dirs.append(m)
            t.extract(m, dest, set_attrs=False, numeric_owner=True)
        else:
            t.extract(m, dest, numeric_owner=True)
    for m in sorted(dirs, key=lambda d: d.name, reverse=True):
        path = os.path.join(dest, m.name)
        t.chown(m, path, numeric_owner=True)
        t.utime(m, path)
        t.chmod(m, path)
