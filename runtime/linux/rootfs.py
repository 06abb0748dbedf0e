"""Building a container's root filesystem inside its new mount namespace.

Runs on the container side (the init, before it execs). Every target inside the rootfs is
resolved with openat2(RESOLVE_IN_ROOT), so a symlink planted in the image ("/proc -> /etc" or
"/dev/x -> /../../host") is followed as if the rootfs were "/", never out of it; the mount is
then made on the resolved file through its /proc/self/fd magic link, so nothing can swap the
path between the check and the mount (the CVE-2021-30465 race in runc's bind mounts).
"""

from __future__ import annotations

import errno
import os
import stat

from runtime.errors import SetupError
from runtime.linux import syscalls as sc

O_PATH = os.O_PATH

DEFAULT_DEVICES = (  # (name, major, minor): what every container gets, as runc makes them
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"),
)
# Files under /proc a bind mount may cover (lxcfs-style); anything else under /proc is refused,
# since a mount over /proc/self/attr or /proc/sys could disable protections (CVE-2019-16884,
# CVE-2019-19921).
PROC_BIND_ALLOWED = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                     "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo"}


# Filesystems that show the kernel's view (procfs, sysfs, cgroupfs) go on a plain directory
# of the image or nowhere. A symlink there (/proc -> /some/dir) would be followed inside the
# root, but the masks and read-only paths later name /proc/... and would miss the mount;
# runc refuses it likewise (the CVE-2019-19921 class).
KERNEL_VIEWS = ("proc", "sysfs", "cgroup", "cgroup2")


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_in_root(rootfd: int, path: str, flags: int = O_PATH) -> int:
    """Open PATH as if rootfd were "/", with symlinks unable to leave it."""
    return sc.openat2(rootfd, path.lstrip("/") or ".", flags,
                      sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)


def path_in_root(rootfd: int, fd: int) -> str:
    """Where fd is, as a path inside the root ("/" for the root itself)."""
    root = os.readlink(fd_path(rootfd)).rstrip("/")
    here = os.readlink(fd_path(fd))
    if here != root and not here.startswith(root + "/"):
        raise SetupError(f"{here} is outside the root {root}")
    return here[len(root):] or "/"


def mkdir_all_in_root(rootfd: int, path: str, mode: int = 0o755, _depth: int = 0) -> int:
    """mkdir -p inside the root; returns an O_PATH fd of the final directory.

    Every lookup starts from rootfd, with the part already walked given as its real,
    symlink-free path: an absolute symlink in the image means the root's "/", a ".." stops at
    the root, and a dangling symlink on the way has its target made, inside the root.
    """
    parts = [p for p in path.split("/") if p and p != "."]
    here = "/"  # the real path, inside the root, of the directory reached so far
    fd = open_in_root(rootfd, here, O_PATH | os.O_DIRECTORY)
    for i, part in enumerate(parts):
        want = os.path.join(here, part)
        try:
            nxt = open_in_root(rootfd, want, O_PATH | os.O_DIRECTORY)
        except FileNotFoundError:
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                # A dangling symlink: make what it points to, resolved from the root.
                link = os.readlink(part, dir_fd=fd)
                os.close(fd)
                if _depth >= 40:
                    raise sc.error(40, "mkdir", path) from None  # ELOOP
                target = os.path.join("/" if link.startswith("/") else here, link)
                return mkdir_all_in_root(rootfd, "/".join([target] + parts[i + 1:]), mode,
                                         _depth + 1)
            except BaseException:
                os.close(fd)
                raise
            nxt = open_in_root(rootfd, want, O_PATH | os.O_DIRECTORY)
        os.close(fd)
        fd = nxt
        here = path_in_root(rootfd, fd)
    return fd


def refuse_unordinary_target(rootfd: int, dest: str, fstype: str) -> None:
    try:
        fd = sc.openat2(rootfd, dest.lstrip("/"), O_PATH | os.O_NOFOLLOW,
                        sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_SYMLINKS)
    except FileNotFoundError:
        return  # made as a directory next
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SetupError(f"mount {dest}: {fstype} must be mounted on an ordinary "
                             f"directory, and {dest} is (or passes through) a symlink") from None
        raise
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise SetupError(f"mount {dest}: {fstype} must be mounted on an ordinary "
                             "directory, and this is not a directory")
    finally:
        os.close(fd)


