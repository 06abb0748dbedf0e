"""The one door to the kernel calls that Python 3.11 lacks.

Everything in pyrun that mounts, unshares, joins namespaces or pivots goes through the functions
here, which turn a failed call into ``OSError(errno, strerror, path)`` so messages read like
"pivot_root /path: Invalid argument". Unit tests replace these functions with a recorder
(tests/unit/fakes.py), so nothing else may import ``runtime._native`` directly.
"""

import os

from runtime._native import ffi as _ffi, lib as _lib

# clone(2)/unshare(2) flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MS_PROPAGATION = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE

# umount2(2) flags
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# prctl(2)
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


class SyscallError(OSError):
    """An OSError whose text is "call path: strerror", as runc words it."""

    def __str__(self):
        return self.strerror


_classes: dict[type, type] = {}


def error(err: int, call: str, path=None) -> SyscallError:
    """The OSError for a failed call, of the subclass Python would pick for the errno
    (FileNotFoundError for ENOENT, ...), so callers can catch it the usual way."""
    base = type(OSError(err, ""))
    cls = _classes.get(base)
    if cls is None:
        cls = _classes[base] = type(f"Syscall{base.__name__}", (SyscallError, base), {})
    where = f"{call} {os.fsdecode(path)}" if path is not None else call
    return cls(err, f"{where}: {os.strerror(err)}", path)


def _fail(call: str, path=None):
    raise error(_ffi.errno, call, path)


def _b(s):
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    if _lib.unshare(flags) < 0:
        _fail("unshare")


def setns(fd: int, nstype: int = 0, path=None) -> None:
    if _lib.setns(fd, nstype) < 0:
        _fail("setns", path)


def mount(source, target, fstype=None, flags: int = 0, data=None) -> None:
    d = _b(data)
    if _lib.mount(_b(source) or _ffi.NULL, _b(target), _b(fstype) or _ffi.NULL, flags,
                  d if d else _ffi.NULL) < 0:
        _fail("mount", target)


def umount2(target, flags: int = 0) -> None:
    if _lib.umount2(_b(target), flags) < 0:
        _fail("umount", target)


def pivot_root(new_root, put_old) -> None:
    if _lib.pyrun_pivot_root(_b(new_root), _b(put_old)) < 0:
        _fail("pivot_root", new_root)


def sethostname(name: str) -> None:
    b = name.encode()
    if _lib.sethostname(b, len(b)) < 0:
        _fail("sethostname", name)


def setdomainname(name: str) -> None:
    b = name.encode()
    if _lib.setdomainname(b, len(b)) < 0:
        _fail("setdomainname", name)


def link_up(name: str) -> None:
    """Set a network interface up with the two ioctls ifconfig uses (SIOCGIFFLAGS and
    SIOCSIFFLAGS on a datagram socket): for the loopback of a network namespace that the
    runtime made, one flag needs no netlink. _socket and fcntl must be imported before a
    user namespace is entered (runtime/oci/process.py preload)."""
    import _socket
    import fcntl
    import struct
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        ifreq = struct.pack("16sH22x", name.encode(), 0)  # struct ifreq: name, ifr_flags
        flags = struct.unpack_from("16sH", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS,
                        struct.pack("16sH22x", name.encode(), flags | IFF_UP))
    except OSError as e:
        raise error(e.errno, "set link up", name) from None
    finally:
        s.close()


