"""pyrun-oci against the real kernel: each test runs real containers from a busybox rootfs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from runtime.linux import cgroups
from tests.conftest import conformance_dir

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "cgroup")


def run(oci, bundle, cid, *args, **process):
    """`pyrun-oci run` of the bundle with the given process fields; the CompletedProcess."""
    bundle.write(**process)
    return oci("run", "--bundle", str(bundle.path), cid, *args, check=False)


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ---- the process: exit codes, output, environment ------------------------------------------

@pytest.mark.vm
def test_exit_code_and_output_streams(oci, bundle, cid):
    p = run(oci, bundle, cid, args=sh("echo out; echo err >&2; exit 7"))
    assert p.returncode == 7
    assert p.stdout == "out\n"
    assert "err\n" in p.stderr


def test_env_cwd_and_user(oci, bundle, cid):
    p = run(oci, bundle, cid, args=sh("echo $FOO; pwd; id -u; id -g; id -G"),
            env=["FOO=bar", "PATH=/bin:/usr/bin"], cwd="/tmp",
            user={"uid": 1000, "gid": 1000, "additionalGids": [5, 1000]})
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:4] == ["bar", "/tmp", "1000", "1000"]
    assert set(p.stdout.split("\n")[4].split()) == {"5", "1000"}


def test_missing_program_fails_at_create_with_its_name(oci, bundle, cid):
    bundle.write(args=["no-such-program"])
    p = oci("create", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode != 0
    assert 'exec: "no-such-program": executable file not found in $PATH' in p.stderr
    assert oci.ids() == []  # nothing half-made is left


def test_signal_exit_is_128_plus_signal(oci, bundle, cid):
    # (PID 1 of a pid namespace ignores even SIGKILL from inside it: kill it from outside.)
    bundle.write(args=["sleep", "30"])
    p = subprocess.Popen(oci.argv("run", "--bundle", str(bundle.path), cid),
                         stdin=subprocess.DEVNULL)
    try:
        _wait_status(oci, cid, "running")
        oci("kill", cid, "KILL")
        assert p.wait(10) == 137
    finally:
        p.kill()
        p.wait()


# ---- isolation -------------------------------------------------------------------------------

@pytest.mark.vm
def test_each_namespace_is_separate_from_the_hosts(oci, bundle, cid):
    script = "; ".join(f"readlink /proc/self/ns/{n}" for n in NAMESPACES)
    p = run(oci, bundle, cid, args=sh(script))
    assert p.returncode == 0, p.stderr
    inside = p.stdout.split()
    for name, link in zip(NAMESPACES, inside):
        assert link.startswith(f"{name}:[")
        assert link != os.readlink(f"/proc/self/ns/{name}"), f"{name} namespace is the host's"


@pytest.mark.parametrize("userns", [False, True], ids=["root", "user-namespace"])
def test_a_new_network_namespace_has_its_loopback_up_as_runcs(oci, bundle, cid, userns):
    # runc gives every network namespace it makes a "loopback" network (crun too): a
    # container run without CNI (ctr run, a bundle of one's own) reaches 127.0.0.1
    if userns:
        bundle.spec["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            bundle.spec["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    p = run(oci, bundle, cid, args=sh(
        "cat /sys/class/net/lo/flags; ls /sys/class/net; "
        "httpd -p 127.0.0.1:8000 -h /etc && wget -q -O - http://127.0.0.1:8000/passwd"))
    assert p.returncode == 0, p.stderr
    flags, interfaces, served = p.stdout.split("\n", 2)
    assert int(flags, 16) & 0x1 and interfaces == "lo"  # IFF_UP, and nothing but lo
    assert served.startswith("root:")  # over 127.0.0.1


@pytest.mark.vm
def test_pid_1_is_the_program_and_hostname_is_set(oci, bundle, cid):
    bundle.spec["hostname"] = "box-one"
    p = run(oci, bundle, cid, args=sh("echo $$; hostname; cat /proc/1/cmdline | tr '\\0' ' '"))
    assert p.stdout.split("\n")[:2] == ["1", "box-one"]
    assert p.stdout.split("\n")[2].startswith("sh -c")


@pytest.mark.vm
def test_mounts_inside_the_container(oci, bundle, cid, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from the host\n")
    bundle.spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                                  "options": ["rbind", "ro"]})
    bundle.spec["mounts"].append({"destination": "/scratch", "type": "tmpfs",
                                  "source": "tmpfs", "options": ["size=1m", "noexec"]})
    p = run(oci, bundle, cid, args=sh(
        "cat /data/hello.txt; touch /data/x 2>/dev/null || echo data-ro; "
        "grep -E ' /(scratch|proc|dev/pts|dev/shm|sys) ' /proc/mounts | cut -d' ' -f2,3 | sort;"
        " touch /scratch/ok && echo scratch-rw"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "from the host"
    assert "data-ro" in lines
    assert {"/proc proc", "/dev/pts devpts", "/dev/shm tmpfs", "/scratch tmpfs",
            "/sys sysfs"} <= set(lines)
    assert "scratch-rw" in lines
    assert not (data / "x").exists()


def test_default_devices_and_links(oci, bundle, cid):
    p = run(oci, bundle, cid, args=sh(
        "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | "
        "awk '{print $1, $5, $6, $NF}'; for l in ptmx fd stdin; do readlink /dev/$l; done; "
        "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok"))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "crw-rw-rw- 1, 3 /dev/null" in out
    assert "crw-rw-rw- 5, 0 /dev/tty" in out
    assert "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n" in out
    assert "4\nnull-ok" in out


def test_masked_paths_unreadable_and_readonly_paths_unwritable(oci, bundle, cid, tmp_path):
    # Mask what exists on this host (kernels differ: /proc/kcore or /proc/acpi may be absent).
    masked_file = next(p for p in ("/proc/keys", "/proc/timer_list", "/proc/kcore")
                       if os.path.exists(p))
    assert os.path.getsize(masked_file) > 0 or open(masked_file).read(1)
    bundle.spec["linux"]["maskedPaths"] = [masked_file, "/sys/firmware"]
    bundle.spec["linux"]["readonlyPaths"] = ["/proc/sys"]
    p = run(oci, bundle, cid, args=sh(
        f"wc -c < {masked_file}; ls /sys/firmware | wc -l; "
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo WROTE || echo sys-ro"))
    assert p.stdout.split() == ["0", "0", "sys-ro"], p.stdout + p.stderr


def test_readonly_root(oci, bundle, cid):
    p = run(oci, bundle, cid, args=sh("touch /newfile 2>&1 || echo refused"))
    assert "Read-only file system" in p.stdout and "refused" in p.stdout


def test_capabilities_as_configured(oci, bundle, cid):
    p = run(oci, bundle, cid, args=sh("grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status"))
    want = sum(1 << n for n in (29, 5, 10))  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    got = {k.rstrip(":"): int(v, 16) for k, v in (line.split() for line in p.stdout.splitlines())}
    assert got == {"CapEff": want, "CapPrm": want, "CapBnd": want}
    caps = ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    bundle.spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                                "permitted")}
    p = run(oci, bundle, cid, args=sh("grep CapEff /proc/self/status"))
    assert int(p.stdout.split()[1], 16) == (1 << 0) | (1 << 21)


def test_non_root_user_keeps_configured_capabilities_and_no_new_privs(oci, bundle, cid):
    caps = ["CAP_NET_BIND_SERVICE"]
    bundle.spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                                "permitted", "inheritable",
                                                                "ambient")}
    p = run(oci, bundle, cid, user={"uid": 1000, "gid": 1000}, noNewPrivileges=True,
            args=sh("grep -E '^(CapEff|CapAmb|NoNewPrivs)' /proc/self/status"))
    got = dict(line.split() for line in p.stdout.splitlines())
    assert got == {"CapEff:": "0000000000000400", "CapAmb:": "0000000000000400",
                   "NoNewPrivs:": "1"}, p.stderr


@pytest.mark.vm
def test_user_namespace_maps_root_to_an_unprivileged_host_id(oci, bundle, cid):
    bundle.spec["linux"]["namespaces"].append({"type": "user"})
    bundle.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.write(args=sh("id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; sleep 5"))
    p = oci("create", "--bundle", str(bundle.path), cid, check=False)
    # A new procfs in a user namespace needs a fully visible one in the mount namespace:
    # what lies on the host's /proc is the first thing to look at when it is refused.
    assert p.returncode == 0, p.stderr + "".join(
        line for line in open("/proc/self/mountinfo") if " /proc" in line)
    pid = oci.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        host_uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
    assert host_uid == "100000"  # root inside is uid 100000 on the host
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    oci("delete", "--force", cid)


def test_sysctl_and_oom_score_adj(oci, bundle, cid):
    """Written before /proc/sys is made read-only (a path of the default config's, as of
    Docker's and podman's), which the process then finds read-only (runc's order)."""
    bundle.spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    assert "/proc/sys" in bundle.spec["linux"]["readonlyPaths"]
    p = run(oci, bundle, cid, args=sh("cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj;"
                                      " echo 0 > /proc/sys/net/ipv4/ip_forward || echo ro"),
            oomScoreAdj=500)
    assert p.stdout.split() == ["1", "500", "ro"], p.stderr


def test_rlimits_within_the_hosts_hard_limit(oci, bundle, cid):
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    p = run(oci, bundle, cid, args=sh("ulimit -n; ulimit -Hn"),
            rlimits=[{"type": "RLIMIT_NOFILE", "soft": 512, "hard": hard}])
    assert p.stdout.split() == ["512", str(hard)], p.stderr
    p = run(oci, bundle, cid, args=["true"],
            rlimits=[{"type": "RLIMIT_NOFILE", "soft": hard * 2, "hard": hard * 2}])
    if p.returncode == 0:  # this host lets root raise hard limits (CAP_SYS_RESOURCE)
        return
    assert "setrlimit RLIMIT_NOFILE" in p.stderr and "CAP_SYS_RESOURCE" in p.stderr


# ---- cgroups -----------------------------------------------------------------------------------

@pytest.mark.vm
def test_memory_limit_is_enforced(oci, bundle, cid):
    bundle.spec["linux"]["resources"]["memory"] = {"limit": 32 * 1024 * 1024}
    p = run(oci, bundle, cid, args=sh("tail /dev/zero"))  # grows until the limit
    assert p.returncode == 137, (p.returncode, p.stderr)  # OOM-killed


@pytest.mark.vm
def test_pids_limit_is_enforced(oci, bundle, cid):
    bundle.spec["linux"]["resources"]["pids"] = {"limit": 5}
    script = sh("for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; echo done")
    p = run(oci, bundle, cid, args=script)
    assert "can't fork" in p.stderr  # the fifth process is refused (the shell counts)
    assert p.returncode != 0 and p.stdout == ""
    bundle.spec["linux"]["resources"]["pids"] = {"limit": 20}
    p = run(oci, bundle, cid, args=script)
    assert p.returncode == 0 and p.stdout == "done\n", p.stderr


@pytest.mark.vm
def test_cpu_limit_is_written_and_enforced(oci, bundle, cid):
    bundle.spec["linux"]["resources"]["cpu"] = {"shares": 512, "quota": 10000, "period": 100000}
    bundle.spec["linux"]["cgroupsPath"] = f"/pyrun-test/{cid}"
    bundle.write(args=sh("while :; do :; done"))  # would take a whole CPU
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    try:
        if cgroups.mode() == "unified":
            base = f"/sys/fs/cgroup/pyrun-test/{cid}"
            assert open(f"{base}/cpu.max").read().split() == ["10000", "100000"]
            assert open(f"{base}/cpu.weight").read().strip() == str(cgroups.shares_to_weight(512))
        else:
            base = f"/sys/fs/cgroup/cpu/pyrun-test/{cid}"
            assert open(f"{base}/cpu.shares").read().strip() == "512"
            assert open(f"{base}/cpu.cfs_quota_us").read().strip() == "10000"
        pid = oci.state(cid)["pid"]
        assert str(pid) in open(f"{base}/cgroup.procs").read().split()
        # The kernel holds the loop to its 10 ms per 100 ms: periods end throttled.
        deadline = time.monotonic() + 10
        while throttled_periods(base) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert throttled_periods(base) > 0
    finally:
        oci("delete", "--force", cid)
    assert not os.path.exists(base)
    assert not os.path.exists(os.path.dirname(base))  # made for this container, removed with it


def throttled_periods(cgroup_dir: str) -> int:
    with open(os.path.join(cgroup_dir, "cpu.stat")) as f:
        stat = dict(line.split() for line in f)
    return int(stat["nr_throttled"])


@pytest.mark.vm
def test_cgroup_namespace_roots_the_container_at_its_own_cgroup(oci, bundle, cid):
    # Inside, /proc/self/cgroup shows "/" on every hierarchy, and /sys/fs/cgroup is the
    # container's own cgroup (with its limit), not the host's tree.
    bundle.spec["linux"]["resources"]["pids"] = {"limit": 42}
    p = run(oci, bundle, cid, args=sh(
        "cat /proc/self/cgroup; echo --; "
        "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"))
    assert p.returncode == 0, p.stderr
    own, limit = p.stdout.split("--\n")
    assert own.splitlines() and all(line.endswith(":/") for line in own.splitlines()), own
    assert limit.strip() == "42"


@pytest.mark.vm
def test_device_rules_deny_what_is_not_allowed(oci, bundle, cid):
    # Even with CAP_MKNOD, the device cgroup lets only the default nodes and what
    # resources.devices allows be opened (any node may be made, as with runc and Docker). A
    # node listed in linux.devices is made, but not thereby allowed: under a deny-all rule,
    # writing /dev/kmsg (which needs no capability) fails.
    caps = ["CAP_MKNOD", "CAP_KILL"]
    bundle.spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                                "permitted")}
    bundle.spec["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1,
                                        "minor": 11}]
    p = run(oci, bundle, cid, args=sh(
        "ls -l /dev/kmsg | cut -c1; mknod /dev/null2 c 1 3 && echo null-ok; "
        "mknod /dev/sda-pyrun b 8 0 && head -c1 /dev/sda-pyrun 2>&1 || echo sda-refused; "
        "(echo pyrun-test > /dev/kmsg) 2>&1 || echo kmsg-refused"))
    lines = p.stdout.splitlines()
    assert lines[:2] == ["c", "null-ok"], p.stdout + p.stderr
    assert "Operation not permitted" in lines[2] and lines[3] == "sda-refused"  # at open
    assert "Operation not permitted" in lines[4] and lines[5] == "kmsg-refused", p.stdout


