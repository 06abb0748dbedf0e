"""What root inside a container can and cannot do: seccomp (every action, conditions, the
listener), the session keyring, the device and mount holes, through pyrun-oci and through
`pyrun run`. A static probe (probe.c) makes the calls and prints one line per probe."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading

import pytest

from runtime.engine.config import DEFAULT_CAPS
from runtime.engine.seccomp_profile import DEFAULT_PROFILE, to_oci
from tests.conftest import PROJECT
from tests.integration.conftest import imported, launched
from tests.integration.test_build import busybox, context, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture

SIGSYS_EXIT = 128 + 31


@pytest.fixture(scope="session")
def probe():
    d = tempfile.mkdtemp(prefix="pyrun-test-probe-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "probe")
    subprocess.run(["gcc", "-static", "-O1", "-o", path,
                    str(PROJECT / "tests" / "integration" / "probe.c")], check=True)
    yield path
    shutil.rmtree(d, ignore_errors=True)


def lines(text: str) -> dict:
    """"name result..." lines → {name: result}."""
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


def with_probe(bundle, probe, args, seccomp=None, caps=None):
    spec = bundle.spec
    spec["mounts"].append({"destination": "/probe", "type": "bind", "source": probe,
                           "options": ["rbind", "ro"]})
    if caps is not None:
        spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                            "permitted")}
    if seccomp is not None:
        spec["linux"]["seccomp"] = seccomp
    spec["process"]["args"] = ["/probe", *args]
    (bundle.path / "config.json").write_text(json.dumps(spec))


def docker_default(bundle) -> dict:
    return to_oci(DEFAULT_PROFILE, bundle.spec["process"]["capabilities"]["bounding"])


TABLE = ["status", "userns", "keyctl", "add_key", "perf", "userfaultfd", "personality",
         "clone3", "newsyscall", "getppid", "mountproc"]


# ---- pyrun-oci ---------------------------------------------------------------------------------

@pytest.mark.vm
def test_the_default_profile_closes_what_dockers_closes(oci, bundle, cid, probe):
    with_probe(bundle, probe, TABLE, seccomp=docker_default(bundle))
    p = oci("run", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode == 0, p.stderr
    assert lines(p.stdout) == {
        "seccomp": "2", "userns": "EPERM", "keyctl": "EPERM", "add_key": "EPERM",
        "perf": "EPERM", "userfaultfd": "EPERM", "personality": "EPERM",
        "clone3": "ENOSYS",       # not EPERM: libc falls back to clone
        "newsyscall": "ENOSYS",   # newer than the profile: ENOSYS, not the default EPERM
        "getppid": "ok", "mountproc": "EPERM"}


@pytest.mark.parametrize("action,extra,probes,code,want", [
    ("SCMP_ACT_ERRNO", {"errnoRet": 77}, ["getppid"], 0, {"getppid": "errno77"}),
    ("SCMP_ACT_ERRNO", {}, ["getppid"], 0, {"getppid": "EPERM"}),
    ("SCMP_ACT_KILL", {}, ["trap-getppid"], SIGSYS_EXIT, {}),
    ("SCMP_ACT_KILL_THREAD", {}, ["trap-getppid"], SIGSYS_EXIT, {}),
    ("SCMP_ACT_KILL_PROCESS", {}, ["trap-getppid"], SIGSYS_EXIT, {}),
    ("SCMP_ACT_TRAP", {}, ["trap-getppid"], 0, {"sigsys": "caught"}),
    ("SCMP_ACT_LOG", {}, ["getppid"], 0, {"getppid": "ok"}),
    ("SCMP_ACT_TRACE", {}, ["getppid"], 0, {"getppid": "ENOSYS"}),  # no tracer attached
])
def test_each_action(oci, bundle, cid, probe, action, extra, probes, code, want):
    with_probe(bundle, probe, ["status"] + probes, seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": action, **extra}]})
    p = oci("run", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode == code, p.stdout + p.stderr
    assert lines(p.stdout) == {"seccomp": "2", **want}


def test_argument_conditions_and_flags(oci, bundle, cid, probe):
    # personality(READ_IMPLIES_EXEC = 0x400000): refused by a masked test of its bit, with
    # LOG, SPEC_ALLOW and TSYNC set, and a name no kernel has in the same profile.
    with_probe(bundle, probe, ["status", "personality", "getppid"], seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                  "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
             "args": [{"index": 0, "value": 0x400000, "valueTwo": 0x400000,
                       "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["pyrun_no_such_syscall", "getppid"], "action": "SCMP_ACT_ERRNO",
             "errnoRet": 98}]})
    p = oci("run", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode == 0, p.stderr
    assert lines(p.stdout) == {"seccomp": "2", "personality": "errno99", "getppid": "errno98"}


def test_exec_gets_the_containers_filter(oci, bundle, cid, probe):
    with_probe(bundle, probe, ["sleep=60"], seccomp=docker_default(bundle))
    oci("create", "--bundle", str(bundle.path), cid)
    oci("start", cid)
    p = oci("exec", cid, "/probe", "status", "userns", "getppid")
    assert lines(p.stdout) == {"seccomp": "2", "userns": "EPERM", "getppid": "ok"}
    oci("kill", cid, "KILL")


SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)


class Agent:
    """A seccomp agent on listenerPath: for each connection, takes the fd and the state,
    then answers every notification with `value` as the syscall's result."""

    def __init__(self, path: str, value: int):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.value, self.states, self.answered = value, [], 0
        self.threads = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            conn.close()
            self.states.append(json.loads(msg))
            t = threading.Thread(target=self.serve, args=fds, daemon=True)
            self.threads.append(t)
            t.start()

    def serve(self, fd):
        import fcntl
        try:
            while True:
                notif = bytearray(80)
                try:
                    fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, notif, True)
                except OSError:
                    return  # the container is gone
                (nid,) = struct.unpack_from("<Q", notif, 0)
                resp = bytearray(struct.pack("<QqiI", nid, self.value, 0, 0))
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp, True)
                self.answered += 1
        finally:
            os.close(fd)

    def close(self):
        self.sock.close()


