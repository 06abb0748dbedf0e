"""pyrun's default seccomp profile, and seccomp profiles as Docker users write them.

A profile here is in Docker's format (what `--security-opt seccomp=FILE` takes): groups of
syscalls with an action, each group perhaps limited to some capabilities (`includes.caps`:
all of them held; `excludes.caps`: none held), architectures (Go's names: amd64, arm64, ...)
or kernel versions. to_oci() picks the groups that apply to one container and gives the OCI
`linux.seccomp` that pyrun-oci loads. The OCI form itself is accepted as a profile too.

The default policy is Docker's (tests/unit/test_seccomp_profile.py holds it to Docker's file
for several capability sets): everything an ordinary program needs is allowed; what reaches
past the container is refused with EPERM unless the capability that guards it is granted:
new namespaces and mounts (the usual first step of a container escape, and the way around
cgroup limits through a cgroup namespace), kernel keyrings (shared with the host), modules,
BPF, perf, ptrace of other processes, the clock, reboot. clone is allowed without namespace
flags; clone3 answers ENOSYS (its flags sit in memory that a filter cannot read), so libc
falls back to clone.
"""

from __future__ import annotations

import errno
import os

from runtime.errors import ConfigError

_FILES = """
    access faccessat faccessat2 open openat openat2 creat close close_range read readv
    pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2 lseek _llseek
    stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx statfs statfs64
    fstatfs fstatfs64 statmount listmount dup dup2 dup3 fcntl fcntl64 flock ioctl
    truncate truncate64 ftruncate ftruncate64 fallocate fadvise64 fadvise64_64 readahead
    fsync fdatasync sync syncfs sync_file_range cachestat copy_file_range splice tee
    vmsplice pipe pipe2 getcwd chdir fchdir getdents getdents64 mkdir mkdirat rmdir
    mknod mknodat link linkat symlink symlinkat readlink readlinkat unlink unlinkat rename
    renameat renameat2 chmod fchmod fchmodat fchmodat2 chown chown32 fchown fchown32
    fchownat lchown lchown32 utime utimes utimensat utimensat_time64 futimesat
    name_to_handle_at
"""
_XATTRS = """
    getxattr lgetxattr fgetxattr getxattrat setxattr lsetxattr fsetxattr setxattrat
    listxattr llistxattr flistxattr listxattrat removexattr lremovexattr fremovexattr
    removexattrat
"""
_PROCESSES = """
    fork vfork execve execveat exit exit_group wait4 waitid waitpid getpid getppid gettid
    set_tid_address get_robust_list set_robust_list rseq get_thread_area set_thread_area
    restart_syscall prctl seccomp pidfd_open process_mrelease uretprobe
    landlock_create_ruleset landlock_add_rule landlock_restrict_self
"""
_CREDENTIALS = """
    getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32 getresuid
    getresuid32 getresgid getresgid32 getgroups getgroups32 setuid setuid32 setgid
    setgid32 setreuid setreuid32 setregid setregid32 setresuid setresuid32 setresgid
    setresgid32 setfsuid setfsuid32 setfsgid setfsgid32 setgroups setgroups32 capget
    capset getsid setsid getpgid setpgid getpgrp umask
"""
_SIGNALS = """
    kill tkill tgkill pidfd_send_signal pause sigaltstack sigprocmask sigreturn
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_tgsigqueueinfo
    rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 signalfd signalfd4
"""
_MEMORY = """
    brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall
    munlock munlockall remap_file_pages membarrier memfd_create memfd_secret pkey_alloc
    pkey_free pkey_mprotect mseal map_shadow_stack
"""
_WAITING = """
    select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64 epoll_create
    epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait
    epoll_pwait2 eventfd eventfd2 futex futex_time64 futex_wait futex_wake futex_waitv
    futex_requeue inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
    fanotify_mark timerfd_create timerfd_settime timerfd_settime64 timerfd_gettime
    timerfd_gettime64
"""
_ASYNC_IO = """
    io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64
"""
_TIME = """
    time gettimeofday times clock_gettime clock_gettime64 clock_getres clock_getres_time64
    clock_nanosleep clock_nanosleep_time64 nanosleep alarm getitimer setitimer timer_create
    timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64 adjtimex clock_adjtime clock_adjtime64
"""
_NETWORK = """
    socketpair socketcall bind listen accept accept4 connect shutdown getsockname
    getpeername getsockopt setsockopt send sendto sendmsg sendmmsg recv recvfrom recvmsg
    recvmmsg recvmmsg_time64 sendfile sendfile64
"""
_IPC = """
    ipc msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl
    shmget shmat shmdt shmctl mq_open mq_unlink mq_timedsend mq_timedsend_time64
    mq_timedreceive mq_timedreceive_time64 mq_notify mq_getsetattr
"""
_SCHEDULING = """
    sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr
    sched_getparam sched_setparam sched_getscheduler sched_setscheduler
    sched_get_priority_max sched_get_priority_min sched_rr_get_interval
    sched_rr_get_interval_time64 getpriority setpriority ioprio_get ioprio_set getrlimit
    ugetrlimit setrlimit prlimit64 getrusage getcpu
"""
_SYSTEM = "uname sysinfo getrandom riscv_hwprobe"

