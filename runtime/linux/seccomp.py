"""Seccomp: an OCI linux.seccomp section → a BPF program → installed right before execve.

Three steps, apart because they cost very different amounts:
- compile (libseccomp; the seccomp step of scripts/bench runtime-start): only on a cache
  miss. The program is kept in CACHE_DIR under a hash of the section, the kernel and the
  architecture, as crun does, so the next container with the same profile reads ~8 KiB
  instead.
- the ENOSYS stub: libseccomp gives every syscall the profile does not name the default action
  (EPERM for Docker's profile), also syscalls newer than the profile. glibc then takes EPERM
  from, e.g., clone3 as final instead of falling back to clone. So, as runc does
  (libcontainer/seccomp/patchbpf), a few instructions in front of libseccomp's program
  answer ENOSYS to any syscall number above the highest one the profile names, per
  architecture (x32's numbers carry bit 30 on x86_64's arch value).
- install: the raw seccomp(2) call (runtime.linux.syscalls), microseconds.
"""

from __future__ import annotations

import errno
import os

from runtime import jsonfast as json
from runtime.errors import ConfigError, SetupError
from runtime.linux import diag  # used after pivot_root too: imported while reachable
from runtime.linux import syscalls as sc
from runtime.record import record

CACHE_DIR = os.environ.get("PYRUN_SECCOMP_CACHE", "/run/pyrun-oci-seccomp")
_FORMAT = "2"  # part of the cache key: bump when the program pyrun makes changes
SCMP_FLTATR_CTL_OPTIMIZE = 8

# SECCOMP_RET_* (linux/seccomp.h); an action's low 16 bits carry the errno or trace data.
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
ACTIONS = {
    "SCMP_ACT_KILL": RET_KILL_THREAD, "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS, "SCMP_ACT_TRAP": RET_TRAP,
    "SCMP_ACT_ERRNO": RET_ERRNO, "SCMP_ACT_TRACE": RET_TRACE, "SCMP_ACT_LOG": RET_LOG,
    "SCMP_ACT_ALLOW": RET_ALLOW, "SCMP_ACT_NOTIFY": RET_USER_NOTIF,
}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": sc.SECCOMP_FILTER_FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": sc.SECCOMP_FILTER_FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": sc.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": sc.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}
# The companions each native architecture runs (Docker's archMap): a 64-bit x86 kernel also
# runs i386 and x32 programs, which a filter for x86_64 alone would let through as "bad arch".
COMPANIONS = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "s390x": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "riscv64": ("SCMP_ARCH_RISCV64",),
    "ppc64le": ("SCMP_ARCH_PPC64LE",),
}

AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E  # libseccomp's token; the kernel reports x32 as x86_64
X32_SYSCALL_BIT = 0x40000000


@record
class Program:
    bpf: bytes                   # struct sock_filter[]
    flags: int = 0               # SECCOMP_FILTER_FLAG_*
    listener_path: str | None = None
    listener_metadata: str = ""