# ---- lifecycle ---------------------------------------------------------------------------------

@pytest.mark.vm
def test_create_then_start_state_transitions(oci, bundle, cid, tmp_path):
    out = tmp_path / "out"
    bundle.write(args=sh("echo started; sleep 30"))
    with open(out, "w") as f:
        oci("create", "--bundle", str(bundle.path), "--pid-file", str(tmp_path / "pid"), cid,
            stdout=f)
    st = oci.state(cid)
    assert st["status"] == "created"
    assert st["pid"] == int((tmp_path / "pid").read_text())
    assert out.read_text() == ""  # not started yet
    oci("start", cid)
    assert oci.state(cid)["status"] == "running"
    deadline = time.monotonic() + 5
    while out.read_text() != "started\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.read_text() == "started\n"
    p = oci("start", cid, check=False)
    assert p.returncode != 0 and "running" in p.stderr
    oci("kill", cid, "KILL")
    _wait_status(oci, cid, "stopped")
    oci("delete", cid)
    assert oci.ids() == []


def _wait_status(oci, cid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        p = oci("state", cid, check=False)
        st = json.loads(p.stdout)["status"] if p.returncode == 0 else "absent"
        if st == want or time.monotonic() > deadline:
            assert st == want
            return
        time.sleep(0.02)


def test_kill_delete_and_their_errors(oci, bundle, cid):
    bundle.write(args=["sleep", "30"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    p = oci("delete", cid, check=False)
    assert p.returncode != 0 and "not stopped" in p.stderr
    oci("kill", cid)  # SIGTERM: sleep as PID 1 has no handler, so the kernel ignores it
    time.sleep(0.1)
    assert oci.state(cid)["status"] == "running"
    oci("kill", "--all", cid, "SIGKILL")
    _wait_status(oci, cid, "stopped")
    p = oci("kill", cid, "9", check=False)
    assert p.returncode != 0 and "container not running" in p.stderr
    oci("delete", cid)
    for verb in (["kill", cid], ["delete", cid], ["state", cid]):
        p = oci(*verb, check=False)
        assert p.returncode != 0 and "container does not exist" in p.stderr
    assert oci("delete", "--force", cid, check=False).returncode == 0


def test_delete_force_removes_a_running_container(oci, bundle, cid):
    bundle.write(args=["sleep", "30"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    pid = oci.state(cid)["pid"]
    oci("delete", "--force", cid)
    assert oci.ids() == []
    time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.vm
def test_exec_joins_the_running_container(oci, bundle, cid, tmp_path):
    bundle.spec["hostname"] = "exec-box"
    bundle.write(args=["sleep", "30"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    init = oci.state(cid)["pid"]
    p = oci("exec", cid, "sh", "-c",
            "hostname; echo $$; " + "; ".join(f"readlink /proc/self/ns/{n}" for n in NAMESPACES)
            + "; exit 3", check=False)
    assert p.returncode == 3, p.stderr
    lines = p.stdout.split()
    assert lines[0] == "exec-box"
    assert int(lines[1]) > 1  # a new pid inside the container's pid namespace
    assert lines[2:] == [os.readlink(f"/proc/{init}/ns/{n}") for n in NAMESPACES]
    proc = dict(bundle.spec["process"], args=["sh", "-c", "echo from-process-json; sleep 30"])
    (tmp_path / "process.json").write_text(json.dumps(proc))
    out = tmp_path / "exec.out"
    with open(out, "w") as f:
        oci("exec", "--process", str(tmp_path / "process.json"), "--detach", "--pid-file",
            str(tmp_path / "exec.pid"), cid, stdout=f)
    exec_pid = int((tmp_path / "exec.pid").read_text())
    assert json.loads(oci("ps", "--format", "json", cid).stdout) == sorted([init, exec_pid])
    time.sleep(0.2)
    assert out.read_text() == "from-process-json\n"
    p = oci("exec", cid, "no-such-program", check=False)
    assert p.returncode != 0 and "executable file not found" in p.stderr


def kernel_says_frozen(cid: str) -> bool:
    """The freezer's own report: cgroup.events on v2 (cgroup.freeze), freezer.state on v1."""
    if cgroups.mode() == "unified":
        with open(f"/sys/fs/cgroup/pyrun/{cid}/cgroup.events") as f:
            return "frozen 1" in f.read().splitlines()
    with open(f"/sys/fs/cgroup/freezer/pyrun/{cid}/freezer.state") as f:
        return f.read().strip() == "FROZEN"


@pytest.mark.vm
def test_pause_and_resume_freeze_the_processes(oci, bundle, cid, tmp_path):
    bundle.write(args=sh("i=0; while true; do i=$((i+1)); echo $i > /dev/shm/tick; sleep 0.05; done"))
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    time.sleep(0.3)
    oci("pause", cid)
    assert oci.state(cid)["status"] == "paused"
    tick = oci("exec", cid, "cat", "/dev/shm/tick", check=False)
    assert tick.returncode != 0  # a paused container takes no exec
    pid = oci.state(cid)["pid"]
    state_letter = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    assert state_letter in ("D", "S")  # frozen tasks sleep in the freezer
    assert kernel_says_frozen(cid)
    oci("resume", cid)
    assert oci.state(cid)["status"] == "running"
    assert not kernel_says_frozen(cid)
    t1 = oci("exec", cid, "cat", "/dev/shm/tick").stdout
    time.sleep(0.3)
    t2 = oci("exec", cid, "cat", "/dev/shm/tick").stdout
    assert t1 != t2  # time moves again inside


def test_hooks_run_with_the_state_on_stdin(oci, bundle, cid, tmp_path):
    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {tmp_path}/{name}.json"]}
    bundle.spec["hooks"] = {k: [hook(k)] for k in ("prestart", "createRuntime",
                                                     "createContainer", "poststart", "poststop")}
    bundle.spec["mounts"].append({"destination": "/hooks", "type": "tmpfs", "source": "tmpfs"})
    bundle.spec["hooks"]["startContainer"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat > /hooks/start.json"]}]
    p = run(oci, bundle, cid, args=["cat", "/hooks/start.json"])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == cid  # startContainer ran inside the container
    for name in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        st = json.loads((tmp_path / f"{name}.json").read_text())
        assert st["id"] == cid and st["bundle"] == str(bundle.path), name
    assert json.loads((tmp_path / "prestart.json").read_text())["pid"] > 0


def test_failing_hook_stops_create_and_leaves_nothing(oci, bundle, cid):
    bundle.spec["hooks"] = {"createRuntime": [{"path": "/bin/sh",
                                               "args": ["sh", "-c", "echo no way >&2; exit 3"]}]}
    bundle.write(args=["true"])
    p = oci("create", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode != 0
    assert "createRuntime hook /bin/sh: exit status 3: no way" in p.stderr
    assert oci.ids() == []


def test_hook_timeout(oci, bundle, cid):
    bundle.spec["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"],
                                          "timeout": 1}]}
    bundle.write(args=["true"])
    p = oci("create", "--bundle", str(bundle.path), cid, check=False)
    assert "prestart hook /bin/sleep: timed out after 1s" in p.stderr


def test_console_socket_gives_a_working_pty(oci, bundle, cid, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    got = {}

    def receive():
        conn, _ = listener.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        got["fds"] = fds
        conn.close()

    t = threading.Thread(target=receive)
    t.start()
    bundle.spec["process"]["consoleSize"] = {"height": 30, "width": 100}
    bundle.write(terminal=True, args=sh("tty; stty size; read line; echo got:$line"))
    oci("create", "--bundle", str(bundle.path), "--console-socket", sock_path, cid)
    t.join(5)
    listener.close()
    (master,) = got["fds"]
    oci("start", cid)
    buf = b""
    deadline = time.monotonic() + 5
    # typed once the program asks (the tty echoes what is typed: earlier, it would land
    # between the program's own lines)
    while b"got:hello" not in buf and time.monotonic() < deadline:
        if b"30 100" in buf and b"hello" not in buf:
            os.write(master, b"hello\n")
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        buf += chunk
    os.close(master)
    text = buf.decode().replace("\r", "")
    assert "/dev/pts/0\n30 100\n" in text
    assert "got:hello" in text


def test_no_host_fd_or_cwd_leaks_into_the_container(oci, bundle, cid, tmp_path):
    leaked = os.open(str(tmp_path), os.O_RDONLY)  # inheritable on purpose
    os.set_inheritable(leaked, True)
    try:
        bundle.write(args=sh("ls /proc/self/fd | sort -n | tr '\\n' ' '; pwd"))
        p = oci("run", "--bundle", str(bundle.path), cid, check=False, pass_fds=(leaked,),
                cwd=str(tmp_path))
    finally:
        os.close(leaked)
    fds, cwd = p.stdout.rsplit(" ", 1)
    assert fds.split() == ["0", "1", "2", "3"]  # 3 is ls's own directory fd
    assert cwd.strip() == "/"


def test_mount_target_symlink_cannot_escape_the_rootfs(oci, bundle, cid, tmp_path,
                                                       busybox_rootfs):
    rootfs = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), rootfs / "escape")  # absolute: the host's view of "outside"
    os.symlink("../../../../../../" + str(outside), rootfs / "escape2")
    bundle.spec["root"] = {"path": str(rootfs), "readonly": False}
    for dest in ("/escape", "/escape2"):
        bundle.spec["mounts"].append({"destination": dest + "/m", "type": "tmpfs",
                                      "source": "tmpfs"})
    p = run(oci, bundle, cid, args=sh("ls -d /escape /escape2; ls /"))
    assert p.returncode == 0, p.stderr
    assert list(outside.iterdir()) == []  # nothing was created or mounted outside
    assert (rootfs / str(outside).lstrip("/") / "m").is_dir()  # it landed inside instead


def test_mount_over_proc_is_refused(oci, bundle, cid, tmp_path):
    bundle.spec["mounts"].append({"destination": "/proc/self/attr", "type": "bind",
                                  "source": str(tmp_path), "options": ["bind"]})
    p = run(oci, bundle, cid, args=["true"])
    assert p.returncode != 0
    assert "mount /proc/self/attr: mounting over /proc is not allowed" in p.stderr


def test_runtime_binary_cannot_be_run_from_the_container(oci, bundle, cid, tmp_path,
                                                        busybox_rootfs):
    """CVE-2019-5736: a planted "#!/proc/self/exe" must not run the host's interpreter."""
    rootfs = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    (rootfs / "evil").write_text("#!/proc/self/exe\nprint('pwned')\n")
    (rootfs / "evil").chmod(0o755)
    bundle.spec["root"] = {"path": str(rootfs), "readonly": True}
    p = run(oci, bundle, cid, args=["/evil"])
    assert p.returncode != 0
    assert "CVE-2019-5736" in p.stderr
    assert "pwned" not in p.stdout


def test_no_pivot_moves_the_root(oci, bundle, cid):
    bundle.write(args=sh("ls /bin/busybox && readlink /proc/self/root"))
    p = oci("run", "--no-pivot", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["/bin/busybox", "/"]


def test_join_an_existing_network_namespace_by_path(oci, bundle, cid):
    bundle.write(args=["sleep", "30"])
    oci("run", "--detach", "--bundle", str(bundle.path), cid)
    pid = oci.state(cid)["pid"]
    ns = bundle.spec["linux"]["namespaces"]
    for n in ns:
        if n["type"] == "network":
            n["path"] = f"/proc/{pid}/ns/net"
    second = cid + "-2"
    p = run(oci, bundle, second, args=sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts"))
    net, uts = p.stdout.split()
    assert net == os.readlink(f"/proc/{pid}/ns/net")
    assert uts != os.readlink(f"/proc/{pid}/ns/uts")


def test_bad_config_is_one_clear_error(oci, bundle, cid):
    bundle.spec["process"]["args"] = []
    (bundle.path / "config.json").write_text(json.dumps(bundle.spec))
    p = oci("run", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode != 0
    assert "process.args: must be a non-empty list of strings" in p.stderr
    (bundle.path / "config.json").write_text("{not json")
    p = oci("run", "--bundle", str(bundle.path), cid, check=False)
    assert "config.json: not valid JSON" in p.stderr
    assert oci.ids() == []


def test_json_log_ends_with_the_error(oci, bundle, cid, tmp_path):
    log = tmp_path / "log.json"
    p = oci("--log", str(log), "--log-format", "json", "kill", cid, check=False)
    assert p.returncode != 0
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "container does not exist" in last["msg"]
    assert set(last) == {"level", "msg", "time"}


# ---- documents validate against the runtime-spec schemas -----------------------------------

def _validate(kind: str, path) -> str:
    checker = conformance_dir("oci-runtime-spec") / "check_schema_tests.py"
    p = subprocess.run([sys.executable, str(checker), "--validate", kind, str(path)],
                       capture_output=True, text=True)
    return p.stdout.strip() + p.stderr.strip()


def test_state_spec_and_features_validate(oci, bundle, cid, tmp_path):
    bundle.write(args=["sleep", "30"])
    oci("create", "--bundle", str(bundle.path), cid)
    (tmp_path / "state.json").write_text(oci("state", cid).stdout)
    assert _validate("state", tmp_path / "state.json") == "OK"
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    oci("spec", "--bundle", str(spec_dir))
    assert _validate("config", spec_dir / "config.json") == "OK"
    p = oci("spec", "--bundle", str(spec_dir), check=False)
    assert p.returncode != 0 and "exists" in p.stderr
    (tmp_path / "features.json").write_text(oci("features").stdout)
    assert _validate("features", tmp_path / "features.json") == "OK"
    oci("delete", "--force", cid)


def test_list_shows_containers(oci, bundle, cid):
    bundle.write(args=["sleep", "30"])
    oci("create", "--bundle", str(bundle.path), cid)
    table = oci("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == cid and table[1].split()[2] == "created"
    (entry,) = json.loads(oci("list", "--format", "json").stdout)
    assert entry["id"] == cid and entry["status"] == "created"
    assert oci("list", "-q").stdout == cid + "\n"


def test_foreground_run_relays_a_terminal_without_a_console_socket(oci, bundle, cid):
    """`runc spec && runc run` works with terminal: true; so does pyrun-oci."""
    bundle.write(terminal=True, args=sh("tty; read line; echo got:$line; exit 4"))
    p = oci("run", "--bundle", str(bundle.path), cid, check=False,
            input=b"typed\n", stdin=None)
    assert p.returncode == 4, p.stderr
    out = p.stdout.replace("\r", "")
    assert "/dev/pts/0\n" in out and "got:typed\n" in out  # (the pty echoes "typed")
    p = oci("run", "--detach", "--bundle", str(bundle.path), cid, check=False)
    assert p.returncode != 0 and "console socket is needed" in p.stderr


@pytest.mark.vm
def test_cgroup_v2_device_program_is_enforced_by_the_kernel(tmp_path):
    """The eBPF device filter, attached to a cgroup2 directory (this host's unified mount on
    a hybrid host, /sys/fs/cgroup itself on a unified one): mknod of a block device is
    refused in it, and allowed in a control cgroup without the program."""
    from runtime.linux.cgroups import DEFAULT_DEVICE_RULES, devices_bpf
    unified = "/sys/fs/cgroup" if cgroups.mode() == "unified" else "/sys/fs/cgroup/unified"
    if not os.path.exists(os.path.join(unified, "cgroup.procs")):
        pytest.skip("no cgroup2 hierarchy on this host")
    import stat
    results = {}
    opening = [r for r in DEFAULT_DEVICE_RULES if r["access"] != "m"]  # no mknod wildcard
    for name, rules in (("pyrun-t-bpf-deny", [{"allow": False, "access": "rwm"}] + opening),
                        ("pyrun-t-bpf-control", None)):
        d = os.path.join(unified, name)
        os.mkdir(d)
        try:
            if rules is not None:
                devices_bpf.attach(d, rules)
            pid = os.fork()
            if pid == 0:
                code = 3
                try:
                    with open(os.path.join(d, "cgroup.procs"), "w") as f:
                        f.write("0")
                    try:
                        os.mknod(str(tmp_path / name), stat.S_IFBLK | 0o600, os.makedev(7, 0))
                        code = 0
                    except PermissionError:
                        code = 1
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            results[name] = os.waitstatus_to_exitcode(status)
        finally:
            os.rmdir(d)
    assert results == {"pyrun-t-bpf-deny": 1, "pyrun-t-bpf-control": 0}


def test_lsm_fields_are_ignored_with_a_log_line(oci, bundle, cid, tmp_path):
    bundle.spec["process"]["apparmorProfile"] = "docker-default"
    bundle.write(args=["true"])
    log = tmp_path / "log.json"
    p = oci("--log", str(log), "--log-format", "json", "run", "--bundle", str(bundle.path), cid,
            check=False)
    assert p.returncode == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e["level"] == "warning" and "apparmorProfile" in e["msg"] for e in entries)