def make_target(rootfd: int, path: str, is_dir: bool) -> int:
    """Ensure a mount target exists in the root (directory or empty file); O_PATH fd of it."""
    try:
        fd = open_in_root(rootfd, path)
    except FileNotFoundError:
        pass
    else:
        st = os.fstat(fd)
        if not is_dir or stat.S_ISDIR(st.st_mode):
            return fd
        os.close(fd)
        raise SetupError(f"mount {path}: target is a file, source is a directory")
    if is_dir:
        return mkdir_all_in_root(rootfd, path)
    parent, name = os.path.split(path.rstrip("/"))
    pfd = mkdir_all_in_root(rootfd, parent)
    try:
        try:
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW,
                             0o644, dir_fd=pfd))
        except FileExistsError:
            pass
        return open_in_root(rootfd, os.path.join(path_in_root(rootfd, pfd), name))
    finally:
        os.close(pfd)


def _locked_flags(path: str) -> int:
    """Flags of an existing mount that a bind remount must keep (the kernel refuses to drop
    nosuid/nodev/noexec/atime flags of a mount locked by a less privileged namespace)."""
    f = os.statvfs(path).f_flag
    out = 0
    for st_flag, ms_flag in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                             (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_NOATIME, sc.MS_NOATIME),
                             (os.ST_NODIRATIME, sc.MS_NODIRATIME),
                             (os.ST_RELATIME, sc.MS_RELATIME)):
        if f & st_flag:
            out |= ms_flag
    return out


def bind_remount(target: str, flags: int) -> None:
    """Apply ro/nosuid/... to a bind mount (the first bind ignores them)."""
    keep = _locked_flags(target)
    sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | keep | flags)


def set_root_propagation(name: str | None, rootfs: str | None = None) -> None:
    """linux.rootfsPropagation on the whole mount tree (rslave by default). Where that
    leaves the mount holding the rootfs shared, it is made private: pivot_root refuses a
    shared parent (EINVAL), as runc's rootfsParentMountPrivate knows."""
    from runtime.linux.names import PROPAGATION_FLAGS
    flags = PROPAGATION_FLAGS[name] if name else sc.MS_SLAVE | sc.MS_REC
    sc.mount(None, "/", None, flags)
    if rootfs and flags & sc.MS_SHARED:
        sc.mount(None, mount_point_of(rootfs), None, sc.MS_PRIVATE)


def mount_point_of(path: str) -> str:
    """The mount point under which path lies (the longest match in mountinfo)."""
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if (path.rstrip("/") + "/").startswith(point.rstrip("/") + "/") and \
                    len(point) > len(best):
                best = point
    return best


