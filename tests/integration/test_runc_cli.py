"""pyrun-oci as containerd's shim drives it for Kubernetes pods: a tty container's create
must not hold the caller's pipes, `update` of a running (or paused) container, `kill --all`
after the init has exited, exec'd processes' oom_score_adj."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from runtime.linux import cgroups
from tests.integration.conftest import leftover_cgroups
from tests.integration.test_runtime import run, sh


class ConsoleReceiver:
    """A --console-socket listener, as a shim runs one: keeps the pty master it is sent."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.fds = []
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        conn, _ = self.sock.accept()
        _, self.fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()

    def close(self):
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


@pytest.mark.vm
def test_a_tty_create_returns_without_holding_the_callers_pipes(oci, bundle, cid, tmp_path):
    """A shim reads create's stdout and stderr until they close: a tty container's init
    must not keep them while it waits for `start` (the pod's StartContainer would hang)."""
    console = ConsoleReceiver(str(tmp_path / "console.sock"))
    try:
        bundle.write(terminal=True, args=sh("echo from-the-pty; sleep 1"))
        p = subprocess.run(oci.argv("create", "--bundle", str(bundle.path), "--console-socket",
                                    str(tmp_path / "console.sock"), cid),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        oci.names.add(cid)
        assert p.returncode == 0, p.stderr
        console.thread.join(5)
        (master,) = console.fds
        oci("start", cid)
        out, deadline = b"", time.monotonic() + 5
        while b"from-the-pty" not in out and time.monotonic() < deadline:
            out += os.read(master, 4096)
        assert b"from-the-pty" in out
    finally:
        console.close()


def _cgroup_file(oci, cid: str, v1: str, v2: str) -> str:
    st = oci.state(cid)
    d = json.load(open(f"{oci.root}/{cid}/state.json"))["cgroup"]
    if d["version"] == 2:
        return open(os.path.join(d["root"], d["rel"].lstrip("/"), v2)).read().strip()
    controller = v1.split(".")[0]
    return open(os.path.join(d["mounts"][controller], d["rel"].lstrip("/"), v1)).read().strip()


@pytest.mark.vm
def test_update_sets_resources_as_runc_does(oci, bundle, cid):
    bundle.spec["linux"]["resources"] = {"memory": {"limit": 128 << 20}, "pids": {"limit": 100}}
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    oci("update", "--memory", "64M", "--pids-limit", "50", "--cpu-period", "100000",
        "--cpu-quota", "50000", cid)
    assert _cgroup_file(oci, cid, "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert _cgroup_file(oci, cid, "pids.max", "pids.max") == "50"
    if cgroups.mode() == "unified":
        assert _cgroup_file(oci, cid, "", "cpu.max") == "50000 100000"
    else:
        assert _cgroup_file(oci, cid, "cpu.cfs_quota_us", "") == "50000"
    oci("pause", cid)  # a paused container is updated too
    oci("update", "--resources", "-", cid, input=json.dumps(
        {"memory": {"limit": 96 << 20}, "pids": {"limit": 40}}).encode(), stdin=None)
    assert _cgroup_file(oci, cid, "memory.limit_in_bytes", "memory.max") == str(96 << 20)
    assert _cgroup_file(oci, cid, "pids.max", "pids.max") == "40"
    oci("resume", cid)
    p = oci("update", "--memory", "lots", cid, check=False)
    assert p.returncode != 0 and "--memory" in p.stderr
    p = oci("update", "--memory", "64M", "pyrun-no-such", check=False)
    assert p.returncode != 0 and "container does not exist" in p.stderr
    oci("kill", cid, "KILL")


@pytest.mark.vm
def test_update_changes_device_rules_of_a_running_container(oci, bundle, cid):
    fuse = {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    deny_all = {"allow": False, "access": "rwm"}
    bundle.spec["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10,
                                        "minor": 229}]
    bundle.spec["linux"]["resources"] = {"devices": [deny_all, fuse]}
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    probe = "(exec 3<>/dev/fuse) 2>/dev/null && echo fuse; echo x > /dev/null && echo null"
    assert oci("exec", cid, "sh", "-c", probe, check=False).stdout.split() == ["fuse", "null"]
    oci("update", "--resources", "-", cid, input=json.dumps(
        {"devices": [deny_all]}).encode(), stdin=None)
    assert oci("exec", cid, "sh", "-c", probe, check=False).stdout.split() == ["null"]
    if cgroups.mode() != "unified":  # v1: the kernel's list is the rules, nothing more
        listed = _cgroup_file(oci, cid, "devices.list", "").splitlines()
        assert "c 10:229 rwm" not in listed and "c 1:3 rwm" in listed
    oci("update", "--resources", "-", cid, input=json.dumps(
        {"devices": [deny_all, fuse]}).encode(), stdin=None)
    assert oci("exec", cid, "sh", "-c", probe, check=False).stdout.split() == ["fuse", "null"]
    oci("kill", cid, "KILL")


@pytest.mark.vm
def test_a_device_program_update_replaces_the_one_before(cid):
    """cgroup v2 (here or the hybrid host's cgroup2 mount): an update's program takes the
    place of the old one; kept beside it, the old one would go on denying what the new one
    allows."""
    from runtime.linux import syscalls as sc
    from runtime.linux.cgroups import devices_bpf
    top = "/sys/fs/cgroup" if cgroups.mode() == "unified" else "/sys/fs/cgroup/unified"
    if not os.path.exists(os.path.join(top, "cgroup.controllers")):
        pytest.skip("no cgroup2 mount on this host")
    d = os.path.join(top, cid)
    os.mkdir(d)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        devices_bpf.attach(d, [{"allow": False, "access": "rwm"}])
        (first,) = sc.bpf_prog_query(fd, devices_bpf.ATTACH_CGROUP_DEVICE)
        devices_bpf.attach(d, [{"allow": True, "access": "rwm"}])
        (second,) = sc.bpf_prog_query(fd, devices_bpf.ATTACH_CGROUP_DEVICE)
        assert second != first
    finally:
        os.close(fd)
        os.rmdir(d)


def test_kill_all_reaches_processes_left_after_the_init_exited(oci, bundle, cid, tmp_path):
    """A pod shares one pid namespace (the pause container's): when a container's init
    exits, its children live on in that namespace until `kill --all` + `delete`."""
    pause = cid + "-pause"
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), pause)
    other = tmp_path / "other"
    other.mkdir()
    spec = dict(bundle.spec)
    spec["linux"] = dict(spec["linux"], namespaces=[
        n if n["type"] != "pid" else {"type": "pid",
                                      "path": f"/proc/{oci.state(pause)['pid']}/ns/pid"}
        for n in spec["linux"]["namespaces"]])
    spec["process"] = dict(spec["process"], args=sh("sleep 60 & exit 0"))
    (other / "config.json").write_text(json.dumps(spec))
    oci("run", "--detach", "--bundle", str(other), cid)
    deadline = time.monotonic() + 5
    while oci.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert oci.state(cid)["status"] == "stopped"
    assert cgroups_with_procs(cid)  # the init's child lives on, in the pause's namespace
    t = time.monotonic()
    oci("kill", "--all", cid, "KILL")
    oci("delete", cid)
    assert time.monotonic() - t < 2
    assert not cgroups_with_procs(cid)
    oci("kill", pause, "KILL")