def openat2(dirfd: int, path, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2); the returned descriptor is close-on-exec like every fd Python makes."""
    fd = _lib.pyrun_openat2(dirfd, _b(path), flags | os.O_CLOEXEC, mode, resolve)
    if fd < 0:
        _fail("openat2", path)
    return fd


def bpf(cmd: int, attr: bytearray, what: str) -> int:
    """bpf(2) with a packed union bpf_attr; returns what the kernel returns (an fd, or 0)."""
    r = _lib.pyrun_bpf(cmd, _ffi.from_buffer(attr), len(attr))
    if r < 0:
        _fail(f"bpf {what}")
    return r


BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16


def bpf_prog_load(prog_type: int, insns: bytes, license: bytes, expected_attach: int) -> int:
    """Load an eBPF program; returns its fd (close-on-exec)."""
    import struct
    code = _ffi.new("char[]", insns)
    lic = _ffi.new("char[]", license)
    attr = bytearray(128)  # union bpf_attr: the fields BPF_PROG_LOAD reads, the rest zero
    struct.pack_into("<IIQQ", attr, 0, prog_type, len(insns) // 8,
                     int(_ffi.cast("uintptr_t", code)), int(_ffi.cast("uintptr_t", lic)))
    struct.pack_into("<I", attr, 68, expected_attach)
    fd = bpf(BPF_PROG_LOAD, attr, "load")
    os.set_inheritable(fd, False)
    return fd


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
    import struct
    attr = bytearray(struct.pack("<IIIII", target_fd, prog_fd, attach_type, flags, 0))
    attr += bytes(32 - len(attr))
    bpf(BPF_PROG_ATTACH, attr, "attach")


def bpf_prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    import struct
    attr = bytearray(struct.pack("<IIIII", target_fd, prog_fd, attach_type, 0, 0))
    attr += bytes(32 - len(attr))
    bpf(BPF_PROG_DETACH, attr, "detach")


def bpf_prog_query(target_fd: int, attach_type: int) -> list[int]:
    """The ids of the programs attached to target_fd (a cgroup) for attach_type."""
    import struct
    ids = _ffi.new("uint32_t[]", 64)
    attr = bytearray(struct.pack("<IIIIQI", target_fd, attach_type, 0, 0,
                                 int(_ffi.cast("uintptr_t", ids)), 64))
    attr += bytes(40 - len(attr))
    bpf(BPF_PROG_QUERY, attr, "query")
    count = struct.unpack_from("<I", attr, 24)[0]
    return [ids[i] for i in range(min(count, 64))]


def bpf_prog_get_fd_by_id(prog_id: int) -> int:
    import struct
    attr = bytearray(struct.pack("<III", prog_id, 0, 0)) + bytes(20)
    fd = bpf(BPF_PROG_GET_FD_BY_ID, attr, "get program")
    os.set_inheritable(fd, False)
    return fd


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    r = _lib.pyrun_prctl(option, arg2, arg3, arg4, arg5)
    if r < 0:
        _fail(f"prctl({option})")
    return r


# seccomp(2)
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32


def seccomp_set_filter(flags: int, program: bytes) -> int:
    """Install a classic BPF program (struct sock_filter[], 8 bytes each) on this thread.
    Returns the notification listener's fd when flags ask for one (close-on-exec), else 0."""
    buf = _ffi.from_buffer(program)
    r = _lib.pyrun_seccomp_filter(flags, buf, len(program) // 8)
    if r < 0:
        _fail("seccomp")
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        os.set_inheritable(r, False)
    return r


def seccomp_flags_supported(flags: int) -> bool:
    """Whether this kernel knows these SECCOMP_FILTER_FLAG_* bits."""
    import errno
    _lib.pyrun_seccomp_probe_flags(flags)
    return _ffi.errno == errno.EFAULT


# keyctl(2)
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SETPERM = 5
KEYCTL_DESCRIBE = 6
KEY_SPEC_SESSION_KEYRING = -3


def keyctl_join_session_keyring(name: str) -> int:
    """Make a new session keyring called name and join it; returns its serial."""
    b = _ffi.new("char[]", name.encode())
    r = _lib.pyrun_keyctl(KEYCTL_JOIN_SESSION_KEYRING, int(_ffi.cast("uintptr_t", b)), 0, 0, 0)
    if r < 0:
        _fail("keyctl join session keyring", name)
    return r


def keyctl_describe(key: int) -> str:
    """"type;uid;gid;perm;description" of a key or keyring."""
    buf = _ffi.new("char[]", 512)
    r = _lib.pyrun_keyctl(KEYCTL_DESCRIBE, key & 0xFFFFFFFF, int(_ffi.cast("uintptr_t", buf)),
                          512, 0)
    if r < 0:
        _fail(f"keyctl describe {key}")
    return _ffi.string(buf).decode(errors="replace")


def keyctl_setperm(key: int, perm: int) -> None:
    if _lib.pyrun_keyctl(KEYCTL_SETPERM, key & 0xFFFFFFFF, perm, 0, 0) < 0:
        _fail(f"keyctl setperm {key}")


RENAME_EXCHANGE = 2


AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40


def clone_tree(path, recursive: bool) -> int:
    """A detached copy of the mount at path (open_tree OPEN_TREE_CLONE, Linux 5.2): made
    with this process's credentials, attachable in another mount namespace."""
    fd = _lib.pyrun_open_tree(-100, _b(path), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                              (AT_RECURSIVE if recursive else 0))
    if fd < 0:
        _fail("open_tree", path)
    return fd


def attach_tree(fd: int, target_fd: int, target_name: str) -> None:
    """Mount a tree clone_tree() made on the directory or file target_fd is open on
    (move_mount by descriptor: a /proc/self/fd path would be taken as the link itself)."""
    if _lib.pyrun_move_mount(fd, b"", target_fd, b"",
                             MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0:
        _fail("move_mount", target_name)


CLOSE_RANGE_CLOEXEC = 0x4


def cloexec_from(first: int) -> None:
    """Every descriptor from first up close-on-exec (close_range, Linux 5.11): no /proc
    needed, which a root without a mount namespace of its own may lack."""
    if _lib.pyrun_close_range(first, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC) < 0:
        _fail("close_range", str(first))


MOUNT_ATTR_RDONLY = 0x1


def make_readonly_recursively(path) -> None:
    """Every mount at and under path read-only (mount_setattr, AT_RECURSIVE: Linux 5.12):
    a bind's "ro" covers only its top mount; "rro" covers the ones beneath too."""
    if _lib.pyrun_mount_setattr(-100, _b(path), AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0) < 0:
        _fail("mount_setattr", path)


def rename_exchange(a, b) -> None:
    """Swap two paths atomically (renameat2 RENAME_EXCHANGE): both names exist throughout."""
    if _lib.pyrun_renameat2(-100, _b(a), -100, _b(b), RENAME_EXCHANGE) < 0:  # AT_FDCWD
        _fail("rename exchange", a)