def test_notify_hands_the_listener_to_the_agent(oci, bundle, cid, probe, tmp_path):
    agent = Agent(str(tmp_path / "agent.sock"), 4242)
    try:
        with_probe(bundle, probe, ["ppid", "status"], seccomp={
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "agent.sock"),
            "listenerMetadata": "pyrun-test-metadata",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})
        p = oci("run", "--bundle", str(bundle.path), cid, check=False)
        assert p.returncode == 0, p.stderr
        assert lines(p.stdout) == {"ppid": "4242", "seccomp": "2"}  # the agent's answer
        for t in agent.threads:
            t.join(5)
        (st,) = agent.states
        assert st["fds"] == ["seccompFd"] and st["metadata"] == "pyrun-test-metadata"
        assert st["state"]["id"] == cid and st["state"]["bundle"] == str(bundle.path)
        assert st["pid"] == st["state"]["pid"] > 1 and agent.answered == 1
    finally:
        agent.close()


def test_notify_for_an_exec_process(oci, bundle, cid, probe, tmp_path):
    agent = Agent(str(tmp_path / "agent.sock"), 4343)
    try:
        with_probe(bundle, probe, ["sleep=60"], seccomp={
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(tmp_path / "agent.sock"),
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})
        oci("create", "--bundle", str(bundle.path), cid)
        oci("start", cid)
        init_pid = oci.state(cid)["pid"]
        p = oci("exec", cid, "/probe", "ppid")
        assert p.stdout == "ppid 4343\n"
        oci("kill", cid, "KILL")
        assert len(agent.states) == 2  # one listener for the init, one for the exec
        init, exe = agent.states
        assert init["pid"] == init["state"]["pid"] == init_pid
        assert exe["state"]["pid"] == init_pid and exe["pid"] not in (init_pid, 0)
    finally:
        agent.close()


