"""Layer tars ↔ directories, per the OCI image-spec, with overlayfs whiteouts.

unpack(): a tar stream (plain, gzip or zstd) → a directory that overlayfs can use as a lower
layer. Hostile tars are contained: every parent directory is resolved with
openat2(RESOLVE_IN_ROOT) inside the layer directory and entries are made with *at calls
relative to it, so no "../", absolute path, symlinked parent or hardlink can reach outside.
Whiteouts become what overlayfs reads: ".wh.name" a 0/0 character device, ".wh..wh..opq"
the trusted.overlay.opaque xattr on its directory.

pack(): an overlay upper directory → a tar, whiteouts turned back into ".wh." entries,
written in a stable order; returns the digest (the diff_id) and the size.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile

from runtime.errors import PyrunError
from runtime.linux import syscalls as sc

# Owners as the tar gives them where this process may set them (root); a user's own
# extraction keeps the files its own, as GNU tar does for one (--no-same-owner).
SAME_OWNER = os.geteuid() == 0
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


class LayerError(PyrunError):
    pass


# ---- reading ---------------------------------------------------------------------------------

def open_stream(f):
    """Wrap a layer blob's file object so it reads as a plain tar, whatever its compression."""
    head = f.peek(4)[:4] if hasattr(f, "peek") else None
    if head is None:
        pos = f.tell()
        head = f.read(4)
        f.seek(pos)
    if head[:2] == b"\x1f\x8b":
        import gzip
        return gzip.GzipFile(fileobj=f, mode="rb")
    if head == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # only when a zstd layer comes (scripts/bench imports)
        except ImportError:
            raise LayerError("zstd layer: install the zstandard package to read it") from None
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
    return f


def _clean_name(name: str) -> str | None:
    """The member's path relative to the layer root, or None for the root itself. Leading
    "/" and "./" are dropped (as tar itself does); ".." is refused."""
    parts = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            raise LayerError(f"layer entry {name!r} leaves the layer")
        parts.append(p)
    return "/".join(parts) or None


class _Root:
    """The layer directory, with lookups that cannot leave it."""

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dirs: dict[str, int] = {}
        self.replaced = False  # an entry took the place of another (sizes need a walk)

    def close(self):
        for fd in self._dirs.values():
            os.close(fd)
        os.close(self.fd)

    def dir(self, rel: str) -> int:
        """O_PATH fd of a directory inside the root, made (0755) if missing. Each component
        is opened beneath its parent without following symlinks, so by induction every
        directory handed out is inside the root."""
        if not rel:
            return self.fd
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        parent, name = os.path.split(rel)
        pfd = self.dir(parent)
        try:
            fd = self._open(pfd, name, rel)
        except FileNotFoundError:
            os.mkdir(name, 0o755, dir_fd=pfd)
            fd = self._open(pfd, name, rel)
        except NotADirectoryError:
            os.unlink(name, dir_fd=pfd)  # a file where the tar wants a directory
            self.replaced = True
            os.mkdir(name, 0o755, dir_fd=pfd)
            fd = self._open(pfd, name, rel)
        self._dirs[rel] = fd
        return fd

    @staticmethod
    def _open(pfd: int, name: str, rel: str) -> int:
        try:
            return sc.openat2(pfd, name, os.O_PATH | os.O_DIRECTORY, _IN_ROOT)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise LayerError(f"layer entry under {rel!r} goes through a symlink") from None
            raise

    def forget(self, rel: str):
        """A directory was replaced: drop cached fds at and below it."""
        for k in [k for k in self._dirs if k == rel or k.startswith(rel + "/")]:
            os.close(self._dirs.pop(k))


# Parents are resolved relative to their own parent's fd, with the layer dir as the root.
_IN_ROOT = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_MAGICLINKS | sc.RESOLVE_NO_SYMLINKS