def action_value(action: str, errno_ret: int | None) -> int:
    value = ACTIONS[action]
    if value in (RET_ERRNO, RET_TRACE):
        value |= (errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF
    return value


def filter_flags(sec) -> int:
    flags = 0
    for name in sec.flags:
        flags |= FLAGS[name]
    if flags & sc.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not sec.notifies:
        # The kernel refuses the flag without a listener; it means nothing then anyway.
        diag.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV dropped: no SCMP_ACT_NOTIFY")
        flags &= ~sc.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    return flags


def install_flags(program: Program) -> int:
    flags = program.flags
    if program.listener_path:
        flags |= sc.SECCOMP_FILTER_FLAG_NEW_LISTENER
        if flags & sc.SECCOMP_FILTER_FLAG_TSYNC:
            flags |= sc.SECCOMP_FILTER_FLAG_TSYNC_ESRCH  # else the kernel refuses the pair
    return flags


# ---- compiling -------------------------------------------------------------------------------

# /proc/sys/kernel/seccomp/actions_avail's words for each action
_KERNEL_ACTIONS = {
    "SCMP_ACT_KILL": "kill_thread", "SCMP_ACT_KILL_THREAD": "kill_thread",
    "SCMP_ACT_KILL_PROCESS": "kill_process", "SCMP_ACT_TRAP": "trap",
    "SCMP_ACT_ERRNO": "errno", "SCMP_ACT_TRACE": "trace", "SCMP_ACT_LOG": "log",
    "SCMP_ACT_ALLOW": "allow", "SCMP_ACT_NOTIFY": "user_notif",
}


def available_actions() -> list[str]:
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail") as f:
            have = set(f.read().split())
    except OSError:
        return []
    return [name for name, word in _KERNEL_ACTIONS.items() if word in have]


def arch_known(name: str) -> bool:
    from runtime import _seccomp
    return _seccomp.lib.seccomp_arch_resolve_name(_arch_word(name)) != 0


def _arch_word(name: str) -> bytes:
    return name[len("SCMP_ARCH_"):].lower().encode()  # SCMP_ARCH_X86_64 -> x86_64


def _check_actions(sec) -> None:
    have = set(available_actions())
    wanted = [("linux.seccomp.defaultAction", sec.default_action)] + [
        (f"linux.seccomp.syscalls[{i}].action", r.action) for i, r in enumerate(sec.syscalls)]
    for where, action in wanted:
        if action not in have:
            raise ConfigError(f"{where}: {action} is not supported by this kernel")

def compile_bpf(sec) -> bytes:
    """The whole program for a parsed linux.seccomp: the ENOSYS stub, then libseccomp's."""
    from runtime import _seccomp
    lib, ffi = _seccomp.lib, _seccomp.ffi

    _check_actions(sec)
    default = action_value(sec.default_action, sec.default_errno_ret)
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise ConfigError(f"linux.seccomp.defaultAction: {sec.default_action} is not "
                          "supported by this kernel or libseccomp")
    try:
        # A binary search over syscall numbers instead of a chain: fewer instructions for
        # every filtered syscall of the container, and a faster install of Docker's profile
        # (both measured when it was chosen; scripts/bench runtime-start has the install).
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        tokens = [lib.seccomp_arch_native()]
        for i, name in enumerate(sec.architectures):
            token = lib.seccomp_arch_resolve_name(_arch_word(name))
            if token == 0:
                raise ConfigError(f"linux.seccomp.architectures[{i}]: {name} is not known "
                                  "to this libseccomp")
            r = lib.seccomp_arch_add(ctx, token)
            if r < 0 and r != -errno.EEXIST:
                raise ConfigError(f"linux.seccomp.architectures[{i}]: {name}: "
                                  f"{os.strerror(-r)}")
            if token not in tokens:
                tokens.append(token)
        for i, rule in enumerate(sec.syscalls):
            where = f"linux.seccomp.syscalls[{i}]"
            act = action_value(rule.action, rule.errno_ret)
            if act == default:
                diag.debug(f"seccomp: {where} has the default action; skipped")
                continue
            conds = ffi.new("struct scmp_arg_cmp[]", max(1, len(rule.args)))
            for j, a in enumerate(rule.args):
                conds[j].arg, conds[j].op = a.index, OPERATORS[a.op]
                conds[j].datum_a, conds[j].datum_b = a.value, a.value_two
            # libseccomp ANDs the conditions of one rule, but cannot test one argument twice
            # in a rule: there, each condition becomes a rule of its own (OR), as runc does.
            indexes = [a.index for a in rule.args]
            groups = ([(conds + j, 1) for j in range(len(indexes))]
                      if len(set(indexes)) < len(indexes) else [(conds, len(indexes))])
            for name in rule.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: a newer kernel's syscall, or a typo
                    diag.debug(f"seccomp: {where}: syscall {name!r} unknown here; skipped")
                    continue
                for arr, n in groups:
                    r = lib.seccomp_rule_add_array(ctx, act, nr, n, arr)
                    if r < 0:
                        raise ConfigError(f"{where}: rule for {name}: {os.strerror(-r)}")
        fd = os.memfd_create("pyrun-seccomp", os.MFD_CLOEXEC)
        try:
            r = lib.seccomp_export_bpf(ctx, fd)
            if r < 0:
                raise SetupError(f"seccomp: exporting the filter: {os.strerror(-r)}")
            body = os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)
        if sec.default_action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG") or (
                sec.default_errno_ret == errno.ENOSYS):
            return body  # unknown syscalls pass, or get ENOSYS already
        names = {n for rule in sec.syscalls for n in rule.names}
        highest = {}
        for token in tokens:
            nrs = [lib.seccomp_syscall_resolve_name_arch(token, n.encode()) for n in names]
            top = max((nr for nr in nrs if nr >= 0), default=-1)
            if top >= 0:
                highest[token] = top
        return enosys_stub(highest) + body
    finally:
        lib.seccomp_release(ctx)