def cgroups_with_procs(name: str) -> list[str]:
    out = []
    for d in leftover_cgroups(name):
        try:
            if open(os.path.join(d, "cgroup.procs")).read().strip():
                out.append(d)
        except FileNotFoundError:
            pass
    return out


def test_exec_gives_the_process_its_oom_score_adj(oci, bundle, cid, tmp_path):
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    proc = dict(bundle.spec["process"], args=["cat", "/proc/self/oom_score_adj"],
                oomScoreAdj=600)
    (tmp_path / "process.json").write_text(json.dumps(proc))
    p = oci("exec", "--process", str(tmp_path / "process.json"), cid)
    assert p.stdout.strip() == "600"
    oci("kill", cid, "KILL")


def test_version_and_help_as_runc(oci):
    p = oci("-v")
    lines = p.stdout.splitlines()
    assert lines[0].startswith("pyrun-oci version ") and "spec: 1.0.2" in lines
    assert oci("--version").stdout == p.stdout
    from runtime.oci.cli import COMMANDS
    for cmd in COMMANDS:
        p = oci(cmd, "-h")
        assert cmd in p.stdout.split(), cmd  # its usage line, exit 0


def test_a_relative_log_is_the_callers(oci, bundle, cid, tmp_path):
    # The container side logs too (here: an ambient capability the inheritable set lacks, a
    # debug line written after pivot_root, over a read-only root).
    caps = ["CAP_KILL"]
    bundle.spec["process"]["capabilities"] = {"bounding": caps, "effective": caps,
                                              "permitted": caps, "ambient": caps}
    bundle.write(args=["true"])
    p = subprocess.run(oci.argv("--debug", "--log", "rel.log", "run", "--bundle",
                                str(bundle.path), cid), cwd=tmp_path, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "ambient capabilities not in the inheritable set" in (tmp_path / "rel.log").read_text()


def test_exec_that_cannot_start_exits_255(oci, bundle, cid):
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    oci("pause", cid)
    p = oci("exec", cid, "true", check=False)
    assert p.returncode == 255 and "paused" in p.stderr
    oci("resume", cid)
    p = oci("exec", cid, "sh", "-c", "exit 3", check=False)
    assert p.returncode == 3  # the process's own code is the process's
    oci("kill", cid, "KILL")


def test_a_frozen_cgroup_is_refused(oci, bundle, cid):
    mgr = cgroups.manager(f"/pyrun-frozen/{cid}", cid)
    mgr.create({})
    try:
        mgr.freeze()
        bundle.spec["linux"]["cgroupsPath"] = f"/pyrun-frozen/{cid}"
        bundle.write(args=["true"])
        p = oci("create", "--bundle", str(bundle.path), cid, check=False)
        assert p.returncode != 0 and "cgroup unexpectedly frozen" in p.stderr
        assert oci.ids() == []
    finally:
        mgr.thaw()
        mgr.destroy()


def test_ps_runs_ps_on_the_containers_processes_and_list_json_is_runcs(oci, bundle, cid):
    bundle.write(args=["sleep", "61"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    out = oci("ps", cid).stdout.splitlines()  # ps -ef by default
    assert out[0].split()[:3] == ["UID", "PID", "PPID"]
    assert len(out) == 2 and out[1].split()[1] == str(oci.state(cid)["pid"])
    assert out[1].endswith("sleep 61")
    out = oci("ps", cid, "-eo", "pid,args").stdout.splitlines()  # options pass through
    assert out[0].split() == ["PID", "COMMAND"] and out[1].split() == [
        str(oci.state(cid)["pid"]), "sleep", "61"]
    assert json.loads(oci("ps", "-f", "json", cid).stdout) == [oci.state(cid)["pid"]]
    text = oci("list", "--format", "json").stdout
    (row,) = json.loads(text)
    assert list(row) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                         "owner"]
    assert '", "' not in text and ": " not in text  # compact, as Go writes it
    oci("kill", cid, "KILL")


@pytest.mark.parametrize("native", ["1", "0"])
def test_start_kill_and_delete_answer_alike_in_c_and_in_python(oci, bundle, cid, tmp_path,
                                                               native):
    """The launcher does start, kill and delete itself where they are plain
    (native/oci_fast.c) and leaves the rest to Python: both give runc's answers, and every
    case that is not plain goes to Python (PYRUN_OCI_TRACE shows when Python ran)."""
    env = dict(os.environ, PYRUN_OCI_NATIVE=native, PYRUN_OCI_TRACE="1")

    def verb(*args):
        p = oci(*args, check=False, env=env)
        lines = p.stderr.splitlines()
        python = any(ln.startswith("[trace") for ln in lines)
        return p.returncode, "\n".join(ln for ln in lines if not ln.startswith("[trace")), python

    plain = native == "0"  # Python runs the plain cases only when told to
    bundle.write(args=["sleep", "60"])
    oci("create", "--bundle", str(bundle.path), cid)
    assert os.path.exists(os.path.join(oci.root, cid, "native.txt"))
    assert verb("start", cid) == (0, "", plain)
    assert oci.state(cid)["status"] == "running"
    assert verb("start", cid) == (1, "pyrun-oci: error: cannot start a container that is "
                                     "running", True)
    code, err, python = verb("delete", cid)
    assert (code, python) == (1, True) and "that is not stopped: running" in err
    assert verb("kill", cid, "9") == (0, "", plain)
    wait_stopped(oci, cid)
    assert verb("kill", cid, "9") == (1, "pyrun-oci: error: container not running", True)
    assert verb("kill", "--all", cid, "9") == (0, "", plain)  # none left is no error
    assert leftover_cgroups(cid)
    assert verb("delete", cid) == (0, "", plain)
    assert oci.ids() == [] and leftover_cgroups(cid) == []
    assert verb("delete", "--force", cid) == (0, "", plain)
    assert verb("delete", cid) == (1, f"pyrun-oci: error: container does not exist: {cid}",
                                   True)

    # The init fails to exec after start told it to go (its program vanished meanwhile):
    # the error goes to the log, last, as containerd reads it, and to stderr.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "prog").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "prog").chmod(0o755)
    bundle.spec["mounts"].append({"destination": "/x", "type": "bind", "source": str(bin_dir),
                                  "options": ["rbind", "ro"]})
    bundle.write(args=["/x/prog"])
    oci("create", "--bundle", str(bundle.path), cid)
    (bin_dir / "prog").unlink()
    log = tmp_path / "log.json"
    code, err, python = verb("--log", str(log), "--log-format", "json", "start", cid)
    assert (code, python) == (1, plain)
    assert err.startswith("pyrun-oci: ") and "/x/prog" in err
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "/x/prog" in last["msg"] and last["time"].endswith("Z")
    oci("delete", "--force", cid)


def wait_stopped(oci, cid):
    deadline = time.monotonic() + 5
    while oci.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert oci.state(cid)["status"] == "stopped"


def proc_mounts() -> list[str]:
    return [line.split()[4] for line in open("/proc/self/mountinfo")
            if line.split()[4].startswith("/proc")]


@pytest.mark.vm
def test_mounts_as_runc_makes_them(oci, bundle, cid, tmp_path):
    """A read-only /dev (its nodes and /dev/pts made first), an `rro` bind read-only all the
    way down, createContainer hooks in the container's root, a procfs bind at /proc; then a
    shared rootfsPropagation (the rootfs's parent made private for pivot_root). Nothing of
    the container's reaches the host's /proc."""
    host_proc = proc_mounts()
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "pyrun-test-sub", str(data / "sub")], check=True)
    try:
        for m in bundle.spec["mounts"]:
            if m["destination"] == "/dev":
                m["options"].append("ro")
            if m["destination"] == "/proc":  # what rootless bundles do
                m.update(type="bind", source="/proc", options=["rbind", "nosuid"])
        bundle.spec["mounts"].append({"destination": "/data", "type": "bind",
                                      "source": str(data), "options": ["rbind", "rro"]})
        hook_out = tmp_path / "hook-cwd"
        bundle.spec["hooks"] = {"createContainer": [{"path": "/bin/sh", "args": [
            "sh", "-c", f"pwd > {hook_out}"]}]}
        p = run(oci, bundle, cid, args=sh(
            "for f in /dev/x /data/f /data/sub/f; do touch $f 2>/dev/null && echo $f; done; "
            "test -c /dev/null && test -e /dev/pts/ptmx && echo devices"))
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["devices"]  # nothing writable
        assert hook_out.read_text().strip() == bundle.spec["root"]["path"]
    finally:
        subprocess.run(["umount", str(data / "sub")])
    # Shared propagation, with the container's own procfs: a bind of the host's /proc
    # under it would share the masks the runtime lays over it with the host (runc too).
    bundle.spec["mounts"] = [m for m in bundle.spec["mounts"] if m["destination"] != "/data"]
    for m in bundle.spec["mounts"]:
        if m["destination"] == "/proc":
            m.update(type="proc", source="proc", options=["nosuid", "noexec", "nodev"])
    bundle.spec["hooks"] = {}
    bundle.spec["linux"]["rootfsPropagation"] = "shared"
    p = run(oci, bundle, cid + "-shared", args=sh(
        "awk '$5 == \"/\"' /proc/self/mountinfo | grep -c shared:"))
    assert p.returncode == 0 and p.stdout.split() == ["1"], p.stderr  # / is shared
    assert proc_mounts() == host_proc