def _remove(pfd: int, name: str, root: _Root, rel: str) -> None:
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    root.replaced = True
    if stat.S_ISDIR(st.st_mode):
        fd = sc.openat2(pfd, name, os.O_RDONLY | os.O_DIRECTORY, _IN_ROOT)
        try:
            for entry in os.listdir(fd):
                _remove(fd, entry, root, f"{rel}/{entry}")
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=pfd)
        root.forget(rel)
    else:
        os.unlink(name, dir_fd=pfd)


def unpack(stream, dest: str, detect: bool = True) -> int | None:
    """Extract a layer tar (a file object; any compression unless detect=False, for a stream
    already decompressed) into the directory dest. Returns the bytes of regular files it
    holds (what dir_size() would count), or None when entries replaced others and only a
    walk can tell.

    The stream is read ahead in a thread of its own (a ReadAhead, or one made here), so its
    reading, decompression and whatever the caller does with each block (hash it, keep it)
    overlap the files' creation."""
    from runtime.image.readahead import ReadAhead
    ahead = stream if isinstance(stream, ReadAhead) else \
        ReadAhead(open_stream(stream) if detect else stream)
    root = _Root(os.path.realpath(dest))
    dir_times = []
    total = 0
    try:
        # "r:", not the stream mode "r|": tarfile's stream buffer re-copies itself on every
        # header read, while ReadAhead hands out slices of its blocks.
        with tarfile.open(fileobj=ahead, mode="r:") as tar:
            for m in tar:
                rel = _clean_name(m.name)
                if rel is None:
                    continue  # the layer root itself: its metadata is not ours to change
                parent, name = os.path.split(rel)
                pfd = root.dir(parent)
                if name == OPAQUE:
                    fd = sc.openat2(pfd, ".", os.O_RDONLY | os.O_DIRECTORY, _IN_ROOT)
                    try:
                        os.setxattr(fd, OPAQUE_XATTR, b"y")
                    finally:
                        os.close(fd)
                    continue
                if name.startswith(WHITEOUT):
                    target = name[len(WHITEOUT):]
                    _remove(pfd, target, root, os.path.join(parent, target))
                    os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
                    continue
                _extract(tar, m, pfd, name, rel, root, dir_times)
                if m.isreg():
                    total += m.size
        for pfd_rel, name, mtime in reversed(dir_times):
            try:
                os.utime(name, (mtime, mtime), dir_fd=root.dir(pfd_rel), follow_symlinks=False)
            except OSError:
                pass
        if ahead is not stream:
            ahead.finish()  # its thread done with the caller's file before the caller closes it
    except (tarfile.TarError, EOFError) as e:
        raise LayerError(f"layer is not a valid tar: {e}") from None
    finally:
        root.close()
        if ahead is not stream:
            ahead.close()
    return None if root.replaced else total


