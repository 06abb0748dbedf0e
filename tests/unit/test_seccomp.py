"""linux.seccomp: parsing, the compiled program (run through a small classic-BPF interpreter,
as the kernel would run it), the ENOSYS stub, the cache, and where the filter is loaded."""

from __future__ import annotations

import errno
import struct

import pytest

from runtime.errors import ConfigError
from runtime.linux import seccomp as sm
from runtime.oci.spec import parse_seccomp

X86_64, I386, X32 = 0xC000003E, 0x40000003, 0x4000003E
ALLOW, KILL_THREAD, KILL_PROCESS, TRAP, LOG = (sm.RET_ALLOW, sm.RET_KILL_THREAD,
                                               sm.RET_KILL_PROCESS, sm.RET_TRAP, sm.RET_LOG)
NR = {"read": 0, "write": 1, "getppid": 110, "personality": 135, "clone": 56,
      "clone3": 435, "socket": 41}
I386_NR = {"getppid": 64, "personality": 136}


def errno_ret(e: int) -> int:
    return sm.RET_ERRNO | e


def run_bpf(prog: bytes, nr: int, arch: int = X86_64, args=(0,) * 6) -> int:
    """Classic BPF as seccomp runs it, over struct seccomp_data; only what libseccomp and the
    stub emit (anything else fails the test)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    insns = [struct.unpack("=HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if code == 0x20:                        # ld [k]
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x00:                      # ld #k
            a = k
        elif code == 0x60:                      # ld M[k]
            a = mem[k]
        elif code == 0x02:                      # st M[k]
            mem[k] = a
        elif code == 0x61:                      # ldx M[k]
            x = mem[k]
        elif code == 0x54:                      # and #k
            a &= k
        elif code == 0x05:                      # ja k
            pc += k
        elif cls == 0x05:                       # conditional jumps against k or x
            operand = x if code & 0x08 else k
            op = code & 0xF0
            cond = {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand,
                    0x40: bool(a & operand)}[op]
            pc += jt if cond else jf
        elif code == 0x06:                      # ret #k
            return k
        elif code == 0x16:                      # ret a
            return a
        else:
            raise AssertionError(f"opcode {code:#x} not interpreted")


def compiled(section: dict) -> bytes:
    return sm.compile_bpf(parse_seccomp(section))


ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


# ---- parsing -------------------------------------------------------------------------------

@pytest.mark.parametrize("section,where", [
    ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction: unknown action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]},
     "linux.seccomp.syscalls[0].names: must list at least one syscall"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SAME"}]}]},
     "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_SAME'"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "linux.seccomp.syscalls[0].args[0].index: must be a syscall argument index 0-5"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]},
     "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_Z80'"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_FAST"]},
     "linux.seccomp.flags[0]: unknown flag"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"},
     "linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a listener socket"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5},
     "linux.seccomp.defaultErrnoRet: only meaningful with defaultAction SCMP_ACT_ERRNO"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]},
     "linux.seccomp.syscalls[0].errnoRet: must be an unsigned 16-bit integer"),
])
def test_bad_sections_name_their_field(section, where):
    with pytest.raises(ConfigError, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_seccomp(section)


def test_the_whole_section_parses():
    sec = parse_seccomp({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ARCHES,
        "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "/run/agent.sock",
        "listenerMetadata": "m", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_NOTIFY",
             "args": [{"index": 1, "value": 3, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]}]})
    assert sec.notifies and sec.default_errno_ret == 38 and sec.listener_metadata == "m"
    assert sec.syscalls[0].args[0].value_two == 1


# ---- the program ---------------------------------------------------------------------------

def test_errno_rules_and_the_default():
    prog = compiled({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EACCES,
                     "architectures": ARCHES, "syscalls": [
                         {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77},
                         {"names": ["personality"], "action": "SCMP_ACT_ERRNO"}]})
    assert run_bpf(prog, NR["read"]) == ALLOW
    assert run_bpf(prog, NR["getppid"]) == errno_ret(77)
    assert run_bpf(prog, NR["personality"]) == errno_ret(errno.EPERM)  # no errnoRet: EPERM
    assert run_bpf(prog, NR["socket"]) == errno_ret(errno.EACCES)      # the default
    assert run_bpf(prog, I386_NR["getppid"], I386) == errno_ret(77)    # the companion arch


@pytest.mark.parametrize("action,ret", [
    ("SCMP_ACT_KILL", KILL_THREAD), ("SCMP_ACT_KILL_THREAD", KILL_THREAD),
    ("SCMP_ACT_KILL_PROCESS", KILL_PROCESS), ("SCMP_ACT_TRAP", TRAP), ("SCMP_ACT_LOG", LOG),
    ("SCMP_ACT_TRACE", sm.RET_TRACE | errno.EPERM), ("SCMP_ACT_NOTIFY", sm.RET_USER_NOTIF),
])
def test_every_action(action, ret):
    prog = compiled({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                     "syscalls": [{"names": ["getppid"], "action": action}]})
    assert run_bpf(prog, NR["getppid"]) == ret
    assert run_bpf(prog, NR["read"]) == ALLOW


@pytest.mark.parametrize("op,value,two,hits,misses", [
    ("SCMP_CMP_EQ", 8, 0, [8], [0, 9]),
    ("SCMP_CMP_NE", 8, 0, [0, 9], [8]),
    ("SCMP_CMP_LT", 8, 0, [0, 7], [8, 9]),
    ("SCMP_CMP_LE", 8, 0, [7, 8], [9]),
    ("SCMP_CMP_GT", 8, 0, [9, 1 << 40], [8, 0]),
    ("SCMP_CMP_GE", 8, 0, [8, 9], [7]),
    ("SCMP_CMP_MASKED_EQ", 0x0F, 0x03, [0x03, 0x13], [0x04, 0x0F]),
])
def test_every_operator(op, value, two, hits, misses):
    prog = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
         "args": [{"index": 0, "value": value, "valueTwo": two, "op": op}]}]})
    for v in hits:
        assert run_bpf(prog, NR["personality"], args=(v,)) == errno_ret(99), v
    for v in misses:
        assert run_bpf(prog, NR["personality"], args=(v,)) == ALLOW, v


def test_conditions_on_two_arguments_and_twice_on_one():
    both = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}]})
    assert run_bpf(both, NR["socket"], args=(2, 3)) == errno_ret(97)   # AND
    assert run_bpf(both, NR["socket"], args=(2, 1)) == ALLOW
    either = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]}]})
    assert run_bpf(either, NR["socket"], args=(2,)) == errno_ret(97)   # one argument: OR
    assert run_bpf(either, NR["socket"], args=(10,)) == errno_ret(97)
    assert run_bpf(either, NR["socket"], args=(1,)) == ALLOW


def test_several_rules_for_one_syscall():
    prog = compiled({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}]} for p in (0, 8)]})
    assert run_bpf(prog, NR["personality"], args=(0,)) == ALLOW
    assert run_bpf(prog, NR["personality"], args=(8,)) == ALLOW
    assert run_bpf(prog, NR["personality"], args=(0x400000,)) == errno_ret(errno.EPERM)


def test_unknown_names_are_skipped():
    prog = compiled({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["pyrun_not_a_syscall", "read"], "action": "SCMP_ACT_ALLOW"}]})
    assert run_bpf(prog, NR["read"]) == ALLOW


def test_newer_syscalls_get_enosys_older_ones_the_default():
    """runc's rule: above the highest number the profile names, ENOSYS (glibc then falls
    back, e.g. from clone3 to clone); at or below it, the default action."""
    prog = compiled({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ARCHES,
                     "syscalls": [{"names": ["read", "personality"],
                                   "action": "SCMP_ACT_ALLOW"}]})
    enosys, eperm = errno_ret(errno.ENOSYS), errno_ret(errno.EPERM)
    assert run_bpf(prog, NR["personality"]) == ALLOW
    assert run_bpf(prog, NR["getppid"]) == eperm         # 110 < 135: known, not allowed
    assert run_bpf(prog, NR["clone3"]) == enosys         # 435 > 135
    assert run_bpf(prog, 136, I386) == ALLOW             # i386's personality
    assert run_bpf(prog, 137, I386) == enosys
    x32_personality = 0x40000000 | 135
    assert run_bpf(prog, x32_personality, X86_64) == ALLOW   # x32 rides on x86_64's arch
    assert run_bpf(prog, 0x40000000 | 436, X86_64) == enosys
    allow_default = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]})
    assert run_bpf(allow_default, NR["clone3"]) == ALLOW  # no stub where all else is allowed


def test_docker_profile_compiles_with_the_stub():
    from runtime.engine.config import DEFAULT_CAPS
    from runtime.engine.seccomp_profile import DEFAULT_PROFILE, to_oci
    prog = compiled(to_oci(DEFAULT_PROFILE, DEFAULT_CAPS, machine="x86_64"))
    assert 500 < len(prog) // 8 < 4096
    assert run_bpf(prog, NR["read"]) == ALLOW
    assert run_bpf(prog, NR["clone3"]) == errno_ret(errno.ENOSYS)
    assert run_bpf(prog, 272) == errno_ret(errno.EPERM)          # unshare
    assert run_bpf(prog, 1000) == errno_ret(errno.ENOSYS)        # a future syscall
    assert run_bpf(prog, NR["clone"], args=(0x10000000,)) == errno_ret(errno.EPERM)
    assert run_bpf(prog, NR["clone"], args=(0x11,)) == ALLOW     # fork: SIGCHLD only
    assert run_bpf(prog, NR["personality"], args=(0x400000,)) == errno_ret(errno.EPERM)


# ---- the cache -----------------------------------------------------------------------------

def test_programs_are_compiled_once_per_profile(tmp_path, monkeypatch):
    monkeypatch.setattr(sm, "CACHE_DIR", str(tmp_path / "cache"))
    compiles = []
    real = sm.compile_bpf
    monkeypatch.setattr(sm, "compile_bpf", lambda sec: compiles.append(1) or real(sec))
    section = {"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    first = sm.prepare(parse_seccomp(section), section)
    again = sm.prepare(parse_seccomp(section), section)
    assert compiles == [1] and first.bpf == again.bpf
    other = dict(section, defaultErrnoRet=5)
    sm.prepare(parse_seccomp(other), other)
    assert compiles == [1, 1]
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".bpf", ".bpf"]


def test_an_unwritable_cache_only_costs_a_compile(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(sm, "CACHE_DIR", str(blocker / "cache"))  # cannot be made
    section = {"defaultAction": "SCMP_ACT_ALLOW"}
    assert sm.prepare(parse_seccomp(section), section).bpf


def test_flags_and_the_listener_flags():
    sec = parse_seccomp({"defaultAction": "SCMP_ACT_ALLOW",
                         "flags": ["SECCOMP_FILTER_FLAG_TSYNC",
                                   "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})
    from runtime.linux import syscalls as sc
    assert sm.filter_flags(sec) == sc.SECCOMP_FILTER_FLAG_TSYNC  # no listener: dropped
    program = sm.Program(bpf=b"", flags=sc.SECCOMP_FILTER_FLAG_TSYNC, listener_path="/x")
    assert sm.install_flags(program) == (sc.SECCOMP_FILTER_FLAG_TSYNC |
                                         sc.SECCOMP_FILTER_FLAG_NEW_LISTENER |
                                         sc.SECCOMP_FILTER_FLAG_TSYNC_ESRCH)


# ---- where the filter is loaded ------------------------------------------------------------

@pytest.mark.parametrize("nnp,caps,first", [
    (True, ["CAP_KILL"], "capabilities"),          # no_new_privs: last, right before exec
    (False, ["CAP_KILL"], "seccomp"),              # else CAP_SYS_ADMIN is needed: before
    (False, ["CAP_SYS_ADMIN"], "capabilities"),    # ...unless the program keeps it
])
def test_the_filter_goes_last_unless_it_needs_the_capability(monkeypatch, nnp, caps, first):
    from runtime.linux import capabilities
    from runtime.oci import process as pr
    from runtime.oci.spec import parse_process
    order = []
    monkeypatch.setattr(capabilities, "apply", lambda *a: order.append("capabilities"))
    monkeypatch.setattr(capabilities, "set_no_new_privs", lambda: order.append("nnp"))
    monkeypatch.setattr(pr, "install_seccomp", lambda p, n: order.append("seccomp"))
    monkeypatch.setattr(pr, "seal_fds", lambda n: order.append("seal"))

    def execve(*a):
        order.append("execve")
        raise OSError(errno.ENOENT, "stop")
    monkeypatch.setattr(pr.os, "execve", execve)
    monkeypatch.setattr(pr, "enter_cwd", lambda cwd: None)
    monkeypatch.setattr(pr, "lookup", lambda a, e: "/bin/true")
    monkeypatch.setattr(pr, "refuse_runtime_binary", lambda p: None)
    monkeypatch.setattr(pr.os, "umask", lambda m: 0)
    proc = parse_process({"args": ["true"], "noNewPrivileges": nnp,
                          "capabilities": {k: caps for k in ("bounding", "effective",
                                                             "permitted")}})
    with pytest.raises(pr.ExecError):
        pr.finish_and_exec(proc, seccomp=sm.Program(bpf=b"x" * 8))
    assert order[-1] == "execve"
    if first == "seccomp":
        assert order.index("seccomp") < order.index("capabilities")
    else:
        assert order[-2] == "seccomp"