# Classic BPF, just the instructions the stub needs (linux/bpf_common.h).
_LD_W_ABS, _JEQ, _JGT, _JSET, _JA, _RET_K = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06


def _assemble(code: list) -> bytes:
    """[(op, jt, jf, k) or "label"] → bytes; jt/jf/k may name a label (forward only)."""
    import struct
    at, n = {}, 0
    for item in code:
        if isinstance(item, str):
            at[item] = n
        else:
            n += 1
    out, pc = [], 0
    for item in code:
        if isinstance(item, str):
            continue
        op, jt, jf, k = item
        if op == _JA and isinstance(k, str):
            k = at[k] - pc - 1
        jt = at[jt] - pc - 1 if isinstance(jt, str) else jt
        jf = at[jf] - pc - 1 if isinstance(jf, str) else jf
        assert 0 <= jt < 256 and 0 <= jf < 256
        out.append(struct.pack("=HBBI", op, jt, jf, k))
        pc += 1
    return b"".join(out)


def enosys_stub(highest: dict[int, int]) -> bytes:
    """Instructions that return ENOSYS for a syscall number above highest[arch token] and
    fall through to the program after them otherwise (or for an architecture not listed)."""
    x32 = highest.pop(SCMP_ARCH_X32, None)
    code: list = [(_LD_W_ABS, 0, 0, 4)]  # seccomp_data.arch
    for token in highest:
        code.append((_JEQ, f"arch{token}", 0, token))
    code.append((_JA, 0, 0, "filter"))
    for token, top in highest.items():
        code += [f"arch{token}", (_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
        if token == AUDIT_ARCH_X86_64:
            code.append((_JSET, "x32" if x32 is not None else "filter", 0, X32_SYSCALL_BIT))
        code += [(_JGT, "enosys", 0, top), (_JA, 0, 0, "filter")]
    if x32 is not None and AUDIT_ARCH_X86_64 in highest:
        code += ["x32", (_JGT, "enosys", 0, x32), (_JA, 0, 0, "filter")]
    code += ["enosys", (_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS), "filter"]
    return _assemble(code)


# ---- the cache -------------------------------------------------------------------------------

def cache_key(raw_section: dict) -> str:
    # _sha256, not hashlib: hashlib loads OpenSSL on every start.
    import _sha256
    u = os.uname()
    text = "\0".join((_FORMAT, u.release, u.machine, json.dumps_canonical(raw_section)))
    return _sha256.sha256(text.encode()).hexdigest()


def prepare(sec, raw_section: dict) -> Program:
    """The program for a linux.seccomp section, from the cache or compiled (and then kept)."""
    flags = filter_flags(sec)
    if flags and not sc.seccomp_flags_supported(flags):
        names = ", ".join(sec.flags)
        raise ConfigError(f"linux.seccomp.flags: this kernel does not support {names}")
    path = os.path.join(CACHE_DIR, cache_key(raw_section) + ".bpf")
    try:
        with open(path, "rb") as f:
            bpf = f.read()
    except OSError:
        bpf = compile_bpf(sec)
        _keep(path, bpf)
    return Program(bpf=bpf, flags=flags, listener_path=sec.listener_path,
                   listener_metadata=sec.listener_metadata)


def _keep(path: str, bpf: bytes) -> None:
    """Write the cache entry whole or not at all; a cache that cannot be written (a full or
    read-only /run) only costs the next start a compile."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(CACHE_DIR, 0o700, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(bpf)
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ---- on the container side ---------------------------------------------------------------------

def install(program: Program) -> int:
    """Install the filter on this (single-threaded) process; the listener fd, or 0."""
    try:
        return sc.seccomp_set_filter(install_flags(program), program.bpf)
    except OSError as e:
        raise SetupError(f"seccomp: loading the filter: {e}") from None


def send_listener(sock_fd: int, listener_fd: int, pid: int, state: dict,
                  metadata: str) -> None:
    """Hand the notification fd to the agent on listenerPath, as the runtime-spec's
    containerProcessState: the filtered process's pid and the container's state, one
    message, the fd as SCM_RIGHTS."""
    import socket
    msg = {"ociVersion": state.get("ociVersion", "1.0.2"), "fds": ["seccompFd"],
           "pid": pid, "metadata": metadata, "state": state}
    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [json.dumps(msg).encode()], [listener_fd])
    except OSError as e:
        raise SetupError(f"seccomp: sending the listener fd: {e}") from None
    finally:
        sock.close()
        os.close(listener_fd)