def is_procfs_root(path: str) -> bool:
    """Is path the root of a procfs (a rootless bundle binds the host's at /proc)? The root
    directory of every procfs is inode 1, and its device is a mount of type proc."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_ino != 1:
        return False
    want = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            row = line.split()
            if row[2] == want and row[row.index("-") + 1] == "proc":
                return True
    return False


def bind_rootfs(rootfs: str) -> None:
    """pivot_root needs the new root to be a mount point: bind it onto itself."""
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)


def mount_one(rootfd: int, rootfs: str, m, bundle: str, cgroup_binds=None,
              tree: int | None = None, cgroup_dir: str | None = None) -> None:
    """Make one entry of config.json's mounts inside the rootfs. tree: for a bind, its
    source as a detached mount tree (sc.clone_tree) made by the host side; cgroup_dir: the
    container's cgroup on a v2 host."""
    dest = m.destination
    if m.is_bind:
        source = m.source or ""
        if not os.path.isabs(source):
            source = os.path.join(bundle, source)
        try:
            is_dir = stat.S_ISDIR(os.stat(source if tree is None else tree).st_mode)
        except OSError as e:
            raise SetupError(f"mount {dest}: source {source}: {e.strerror}") from None
    else:
        source = m.source or m.type or "none"
        is_dir = True
    if dest == "/proc" or dest.startswith("/proc/"):
        allowed = dest in PROC_BIND_ALLOWED or (dest == "/proc" and (
            m.type == "proc" or (m.is_bind and is_procfs_root(source))))
        if not allowed:
            raise SetupError(f"mount {dest}: mounting over /proc is not allowed")
    if m.type in KERNEL_VIEWS:
        refuse_unordinary_target(rootfd, dest, m.type)
    fd = make_target(rootfd, dest, is_dir)
    try:
        # The fd was resolved inside the root; check it still is (a symlink swapped in by a
        # racing process in another container sharing this rootfs would show here).
        target = fd_path(fd)
        real = os.readlink(target)
        if real != rootfs and not real.startswith(rootfs.rstrip("/") + "/"):
            raise SetupError(f"mount {dest}: resolves to {real}, outside the root")
        if m.type == "cgroup" and cgroup_binds:
            _mount_cgroup(rootfd, target, m, cgroup_binds)
        elif m.type == "cgroup":  # a v2 host: the container's cgroup namespace root
            try:
                sc.mount("cgroup2", target, "cgroup2", m.flags & ~sc.MS_BIND, m.data or None)
            except OSError as e:
                if e.errno != errno.EPERM or not cgroup_dir:
                    raise
                # A user namespace without a cgroup namespace of its own may not mount a
                # cgroup2: bind the container's own cgroup instead (runc does the same).
                sc.mount(cgroup_dir, target, None, sc.MS_BIND | sc.MS_REC)
                keep = m.flags & (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
                _on_new_mount(rootfd, dest, lambda p: bind_remount(p, keep))
        elif m.is_bind:
            if tree is not None:
                sc.attach_tree(tree, fd, dest)
            else:
                sc.mount(source, target, None, m.flags & (sc.MS_BIND | sc.MS_REC))
            extra = m.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if extra:
                _on_new_mount(rootfd, dest, lambda p: bind_remount(p, extra))
            if "rro" in m.options:
                _on_new_mount(rootfd, dest, sc.make_readonly_recursively)
        else:
            data = m.data
            if m.type == "devpts" and "newinstance" not in data:
                data = ",".join(x for x in ("newinstance", "ptmxmode=0666", data) if x)
            try:
                sc.mount(source, target, m.type, m.flags & ~sc.MS_BIND, data or None)
            except OSError as e:
                if m.type == "sysfs" and e.errno == errno.EPERM:
                    # No netns of our own under a user namespace: the kernel refuses a new
                    # sysfs; a read-only recursive bind of the host's is what runc does.
                    sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
                    bind_remount(target, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV |
                                 sc.MS_NOEXEC)
                else:
                    raise
        for flag in m.propagation:
            _on_new_mount(rootfd, dest, lambda p: sc.mount(None, p, None, flag))
    except OSError as e:
        # "mount /proc/self/fd/7: ..." would name the descriptor, not the config's entry.
        raise SetupError(f"mount {m.type or 'bind'} at {dest}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def _on_new_mount(rootfd: int, dest: str, action) -> None:
    """Act on the mount now at dest. An fd opened before the mount still names the directory
    underneath it, so resolve the path again (still inside the root)."""
    fd = open_in_root(rootfd, dest)
    try:
        action(fd_path(fd))
    finally:
        os.close(fd)


def _mount_cgroup(rootfd: int, target: str, m, cgroup_binds) -> None:
    """type "cgroup" in a v1 world: a tmpfs holding a bind of the container's own directory
    in each hierarchy (what runc does)."""
    ro = m.flags & sc.MS_RDONLY
    locked = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    # The fd behind `target` still names the directory under the new tmpfs: look again.
    top = open_in_root(rootfd, m.destination, O_PATH | os.O_DIRECTORY)
    try:
        for name, host_dir in cgroup_binds:
            os.mkdir(name, 0o755, dir_fd=top)
            sub = open_in_root(top, name, O_PATH | os.O_DIRECTORY)
            try:
                sc.mount(host_dir, fd_path(sub), None, sc.MS_BIND | sc.MS_REC)
            finally:
                os.close(sub)
            if ro:
                _on_new_mount(top, name, lambda p: bind_remount(p, locked))
    finally:
        os.close(top)
    if ro:
        _on_new_mount(rootfd, m.destination, lambda p: bind_remount(p, locked))


def make_devices(rootfd: int, devices, bind_from_host: bool) -> None:
    """Create /dev nodes: the defaults, then the config's. In a user namespace mknod is not
    allowed, so the host's node is bind-mounted onto an empty file instead."""
    dev_fd = mkdir_all_in_root(rootfd, "/dev")
    old_umask = os.umask(0)
    try:
        todo = [(f"/dev/{name}", "c", ma, mi, 0o666, 0, 0) for name, ma, mi in DEFAULT_DEVICES]
        for d in devices:
            todo.append((d.path, d.type, d.major, d.minor,
                         0o666 if d.file_mode is None else d.file_mode, d.uid or 0, d.gid or 0))
        for path, dtype, major, minor, mode, uid, gid in todo:
            rel = path[len("/dev/"):]
            parent, name = os.path.split(rel)
            pfd = mkdir_all_in_root(dev_fd, parent) if parent else os.dup(dev_fd)
            try:
                try:
                    os.unlink(name, dir_fd=pfd)
                except FileNotFoundError:
                    pass
                if bind_from_host:
                    os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644,
                                     dir_fd=pfd))
                    tfd = open_in_root(pfd, name)
                    try:
                        sc.mount(path, fd_path(tfd), None, sc.MS_BIND)
                    finally:
                        os.close(tfd)
                    continue
                kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK,
                        "p": stat.S_IFIFO}[dtype]
                os.mknod(name, kind | (mode & 0o7777), os.makedev(major, minor), dir_fd=pfd)
                os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)
        for src, name in DEV_SYMLINKS:
            try:
                os.symlink(src, name, dir_fd=dev_fd)
            except FileExistsError:
                pass
        for name in ("pts", "shm"):
            try:
                os.mkdir(name, 0o755 if name == "pts" else 0o1777, dir_fd=dev_fd)
            except FileExistsError:
                pass
    finally:
        os.umask(old_umask)
        os.close(dev_fd)