# clone's namespace flags: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID |
# NEWNET. A clone with none of them is an ordinary fork or thread.
CLONE_NAMESPACE_FLAGS = 0x7E020000
# personality(2) domains ordinary programs use: Linux, with UNAME26, ADDR_NO_RANDOMIZE
# (setarch -R, gdb), both, and the query (0xffffffff). READ_IMPLIES_EXEC and the rest are out.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# socket(2) families: all but AF_ALG (the kernel's crypto API, a recurring source of kernel
# bugs) and AF_VSOCK (a way to the hypervisor's host).
AF_ALG, AF_VSOCK = 38, 40

_ALLOW = "SCMP_ACT_ALLOW"


def _group(names: str, **limits) -> dict:
    return {"names": names.split(), "action": _ALLOW, **limits}


def _arg(index: int, value: int, op: str) -> dict:
    return {"index": index, "value": value, "op": op}


def _with_cap(cap: str, names: str) -> dict:
    return _group(names, includes={"caps": [cap]})


DEFAULT_PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": errno.EPERM,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64",
         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]},
        {"architecture": "SCMP_ARCH_PPC64LE", "subArchitectures": []},
        {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": []},
    ],
    "syscalls": [
        _group(" ".join((_FILES, _XATTRS, _PROCESSES, _CREDENTIALS, _SIGNALS, _MEMORY,
                         _WAITING, _ASYNC_IO, _TIME, _NETWORK, _IPC, _SCHEDULING, _SYSTEM))),
        # Reading another process's memory was CAP_SYS_PTRACE-only before 4.8 closed the
        # seccomp bypass through ptrace.
        _group("ptrace process_vm_readv process_vm_writev", includes={"minKernel": "4.8"}),
        _group("socket", args=[_arg(0, AF_ALG, "SCMP_CMP_LT")]),
        _group("socket", args=[_arg(0, AF_ALG + 1, "SCMP_CMP_EQ")]),
        _group("socket", args=[_arg(0, AF_VSOCK, "SCMP_CMP_GT")]),
        *[_group("personality", args=[_arg(0, p, "SCMP_CMP_EQ")]) for p in PERSONALITIES],
        _group("arch_prctl", includes={"arches": ["amd64", "x32"]}),
        _group("modify_ldt", includes={"arches": ["amd64", "x32", "x86"]}),
        _group("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush "
               "set_tls", includes={"arches": ["arm", "arm64"]}),
        _group("sync_file_range2 swapcontext", includes={"arches": ["ppc64le"]}),
        _group("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
               includes={"arches": ["s390", "s390x"]}),
        _group("riscv_flush_icache", includes={"arches": ["riscv64"]}),
        # What each capability unlocks beyond the list above.
        _with_cap("CAP_SYS_ADMIN",
                  "clone clone3 unshare setns mount umount umount2 mount_setattr move_mount "
                  "open_tree fsopen fsconfig fsmount fspick sethostname setdomainname "
                  "quotactl quotactl_fd bpf perf_event_open fanotify_init lookup_dcookie "
                  "syslog lsm_get_self_attr lsm_set_self_attr lsm_list_modules"),
        _group("clone", args=[_arg(0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")],
               excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}),
        # s390 passes clone's flags second.
        _group("clone", args=[_arg(1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")],
               includes={"arches": ["s390", "s390x"]}, excludes={"caps": ["CAP_SYS_ADMIN"]}),
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        _with_cap("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        _with_cap("CAP_SYS_BOOT", "reboot"),
        _with_cap("CAP_SYS_CHROOT", "chroot"),
        _with_cap("CAP_SYS_MODULE", "init_module finit_module delete_module"),
        _with_cap("CAP_SYS_PACCT", "acct"),
        _with_cap("CAP_SYS_PTRACE", "ptrace process_vm_readv process_vm_writev kcmp "
                                    "pidfd_getfd process_madvise"),
        _with_cap("CAP_SYS_RAWIO", "iopl ioperm"),
        _with_cap("CAP_SYS_TIME", "settimeofday stime clock_settime clock_settime64"),
        _with_cap("CAP_SYS_TTY_CONFIG", "vhangup"),
        _with_cap("CAP_SYS_NICE", "get_mempolicy set_mempolicy set_mempolicy_home_node mbind"),
        _with_cap("CAP_SYSLOG", "syslog"),
        _with_cap("CAP_BPF", "bpf"),
        _with_cap("CAP_PERFMON", "perf_event_open"),
    ],
}

# uname -m → (the SCMP arch of Docker's archMap, Go's name for includes/excludes.arches)
_MACHINES = {
    "x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64"),
    "s390x": ("SCMP_ARCH_S390X", "s390x"), "ppc64le": ("SCMP_ARCH_PPC64LE", "ppc64le"),
    "riscv64": ("SCMP_ARCH_RISCV64", "riscv64"),
}


def _kernel(release: str) -> tuple[int, int]:
    parts = (release.split("-")[0].split(".") + ["0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return 0, 0


def to_oci(profile: dict, caps, machine: str | None = None,
           kernel: str | None = None) -> dict:
    """The OCI linux.seccomp for a container with these bounding capabilities
    ("CAP_..." names) on this machine and kernel."""
    u = os.uname()
    machine = machine or u.machine
    native, goarch = _MACHINES.get(machine, (None, machine))
    version = _kernel(kernel or u.release)
    caps = set(caps)
    out = {"defaultAction": profile["defaultAction"]}
    for key in ("defaultErrnoRet", "listenerPath", "listenerMetadata", "flags"):
        if profile.get(key) is not None:
            out[key] = profile[key]
    arches = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            arches = [native] + list(entry.get("subArchitectures") or [])
    if arches:
        out["architectures"] = arches
    rules = []
    for group in profile.get("syscalls") or []:
        inc, exc = group.get("includes") or {}, group.get("excludes") or {}
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if inc.get("caps") and not caps.issuperset(inc["caps"]):
            continue
        if inc.get("minKernel") and version < _kernel(inc["minKernel"]):
            continue
        if goarch in (exc.get("arches") or ()) or caps & set(exc.get("caps") or ()):
            continue
        if exc.get("minKernel") and version >= _kernel(exc["minKernel"]):
            continue
        names = list(group.get("names") or ([group["name"]] if group.get("name") else []))
        rule = {"names": names, "action": group["action"]}
        for key in ("errnoRet", "args"):
            if group.get(key) is not None:
                rule[key] = group[key]
        rules.append(rule)
    out["syscalls"] = rules
    return out


def load_file(path: str) -> dict:
    """A profile file (Docker's format or the OCI form), checked now so that a bad one is
    one line at `run`, not a failure at start."""
    from runtime import jsonfast as json
    from runtime.oci.spec import parse_seccomp
    try:
        with open(path, "rb") as f:
            profile = json.loads(f.read())
    except OSError as e:
        raise ConfigError(f"seccomp profile {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"seccomp profile {path}: not valid JSON: {e}") from None
    if not isinstance(profile, dict):
        raise ConfigError(f"seccomp profile {path}: must be a JSON object")
    for i, group in enumerate(profile.get("syscalls") or []):
        if isinstance(group, dict) and group.get("name") and not group.get("names"):
            group["names"] = [group["name"]]  # Docker's older spelling
    # Every field as the OCI parser sees it, with every group kept: its errors name the
    # field ("seccomp profile F: syscalls[3].action: unknown action ...").
    try:
        parse_seccomp(profile, where="")
    except ConfigError as e:
        raise ConfigError(f"seccomp profile {path}: {str(e).lstrip('.')}") from None
    return profile