@pytest.mark.parametrize("seccomp,message", [
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_MAYBE"}]},
     "linux.seccomp.syscalls[0].action: unknown action 'SCMP_ACT_MAYBE'"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a listener socket"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/pyrun-test-no-agent.sock",
      "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]},
     "seccomp listener /run/pyrun-test-no-agent.sock: No such file or directory"),
])
def test_bad_seccomp_fails_create_in_one_line(oci, bundle, cid, probe, seccomp, message):
    with_probe(bundle, probe, ["status"], seccomp=seccomp)
    p = oci("create", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr
    assert oci.ids() == []


def add_user_key(payload: bytes) -> int:
    """A key in the host root's user keyring, as a host secret would be."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    serial = libc.syscall(248, b"user", b"pyrun-test-secret", payload, len(payload),
                          ctypes.c_int(-4))  # add_key(..., KEY_SPEC_USER_KEYRING)
    assert serial > 0, os.strerror(ctypes.get_errno())
    return serial


def remove_key(serial: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(250, 21, serial)  # keyctl(KEYCTL_INVALIDATE, serial)


@pytest.fixture
def host_key():
    serial = add_user_key(b"pyrun-host-secret")
    yield serial
    remove_key(serial)


@pytest.mark.vm
def test_a_session_keyring_of_its_own(oci, bundle, cid, probe, host_key):
    # No seccomp here: the keyring alone keeps the host's key out of reach.
    with_probe(bundle, probe, ["session", f"readkey={host_key}"])
    p = oci("run", "--bundle", str(bundle.path), cid, check=False)
    assert lines(p.stdout)["session"].endswith(f";_ses.{cid}"), p.stdout + p.stderr
    assert lines(p.stdout)["readkey"] == "EACCES"
    p = oci("run", "--no-new-keyring", "--bundle", str(bundle.path), cid + "-old", check=False)
    assert lines(p.stdout)["session"] == own_session_keyring()  # what --no-new-keyring keeps


def own_session_keyring() -> str:
    """keyctl describe @s of this process: "keyring;UID;GID;PERM;NAME"."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(256)
    assert libc.syscall(250, 6, ctypes.c_int(-3), buf, 255) > 0  # KEYCTL_DESCRIBE, @s
    return buf.value.decode()


@pytest.fixture
def own_rootfs(busybox_rootfs, tmp_path):
    """A writable copy of the busybox rootfs, for tests that plant things in it."""
    d = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, d, symlinks=True)
    return d


@pytest.mark.parametrize("path", ["proc", "sys"])
def test_a_symlinked_proc_or_sys_is_refused(oci, bundle, cid, own_rootfs, path):
    shutil.rmtree(own_rootfs / path)
    (own_rootfs / "pyrun-elsewhere").mkdir()
    os.symlink("/pyrun-elsewhere", own_rootfs / path)
    bundle.spec["root"]["path"] = str(own_rootfs)
    p = oci("run", "--bundle", bundle.write(args=["true"]), cid, check=False)
    assert p.returncode != 0
    assert f"mount /{path}: " in p.stderr and "must be mounted on an ordinary directory" \
        in p.stderr, p.stderr
    assert os.listdir(own_rootfs / "pyrun-elsewhere") == []  # nothing was mounted there


@pytest.mark.parametrize("no_pivot", [False, True], ids=["pivot_root", "no-pivot"])
def test_no_procfs_to_mount_from_a_user_namespace(oci, bundle, cid, probe, no_pivot):
    # Unconfined, a process may make a user namespace; in it the kernel lets procfs be
    # mounted only if a fully visible one is in the mount namespace: with --no-pivot the
    # host's stayed there until pyrun-oci removed it.
    with_probe(bundle, probe, ["status", "userns", "mountproc"])
    args = ["run", "--no-pivot"] if no_pivot else ["run"]
    p = oci(*args, "--bundle", str(bundle.path), cid, check=False)
    assert lines(p.stdout) == {"seccomp": "0", "userns": "ok", "mountproc": "EPERM"}, \
        p.stdout + p.stderr