def pivot_root(rootfs: str) -> None:
    """Make rootfs "/" and drop the old root, without a put_old directory (runc's way:
    pivot_root(".", ".") stacks the old root on top, then it is detached)."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        # Keep the host from seeing the unmount of the old root.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    except OSError as e:
        if e.filename in (".", None):
            raise SetupError(f"pivot_root {rootfs}: {os.strerror(e.errno)}") from None
        raise
    finally:
        os.close(old)
        os.close(new)


def move_root(rootfs: str) -> None:
    """--no-pivot: for a root on ramfs/initramfs, where pivot_root is impossible. The old
    root stays in this mount namespace, under the moved one; so do the host's procfs and
    sysfs, and while a fully visible procfs exists in the namespace, the kernel lets a
    process with a user namespace mount a new, unmasked one. So they go first: unmounted,
    or, where that is refused, covered with an empty tmpfs (runc does the same)."""
    root = rootfs.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    points = []
    for row in rows:
        point = row[4].replace("\\040", " ")
        fstype = row[row.index("-") + 1]
        if fstype in ("proc", "sysfs") and not (point + "/").startswith(root):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        try:
            sc.umount2(point, sc.MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            sc.mount("tmpfs", point, "tmpfs", sc.MS_RDONLY, None)
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def mask_path(path: str) -> None:
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY, None)
    else:
        try:
            sc.mount("/dev/null", path, None, sc.MS_BIND)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise


def readonly_path(path: str) -> None:
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    bind_remount(path, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def remount_root_readonly() -> None:
    bind_remount("/", sc.MS_RDONLY)