@pytest.mark.vm
def test_bind_sources_the_mapped_root_cannot_reach_are_opened_by_the_caller(
        oci, bundle, cid, tmp_path):
    """Root in a user namespace is uid 100000 on the host: a 0700 directory of the host's
    root is out of its reach, but the bind the config asks for is made all the same."""
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    (private / "inner" / "note").write_text("for the container\n")
    private.chmod(0o700)
    bundle.spec["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        bundle.spec["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.spec["mounts"].append({"destination": "/home", "type": "bind",
                                  "source": str(private / "inner"), "options": ["rbind"]})
    p = run(oci, bundle, cid, args=["cat", "/home/note"])
    assert p.returncode == 0 and p.stdout == "for the container\n", p.stderr


@pytest.mark.vm
def test_a_container_without_a_mount_namespace_is_chrooted(oci, bundle, cid):
    bundle.spec["linux"]["namespaces"] = [n for n in bundle.spec["linux"]["namespaces"]
                                          if n["type"] != "mount"]
    bundle.spec["mounts"] = []
    bundle.spec["linux"]["maskedPaths"] = bundle.spec["linux"]["readonlyPaths"] = []
    p = run(oci, bundle, cid, args=sh("ls /bin/busybox && test ! -e /usr/local/bin/pyrun-oci "
                                      "&& echo chrooted"))
    assert p.returncode == 0 and p.stdout.split() == ["/bin/busybox", "chrooted"], p.stderr


def test_the_terminal_belongs_to_the_process_user(oci, bundle, cid, tmp_path):
    console = ConsoleReceiver(str(tmp_path / "console.sock"))
    try:
        bundle.write(terminal=True, user={"uid": 1000, "gid": 1001},
                     args=sh("stat -c owner=%u:%g $(readlink /proc/self/fd/0); sleep 1"))
        oci("create", "--bundle", str(bundle.path), "--console-socket",
            str(tmp_path / "console.sock"), cid)
        console.thread.join(5)
        (master,) = console.fds
        oci("start", cid)
        out, deadline = b"", time.monotonic() + 5
        while b"\n" not in out.split(b"owner=")[-1] and time.monotonic() < deadline:
            out += os.read(master, 4096)
        assert b"owner=1000:1001" in out
    finally:
        console.close()


def test_exec_flags_as_runc(oci, bundle, cid, tmp_path):
    """--additional-gids, --cgroup (a sub-cgroup of the container's), --ignore-paused; kill
    -a with signal 0; delete --force removes the sub-cgroups the container has made."""
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    p = oci("exec", "--additional-gids", "10", "--additional-gids", "20,30", cid, "id", "-G")
    assert {"10", "20", "30"} <= set(p.stdout.split())

    procs_dirs = container_cgroup_dirs(oci, cid)
    for d in procs_dirs:
        os.mkdir(os.path.join(d, "sub"))
        for f in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset starts empty: fill it
            if os.path.exists(os.path.join(d, f)) and "cpuset" in d:
                with open(os.path.join(d, "sub", f), "w") as out:
                    out.write(open(os.path.join(d, f)).read())
    p = oci("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup")
    lines = [ln for ln in p.stdout.splitlines() if ln.split(":")[1] in ("", "pids", "memory")]
    # the container's own cgroup namespace shows its root as "/": the sub-cgroup is /sub
    assert lines and all(ln.endswith("/sub") for ln in lines), p.stdout
    p = oci("exec", "--cgroup", "nope", cid, "true", check=False)
    assert p.returncode == 255 and "no sub-cgroup nope" in p.stderr
    oci("exec", "--detach", "--cgroup", "sub", cid, "sleep", "60")

    oci("pause", cid)
    pid_file = tmp_path / "paused.pid"
    oci("exec", "--detach", "--ignore-paused", "--pid-file", str(pid_file), cid, "sleep", "61")
    pid = int(pid_file.read_text())
    oci("resume", cid)
    deadline = time.monotonic() + 5
    while not open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sleep") and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    assert open(f"/proc/{pid}/cmdline", "rb").read() == b"sleep\x0061\x00"
    assert cid in open(f"/proc/{pid}/cgroup").read()  # joined the container's cgroup

    assert oci("kill", "--all", cid, "0").returncode == 0
    oci("delete", "--force", cid)
    assert leftover_cgroups(cid) == []


def container_cgroup_dirs(oci, cid: str) -> list[str]:
    d = json.load(open(f"{oci.root}/{cid}/state.json"))["cgroup"]
    if d["version"] == 2:
        return [os.path.join(d["root"], d["rel"].lstrip("/"))]
    return sorted({os.path.join(m, d["rel"].lstrip("/")) for m in d["mounts"].values()})


def test_cgroup_settings_as_runc(oci, bundle, cid, tmp_path):
    """blockIO per-device throttles (and weights where the host's scheduler takes them),
    access strings with letters the kernel lacks ("rwa"), `unified` refused on v1, a warning
    for a cgroup that already holds processes."""
    dev = open("/sys/block/" + sorted(os.listdir("/sys/block"), key=lambda n: n.startswith(
        "loop"))[0] + "/dev").read().strip()
    major, minor = map(int, dev.split(":"))
    bundle.spec["linux"]["resources"] = {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwa"}],
        "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                               "rate": 1048576}]}}
    bundle.write(args=["sleep", "60"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    assert f"{dev} 1048576" in _cgroup_file(oci, cid, "blkio.throttle.read_bps_device",
                                            "io.max").replace("rbps=", "")
    oci("exec", cid, "sh", "-c", "echo x > /dev/null")  # rw of "rwa": allowed
    oci("delete", "--force", cid)

    v2 = cgroups.mode() == "unified"
    bundle.spec["linux"]["resources"] = {"unified": {"pids.max": "7"}}
    bundle.write(args=["sleep", "60"])
    p = oci("run", "--detach", "--bundle", str(bundle.path), cid, check=False)
    if v2:
        assert p.returncode == 0 and _cgroup_file(oci, cid, "", "pids.max") == "7"
        oci("delete", "--force", cid)
    else:
        assert p.returncode != 0 and "needs cgroup v2" in p.stderr
        assert oci.ids() == [] and leftover_cgroups(cid) == []

    # a cgroup that already holds a process: created all the same, with runc's warning
    bundle.spec["linux"]["resources"] = {}
    bundle.spec["linux"]["cgroupsPath"] = f"/pyrun-busy/{cid}"
    bundle.write(args=["true"])
    mgr = cgroups.manager(f"/pyrun-busy/{cid}", cid)
    mgr.create({})
    squatter = subprocess.Popen(["sleep", "60"])
    try:
        mgr.join(squatter.pid)
        p = oci("run", "--bundle", str(bundle.path), cid, check=False)
        assert p.returncode == 0 and "cgroup is not empty: 1 process(es) found" in p.stderr
    finally:
        squatter.kill()
        squatter.wait()
        oci("delete", "--force", cid, check=False)
        mgr.remove_leaf()


@pytest.mark.vm
def test_events_report_stats_and_oom_kills_as_runc(oci, bundle, cid, tmp_path):
    """`events --stats`: one line of runc's stats JSON; `events`: stats every --interval
    and an "oom" line when the kernel's OOM killer kills in the container."""
    bundle.spec["linux"]["resources"]["memory"] = {"limit": 32 << 20}
    bundle.write(args=sh("sleep 1; tail /dev/zero; sleep 60"))  # tail buffers until killed
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    (line,) = oci("events", "--stats", cid).stdout.splitlines()
    event = json.loads(line)
    assert (event["type"], event["id"]) == ("stats", cid)
    assert event["data"]["memory"]["usage"]["limit"] == 32 << 20
    assert event["data"]["pids"]["current"] >= 1
    assert event["data"]["cpu"]["usage"]["total"] > 0
    out = tmp_path / "events"
    with open(out, "w") as f:
        stream = subprocess.Popen(oci.argv("events", "--interval", "200ms", cid), stdout=f)
    try:
        deadline = time.monotonic() + 20
        while '"oom"' not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stream.kill()
        stream.wait()
    kinds = [json.loads(ln)["type"] for ln in out.read_text().splitlines()]
    assert "oom" in kinds and kinds.count("stats") >= 2, kinds
    p = oci("events", "--interval", "5x", cid, check=False)
    assert p.returncode == 1 and "--interval 5x" in p.stderr
    oci("delete", "--force", cid)
