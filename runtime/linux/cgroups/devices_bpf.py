"""Device rules on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE.

cgroup v2 has no devices.allow file; the kernel asks a program attached to the cgroup for
every open or mknod of a device node. compile() turns OCI device rules into that program
(pure, so tests can run it through a small interpreter); attach() loads it and attaches it
to a cgroup directory, where it stays until the cgroup is removed.

The program reads struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor}, where
access_type is (access << 16) | type, then walks the rules from the last to the first: the
last rule that matches decides, and nothing matching means deny. An allow rule matches when
it covers every access asked for; a deny rule when it covers any of them.
"""

from __future__ import annotations

import os
import struct

DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
PROG_TYPE_CGROUP_DEVICE = 15
ATTACH_CGROUP_DEVICE = 6
F_ALLOW_MULTI = 2

# opcodes (class | op | source)
LDX_W = 0x61        # dst = *(u32 *)(src + off)
MOV64_X = 0xBF      # dst = src
MOV64_K = 0xB7      # dst = imm
AND64_K = 0x57      # dst &= imm
RSH64_K = 0x77      # dst >>= imm
JNE_K = 0x55        # if dst != imm: pc += off
JEQ_K = 0x15        # if dst == imm: pc += off
EXIT = 0x95


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> tuple:
    return (code, dst, src, off, imm)


def _access(text: str) -> int:
    return ((ACC_READ if "r" in text else 0) | (ACC_WRITE if "w" in text else 0) |
            (ACC_MKNOD if "m" in text else 0))


def _rule_block(rule: dict) -> list[tuple]:
    dtype = rule.get("type") or "a"
    major, minor = rule.get("major"), rule.get("minor")
    acc = _access(rule.get("access") or "rwm")
    checks: list[tuple] = []  # (insn, jumps-to-end?)
    if dtype in ("c", "b"):
        checks.append((insn(JNE_K, 2, imm=DEV_CHAR if dtype == "c" else DEV_BLOCK), True))
    checks.append((insn(MOV64_X, 6, 3), False))
    if rule.get("allow"):
        checks.append((insn(AND64_K, 6, imm=~acc & 0x7), False))
        checks.append((insn(JNE_K, 6, imm=0), True))   # asks for more than the rule allows
    else:
        checks.append((insn(AND64_K, 6, imm=acc), False))
        checks.append((insn(JEQ_K, 6, imm=0), True))   # asks for nothing the rule denies
    if major is not None and major != -1:
        checks.append((insn(JNE_K, 4, imm=major), True))
    if minor is not None and minor != -1:
        checks.append((insn(JNE_K, 5, imm=minor), True))
    tail = [insn(MOV64_K, 0, imm=1 if rule.get("allow") else 0), insn(EXIT)]
    n = len(checks) + len(tail)
    out = []
    for i, (ins, jumps) in enumerate(checks):
        if jumps:
            ins = (ins[0], ins[1], ins[2], n - i - 1, ins[4])  # to the next block
        out.append(ins)
    return out + tail


def compile(rules: list[dict]) -> list[tuple]:
    prog = [insn(LDX_W, 2, 1, 0), insn(MOV64_X, 3, 2), insn(AND64_K, 2, imm=0xFFFF),
            insn(RSH64_K, 3, imm=16), insn(LDX_W, 4, 1, 4), insn(LDX_W, 5, 1, 8)]
    for rule in reversed(rules):
        if rule.get("type") in ("p", "u"):
            continue  # pipes and unbuffered char devices: not device-cgroup matters
        prog += _rule_block(rule)
    return prog + [insn(MOV64_K, 0, imm=0), insn(EXIT)]


def encode(prog: list[tuple]) -> bytes:
    return b"".join(struct.pack("<BBhi", c, (s << 4) | d, off, imm if imm < 2 ** 31 else
                                imm - 2 ** 32) for c, d, s, off, imm in prog)


def run(prog: list[tuple], dtype: int, major: int, minor: int, access: int) -> int:
    """Interpret the program (the opcodes compile() uses) for one request: 1 allow, 0 deny."""
    ctx = struct.pack("<III", (access << 16) | dtype, major, minor)
    r = [0] * 11
    pc = 0
    while True:
        code, dst, src, off, imm = prog[pc]
        pc += 1
        if code == LDX_W:
            r[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == MOV64_X:
            r[dst] = r[src]
        elif code == MOV64_K:
            r[dst] = imm
        elif code == AND64_K:
            r[dst] &= imm & 0xFFFFFFFFFFFFFFFF
        elif code == RSH64_K:
            r[dst] >>= imm
        elif code == JNE_K:
            if r[dst] != imm:
                pc += off
        elif code == JEQ_K:
            if r[dst] == imm:
                pc += off
        elif code == EXIT:
            return r[0]
        else:
            raise ValueError(f"opcode {code:#x}")


def attach(cgroup_dir: str, rules: list[dict]) -> None:
    """Load the rules' program and attach it to the cgroup (it lives as long as the cgroup),
    in place of the one attached before (an update): the new one first, then the old ones
    detached, so that for a moment both apply (each may only deny) and never neither."""
    from runtime.linux import syscalls as sc
    prog_fd = sc.bpf_prog_load(PROG_TYPE_CGROUP_DEVICE, encode(compile(rules)), b"GPL\0",
                               ATTACH_CGROUP_DEVICE)
    try:
        dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            old = sc.bpf_prog_query(dir_fd, ATTACH_CGROUP_DEVICE)
            sc.bpf_prog_attach(dir_fd, prog_fd, ATTACH_CGROUP_DEVICE, F_ALLOW_MULTI)
            for prog_id in old:
                old_fd = sc.bpf_prog_get_fd_by_id(prog_id)
                try:
                    sc.bpf_prog_detach(dir_fd, old_fd, ATTACH_CGROUP_DEVICE)
                finally:
                    os.close(old_fd)
        finally:
            os.close(dir_fd)
    finally:
        os.close(prog_fd)