# ---- pyrun run -------------------------------------------------------------------------------

def run_probe(engine, probe, *args, opts=()):  # noqa: F811
    return engine("run", "--rm", "--network", "none", "-v", f"{probe}:/probe:ro", *opts,
                  "busybox", "/probe", *args, check=False)


@pytest.mark.vm
def test_a_default_container(engine, probe, host_key):  # noqa: F811
    p = run_probe(engine, probe, *TABLE, f"readkey={host_key}")
    assert lines(p.stdout) == {
        "seccomp": "2", "userns": "EPERM", "keyctl": "EPERM", "add_key": "EPERM",
        "perf": "EPERM", "userfaultfd": "EPERM", "personality": "EPERM", "clone3": "ENOSYS",
        "newsyscall": "ENOSYS", "getppid": "ok", "mountproc": "EPERM", "readkey": "EPERM"}


def test_unconfined_shows_what_the_filter_changed(engine, probe):  # noqa: F811
    p = run_probe(engine, probe, "status", "userns", "keyctl", "personality", "clone3",
                  "session", opts=["--security-opt", "seccomp=unconfined"])
    got = lines(p.stdout)
    assert got.pop("session").split(";")[-1].startswith("_ses.")  # still a keyring of its own
    assert got == {"seccomp": "0", "userns": "ok", "keyctl": "ok", "personality": "ok",
                   "clone3": "EINVAL"}
    p = run_probe(engine, probe, "status", "userns", opts=["--privileged"])
    assert lines(p.stdout) == {"seccomp": "0", "userns": "ok"}


def test_capabilities_open_their_syscalls(engine, probe):  # noqa: F811
    p = run_probe(engine, probe, "status", "userns", "keyctl", "clone3",
                  opts=["--cap-add", "SYS_ADMIN"])
    assert lines(p.stdout) == {"seccomp": "2", "userns": "ok", "keyctl": "EPERM",
                               "clone3": "EINVAL"}


@pytest.mark.vm
def test_limits_cannot_be_lifted(engine, probe):  # noqa: F811
    # The escape of the issue: a user and cgroup namespace of its own, the hierarchy
    # mounted again, the limit raised. Refused at the first step; the hog is OOM-killed.
    p = run_probe(engine, probe, "lift-memory", "hog=300", opts=["-m", "64m"])
    assert p.stdout.splitlines() == ["lift-memory unshare EPERM"]
    assert p.returncode == 137, p.stderr
    p = run_probe(engine, probe, "lift-pids", opts=["--pids-limit", "50"])
    assert p.stdout.splitlines() == ["lift-pids unshare EPERM"]


@pytest.mark.vm
def test_a_container_reads_its_limits_and_cannot_change_them(engine):  # noqa: F811
    """/sys/fs/cgroup is the container's own cgroup, read-only, as Docker's default: where
    the JVM, Go's automaxprocs and nginx's worker_processes auto read their limits."""
    script = ("if [ -f /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max "
              "/sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max; f=/sys/fs/cgroup/memory.max; "
              "else cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
              "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; "
              "f=/sys/fs/cgroup/memory/memory.limit_in_bytes; fi; "
              "echo 1000000000 > $f || echo refused")
    p = engine("run", "--rm", "--network", "none", "-m", "48m", "--cpus", "0.5",
               "--pids-limit", "40", "busybox", "sh", "-c", script, check=False)
    assert p.stdout.split()[:1] == [str(48 << 20)]
    assert p.stdout.split()[1:] in (["50000", "40", "refused"],  # v1: the quota alone
                                    ["50000", "100000", "40", "refused"])  # v2: "quota period"
    assert "Read-only file system" in p.stderr