def _extract_file(tar, m, pfd: int, name: str, rel: str, root: _Root) -> None:
    """A regular file, its metadata set through the open descriptor: no path is looked up
    again after the create (fewer syscalls on the commonest entry, and nothing to race)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=pfd)
    except FileExistsError:  # an earlier layer's entry (or this tar's): replaced
        _remove(pfd, name, root, rel)
        fd = os.open(name, flags, 0o600, dir_fd=pfd)
    try:
        src = tar.extractfile(m)
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            os.write(fd, chunk)
        if SAME_OWNER:
            os.chown(fd, m.uid, m.gid)
        os.chmod(fd, m.mode & 0o7777)  # after chown: chown clears setuid/setgid
        for attr, value in _xattrs(m):
            try:
                os.setxattr(fd, attr, value)
            except OSError:
                pass
        os.utime(fd, (m.mtime, m.mtime))
    finally:
        os.close(fd)


def _xattrs(m):
    """The extended attributes a layer may carry (PAX SCHILY.xattr.*) that pyrun restores."""
    for key, value in (m.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            attr = key[len("SCHILY.xattr."):]
            if attr.startswith(("user.", "trusted.", "security.capability")):
                yield attr, value.encode("utf-8", "surrogateescape")


def _extract(tar, m, pfd: int, name: str, rel: str, root: _Root, dir_times: list) -> None:
    if m.isreg():
        _extract_file(tar, m, pfd, name, rel, root)
        return
    existing = None
    try:
        existing = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(pfd, name, root, rel)
    mode = m.mode & 0o7777
    if m.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(name, 0o700, dir_fd=pfd)
        dir_times.append((os.path.dirname(rel), name, m.mtime))
    elif m.issym():
        os.symlink(m.linkname, name, dir_fd=pfd)
    elif m.islnk():
        target = _clean_name(m.linkname)
        if target is None:
            raise LayerError(f"hardlink {m.name!r} points at the layer root")
        tparent, tname = os.path.split(target)
        try:
            os.link(tname, name, src_dir_fd=root.dir(tparent), dst_dir_fd=pfd,
                    follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(f"hardlink {m.name!r} to {m.linkname!r}: target is not in "
                             "this layer") from None
        return  # a hard link shares the target's metadata
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(name, kind | mode, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
    elif m.isfifo():
        os.mkfifo(name, mode, dir_fd=pfd)
    else:
        return  # sockets and unknown types are not part of images
    if SAME_OWNER:
        os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
    if not m.issym():
        # chmod after chown: chown clears setuid/setgid bits
        fd = sc.openat2(pfd, name, os.O_PATH, _IN_ROOT)
        try:
            os.chmod(f"/proc/self/fd/{fd}", mode)
        finally:
            os.close(fd)
    for attr, value in _xattrs(m):
        try:
            fd = sc.openat2(pfd, name, os.O_PATH, _IN_ROOT)
            try:
                os.setxattr(f"/proc/self/fd/{fd}", attr, value, follow_symlinks=False)
            finally:
                os.close(fd)
        except OSError:
            pass
    if not m.isdir():
        os.utime(name, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)


# ---- writing ---------------------------------------------------------------------------------

class HashingWriter:
    """A file-like object that hashes and counts what passes through to the real file."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def _is_whiteout(st) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def pack(src: str, out, base: str = "") -> tuple[str, int]:
    """Write the directory src as a layer tar to the binary file `out`.

    Overlay whiteouts become ".wh." entries. Entries are sorted, so the same tree gives the
    same bytes (and digest). Returns ("sha256:<hex>", size)."""
    w = HashingWriter(out)
    seen_inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.copybufsize = 1 << 20  # not 16 KiB: fewer writes and hash updates per file

        def add(path: str, arc: str):
            st = os.lstat(path)
            if _is_whiteout(st):
                d, name = os.path.split(arc)
                info = tarfile.TarInfo(os.path.join(d, WHITEOUT + name))
                info.mtime = int(st.st_mtime)
                tar.addfile(info)
                return
            info = tarfile.TarInfo(arc + ("/" if stat.S_ISDIR(st.st_mode) else ""))
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.mtime = int(st.st_mtime)
            info.uname = info.gname = ""
            fobj = None
            if stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen_inodes:
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen_inodes[key]
                else:
                    seen_inodes[key] = arc
                    info.size = st.st_size
                    fobj = open(path, "rb")
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
            else:
                return  # sockets are not part of images
            caps = _xattr(path, "security.capability")
            if caps is not None:
                info.pax_headers["SCHILY.xattr.security.capability"] = caps.decode(
                    "utf-8", "surrogateescape")
            try:
                tar.addfile(info, fobj)
            finally:
                if fobj is not None:
                    fobj.close()
            if stat.S_ISDIR(st.st_mode):
                if _is_opaque(path):
                    o = tarfile.TarInfo(os.path.join(arc, OPAQUE))
                    o.mtime = info.mtime
                    tar.addfile(o)
                for name in sorted(os.listdir(path)):
                    add(os.path.join(path, name), os.path.join(arc, name))

        for name in sorted(os.listdir(src)):
            add(os.path.join(src, name), name if not base else os.path.join(base, name))
    return "sha256:" + w.sha.hexdigest(), w.size


def _xattr(path: str, name: str):
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM):
            return None
        raise


def dir_size(path: str) -> int:
    """Bytes used by regular files under path (what `image ls` reports)."""
    total = 0
    seen = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for n in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
