"""Real clients of pyrun-oci: containerd (through its runc shim) and podman (through conmon).

Each test starts private instances with their own sockets, roots and state under a
pyrun-named temporary directory, and removes them afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from tests.conftest import unmount_under
from tests.integration.conftest import BIN, leftover_cgroups, remove_cgroup_tree
from tests.integration.oci_archive import make_oci_archive

IMAGE = "docker.io/library/busybox:pyrun-test"


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not installed (Debian package {package}; scripts/setup installs it)")
    return path


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="pyrun-interop-", dir="/run")
    yield d
    unmount_under(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def image_archive(busybox_rootfs, workdir):
    return make_oci_archive(str(busybox_rootfs), os.path.join(workdir, "busybox.tar"), IMAGE)


# ---- containerd --------------------------------------------------------------------------------

class Containerd:
    """A private containerd: its own root, state and sockets under workdir. plugins: more
    of config.toml (the CRI plugin's section); without it the CRI plugin is off."""

    def __init__(self, workdir: str, plugins: str = ""):
        self.dir = workdir
        self.sock = os.path.join(workdir, "containerd.sock")
        self.runc_root = os.path.join(workdir, "pyrun-oci-root")
        cfg = os.path.join(workdir, "config.toml")
        with open(cfg, "w") as f:
            f.write(f'version = 2\nroot = "{workdir}/root"\nstate = "{workdir}/state"\n' +
                    ('' if plugins else 'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n') +
                    f'[grpc]\n  address = "{self.sock}"\n'
                    f'[ttrpc]\n  address = "{self.sock}.ttrpc"\n' + plugins)
        self.log = open(os.path.join(workdir, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                 what="containerd's socket")
        assert self.proc.poll() is None, open(os.path.join(workdir, "containerd.log")).read()

    def ctr(self, *args, check=True, timeout=60, **kw):
        p = subprocess.run(["ctr", "--address", self.sock, *args], capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def stop(self):
        for task in self.ctr("task", "ls", "-q", check=False).stdout.split():
            self.ctr("task", "kill", "-s", "KILL", task, check=False)
            self.ctr("task", "delete", "-f", task, check=False)
        for c in self.ctr("container", "ls", "-q", check=False).stdout.split():
            self.ctr("container", "delete", c, check=False)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@pytest.fixture
def containerd(workdir, image_archive):
    need("containerd", "containerd")
    need("containerd-shim-runc-v2", "containerd")
    c = Containerd(workdir)
    try:
        c.ctr("image", "import", image_archive)
        yield c
    finally:
        c.stop()
        remove_cgroup_tree("pyrun-ctr")


def ctr_run_args(c: Containerd, cid: str) -> list[str]:
    return ["run", "--runc-binary", BIN, "--runc-root", c.runc_root,
            "--cgroup", f"/pyrun-ctr/{cid}"]


def test_containerd_runs_a_busybox_image_with_pyrun_oci(containerd):
    cid = f"pyrun-ctr-{uuid.uuid4().hex[:8]}"
    p = containerd.ctr(*ctr_run_args(containerd, cid), "--rm", IMAGE, cid,
                       "sh", "-c", "echo hello as pid $$; exit 3", check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == "hello as pid 1"
    assert containerd.ctr("container", "ls", "-q").stdout.strip() == ""
    root = f"{containerd.runc_root}/default"
    assert not os.path.isdir(root) or os.listdir(root) == []


def test_containerd_default_seccomp_profile_is_applied(containerd):
    # containerd's own default profile (its OCI form of Docker's), loaded by pyrun-oci: the
    # task and a process exec'd into it both run filtered.
    cid = f"pyrun-ctr-{uuid.uuid4().hex[:8]}"
    containerd.ctr(*ctr_run_args(containerd, cid), "--seccomp", "-d", IMAGE, cid,
                   "sleep", "300")
    try:
        p = containerd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c",
                           "grep Seccomp: /proc/1/status /proc/self/status; "
                           "unshare -U true 2>/dev/null || echo unshare-refused")
        assert p.stdout.split() == ["/proc/1/status:Seccomp:", "2",
                                    "/proc/self/status:Seccomp:", "2", "unshare-refused"]
    finally:
        containerd.ctr("task", "kill", "-s", "KILL", cid, check=False)
        wait_for(lambda: "RUNNING" not in containerd.ctr("task", "ls").stdout,
                 what="task to stop")
        containerd.ctr("task", "delete", cid, check=False)
        containerd.ctr("container", "delete", cid, check=False)


def test_containerd_detached_run_exec_kill_delete(containerd):
    cid = f"pyrun-ctr-{uuid.uuid4().hex[:8]}"
    containerd.ctr(*ctr_run_args(containerd, cid), "-d", IMAGE, cid, "sleep", "300")
    tasks = containerd.ctr("task", "ls").stdout
    assert cid in tasks and "RUNNING" in tasks
    # the state that containerd keeps for pyrun-oci is pyrun-oci's own
    state = subprocess.run([BIN, "--root", f"{containerd.runc_root}/default", "state", cid],
                           capture_output=True, text=True)
    assert '"status": "running"' in state.stdout, state.stderr
    p = containerd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c",
                       "echo exec-ok; cat /proc/1/cmdline; exit 4", check=False)
    assert p.returncode == 4, p.stderr
    assert p.stdout.startswith("exec-ok\nsleep")
    containerd.ctr("task", "pause", cid)
    assert "PAUSED" in containerd.ctr("task", "ls").stdout
    containerd.ctr("task", "resume", cid)
    pids = containerd.ctr("task", "ps", cid).stdout
    assert len(pids.strip().splitlines()) >= 2  # header + sleep
    containerd.ctr("task", "kill", "-s", "KILL", cid)
    wait_for(lambda: "STOPPED" in containerd.ctr("task", "ls").stdout, what="task to stop")
    containerd.ctr("task", "delete", cid)
    containerd.ctr("container", "delete", cid)
    assert not os.path.exists(f"{containerd.runc_root}/default/{cid}")
    assert not any(os.path.exists(f"/sys/fs/cgroup/{c}/pyrun-ctr/{cid}")
                   for c in ("memory", "pids", "unified", ""))


# ---- podman ------------------------------------------------------------------------------------

@pytest.fixture
def podman(workdir, image_archive):
    need("podman", "podman")
    conf = os.path.join(workdir, "containers.conf")
    with open(conf, "w") as f:
        # This host cannot raise rlimits above their hard limits (no CAP_SYS_RESOURCE).
        f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                f'events_logfile_path = "{workdir}/events.log"\n')
    env = dict(os.environ, CONTAINERS_CONF=conf)
    base = ["podman", "--root", f"{workdir}/storage", "--runroot", f"{workdir}/runroot",
            "--runtime", BIN, "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
            "--tmpdir", f"{workdir}/tmp"]

    def run(*args, check=True, timeout=120):
        p = subprocess.run(base + list(args), capture_output=True, text=True, env=env,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: exit {p.returncode}\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    run("load", "-i", image_archive)
    try:
        yield run
    finally:
        run("rm", "-af", "-t", "0", check=False)
        run("system", "reset", "-f", check=False)
        remove_cgroup_tree("pyrun-podman")  # podman leaves the --cgroup-parent it made
    assert not leftover_cgroups("pyrun-podman")


def test_podman_runs_a_busybox_image_with_pyrun_oci(podman):
    p = podman("run", "--rm", "--network", "none", "--cgroup-parent", "/pyrun-podman", IMAGE,
               "sh", "-c", "echo hello from podman; id -u; exit 5", check=False)
    assert p.returncode == 5, p.stderr
    assert p.stdout.split("\n")[:2] == ["hello from podman", "0"]


def test_podman_detached_container_and_exec(podman):
    name = f"pyrun-pod-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--name", name, "--network", "none", "--cgroup-parent", "/pyrun-podman",
           IMAGE, "sleep", "300")
    assert podman("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
    p = podman("exec", name, "sh", "-c", "echo exec-ok; exit 6", check=False)
    assert p.returncode == 6 and p.stdout == "exec-ok\n", p.stderr
    podman("rm", "-f", "-t", "0", name)
    assert podman("ps", "-aq").stdout.strip() == ""