@pytest.mark.vm
def test_a_device_directory_lets_its_nodes_through_and_no_more(engine, tmp_path):  # noqa: F811
    # `--device /dev/snd` as Docker's: each node beneath the directory, at its place under
    # the container's path, through the cgroup with the permissions given and no others
    devs = tmp_path / "pyrun-devs"
    (devs / "sub").mkdir(parents=True)
    os.mknod(devs / "ctl", 0o20666, os.makedev(10, 237))  # loop-control: not in the default set
    os.mknod(devs / "sub" / "zero", 0o20666, os.makedev(1, 5))
    (devs / "notes").write_text("not a node\n")
    p = engine("run", "--rm", "--network", "none", "--device", f"{devs}:/dev/x:r", "busybox",
               "sh", "-c", "find /dev/x | sort; head -c 3 /dev/x/sub/zero | wc -c; "
               "exec 3< /dev/x/ctl && echo read; (exec 4> /dev/x/ctl) 2>/dev/null || "
               "echo no-write")
    assert p.stdout.split() == ["/dev/x", "/dev/x/ctl", "/dev/x/sub", "/dev/x/sub/zero", "3",
                                "read", "no-write"]
    p = engine("run", "--rm", "--network", "none", "--device", f"{devs}/sub/..x", "busybox",
               "true", check=False)
    assert p.returncode == 125 and "error gathering device information" in p.stderr


@pytest.mark.vm
def test_another_containers_pid_and_ipc_are_joined_when_asked(engine):  # noqa: F811
    """--pid/--ipc container:NAME, as Docker's: the donor's processes, its IPC namespace and
    its /dev/shm; a donor's IPC only where it was made shareable (Docker's default is
    private), and only while it runs."""
    engine("run", "-d", "--network", "none", "--name", "pyrun-t-donor", "--ipc", "shareable",
           "busybox", "sh", "-c", "echo shared > /dev/shm/mark; exec sleep 60")
    (donor,) = json.loads(engine("inspect", "pyrun-t-donor").stdout)
    ipc_ns = os.readlink(f"/proc/{donor['State']['Pid']}/ns/ipc")
    out = engine("run", "--rm", "--network", "none", "--pid", "container:pyrun-t-donor",
                 "--ipc", "container:pyrun-t-donor", "busybox", "sh", "-c",
                 "ps -o args | grep -c '^sleep 60'; cat /dev/shm/mark; readlink /proc/self/ns/ipc"
                 ).stdout.split()
    assert out == ["1", "shared", ipc_ns]
    engine("run", "-d", "--network", "none", "--name", "pyrun-t-private", "busybox", "sleep",
           "60")
    p = engine("run", "--rm", "--network", "none", "--ipc", "container:pyrun-t-private",
               "busybox", "true", check=False)
    assert p.returncode == 125 and "non-shareable IPC" in p.stderr
    assert engine("run", "--rm", "--network", "none", "--pid", "container:pyrun-t-private",
                  "busybox", "sh", "-c", "ps -o args | grep -c '^sleep 60'").stdout == "1\n"
    engine("stop", "-t", "0", "pyrun-t-private")
    p = engine("run", "--rm", "--network", "none", "--pid", "container:pyrun-t-private",
               "busybox", "true", check=False)
    assert p.returncode == 125 and "cannot join PID of a non running container" in p.stderr


def a_whole_disk() -> str:
    """A block device the IO controller takes limits for: a disk, not a partition."""
    for name in sorted(os.listdir("/sys/block")):
        if os.path.exists(f"/sys/block/{name}/device") and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    pytest.skip("no disk in /sys/block to limit")


@pytest.mark.vm
def test_block_device_limits_reach_the_cgroup(engine):  # noqa: F811
    disk = a_whole_disk()
    st = os.stat(disk)
    dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    p = engine("run", "--rm", "--network", "none", "--device-read-bps", f"{disk}:1mb",
               "--device-write-iops", f"{disk}:300", "busybox", "sh", "-c",
               "cd /sys/fs/cgroup; cat blkio/blkio.throttle.read_bps_device "
               "blkio/blkio.throttle.write_iops_device 2>/dev/null || grep ^" + dev +
               " io.max")
    assert p.stdout.split() in ([dev, "1048576", dev, "300"],  # v1: a file each
                                [dev, "rbps=1048576", "wbps=max", "riops=max", "wiops=300"])
    p = engine("run", "--rm", "--device-read-bps", "/dev/null:1mb", "busybox", "true",
               check=False)
    assert p.returncode == 125 and "not a block device" in p.stderr


def test_profile_files_and_security_opts(engine, probe, tmp_path):  # noqa: F811
    profile = tmp_path / "pyrun-profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]}))
    p = engine("create", "--name", "pyrun-sec", "-v", f"{probe}:/probe:ro",
               "--security-opt", f"seccomp={profile}", "--security-opt", "no-new-privileges",
               "busybox", "sh", "-c", "/probe status getppid userns; "
               "grep NoNewPrivs /proc/self/status")
    profile.unlink()  # read at create: the container does not need the file again
    (hc,) = json.loads(engine("container", "inspect", "pyrun-sec").stdout)
    assert hc["HostConfig"]["SecurityOpt"] == [f"seccomp={profile}", "no-new-privileges"]
    engine("start", "pyrun-sec")
    assert engine("wait", "pyrun-sec").stdout.strip() == "0"
    p = engine("logs", "pyrun-sec")
    out = p.stdout.splitlines()
    assert out[:3] == ["seccomp 2", "getppid errno77", "userns ok"], p.stdout + p.stderr
    assert out[3].split() == ["NoNewPrivs:", "1"]


@pytest.mark.parametrize("opt,message", [
    ("seccomp=/nonexistent/pyrun.json", "seccomp profile /nonexistent/pyrun.json: No such file"),
    ("seccomp=BAD", "seccomp profile BAD: "),
    ("apparmor=docker-default", "this host has no AppArmor"),
    ("nonsense", 'invalid --security-opt: "nonsense"'),
])
def test_bad_security_opts_make_nothing(engine, opt, message):  # noqa: F811
    p = engine("run", "--rm", "--security-opt", opt, "busybox", "true", check=False)
    assert p.returncode == 125 and message in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert engine("ls", "-aq").stdout == ""


def test_build_steps_run_under_the_filter(pyrun, busybox, tmp_path):  # noqa: F811
    ctx = context(tmp_path, "FROM busybox\nRUN grep Seccomp: /proc/self/status > /seccomp\n")
    pyrun("build", "-t", "pyrun-sec-build", ctx)
    assert pyrun.image_files("pyrun-sec-build", "/seccomp").split() == [b"Seccomp:", b"2"]


def test_a_filtered_start_imports_no_more_than_its_budget(oci, bundle, cid):
    """A start whose profile is cached loads the kept program: no libseccomp module, and
    none of the imports the start path was cut free of (README: Known limits)."""
    bundle.spec["linux"]["seccomp"] = docker_default(bundle)
    bundle.write(args=["true"])
    oci("run", "--bundle", str(bundle.path), cid)  # compiles and keeps the program
    argv = launched("runtime.oci.cli", "--root", oci.root, "run", "--bundle",
                    str(bundle.path), cid + "-2")
    oci.names.add(cid + "-2")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    modules = imported(p.stderr)
    assert "runtime.linux.seccomp" in modules  # the filter was applied from the cache
    assert modules & {"runtime._seccomp", "hashlib", "_hashlib", "click", "json", "re",
                       "enum", "dataclasses", "subprocess", "socket", "signal",
                       "argparse", "shutil"} == set()
