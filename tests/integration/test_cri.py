"""A small Kubernetes node without the kubelet (tests/integration/cri_node.py): pods walked
through containerd's CRI with pyrun-oci as their runtime handler, as a kubelet would."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import conformance_dir
from tests.integration.conftest import BIN, leftover_cgroups, remove_cgroup_tree
from tests.integration.cri_node import (APP, container_config, sandbox_config, start_node,
                                        stop_node)
from tests.integration.test_interop import need, wait_for, workdir  # noqa: F401


@pytest.fixture
def node(workdir, busybox_rootfs):  # noqa: F811
    need("containerd", "containerd")
    need("containerd-shim-runc-v2", "containerd")
    if not os.path.exists("/usr/lib/cni/bridge"):
        pytest.skip("CNI plugins not installed (Debian containernetworking-plugins)")
    pytest.importorskip("grpc_tools", reason="grpcio-tools not installed (pip install "
                        "-e '.[test]')")
    n = start_node(workdir, str(conformance_dir("cri-api") / "api.proto"),
                   str(busybox_rootfs))
    try:
        yield n
    finally:
        stop_node(n)
        remove_cgroup_tree("pyrun-cri")


def exec_sync(n, cid: str, script: str) -> str:
    r = n.rt.ExecSync(n.pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script],
                                           timeout=10), timeout=20)
    assert r.exit_code == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.mark.vm
def test_pods_run_on_pyrun_oci_through_the_cri(node, workdir):  # noqa: F811
    n, pb = node, node.pb
    namespaces_before = netns_names()
    sandbox = sandbox_config(pb, "web", os.path.join(workdir, "logs"))
    t = time.monotonic()
    pod = n.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox, runtime_handler="pyrun"),
                             timeout=30).pod_sandbox_id
    status = n.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod), timeout=10)
    ip = status.status.network.ip
    assert ip.startswith("10.77.0."), status  # CNI gave the pod its address

    limits = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_period=100000,
                                        cpu_quota=50000)
    runtime_default = pb.LinuxContainerSecurityContext(
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault))
    app = n.rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=pod, sandbox_config=sandbox,
        config=container_config(pb, "app", ["httpd", "-f", "-p", "8080", "-h", "/etc"],
                                resources=limits, security_context=runtime_default)),
        timeout=30).container_id
    n.rt.StartContainer(pb.StartContainerRequest(container_id=app), timeout=30)
    started = time.monotonic() - t
    assert started < 20
    # the pod's containers are pyrun-oci's: its own state of them, under the handler's root
    state = subprocess.run([BIN, "--root", os.path.join(n.runc_root, "k8s.io"), "state",
                            app], capture_output=True, text=True)
    assert '"status": "running"' in state.stdout, state.stderr

    memory = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
              "cat /sys/fs/cgroup/memory.max")
    out = exec_sync(n, app, f"grep Seccomp: /proc/self/status; {memory}; "
                            "cat /proc/self/oom_score_adj")
    seccomp, mem, oom = out.split("\n")[:3]
    assert seccomp.split() == ["Seccomp:", "2"]          # RuntimeDefault, applied
    assert int(mem) == 64 << 20
    assert int(oom) >= 0                                 # the container's, not the shim's 1
    n.rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=app, linux=pb.LinuxContainerResources(memory_limit_in_bytes=96 << 20,
                                                           cpu_period=100000,
                                                           cpu_quota=20000)), timeout=20)
    assert int(exec_sync(n, app, memory)) == 96 << 20

    # a second container reaches the first over the pod's network namespace
    side = n.rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=pod, sandbox_config=sandbox,
        config=container_config(pb, "side", ["sleep", "3600"])), timeout=30).container_id
    n.rt.StartContainer(pb.StartContainerRequest(container_id=side), timeout=30)
    assert "root:" in exec_sync(n, side, "wget -q -O- http://127.0.0.1:8080/passwd")

    # tty and stdin: StartContainer must come back (the shim reads create's output to its end)
    tty = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="tty"),
                             image=pb.ImageSpec(image=APP), command=["sh"], tty=True,
                             stdin=True, log_path="tty.log")
    tid = n.rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=pod, sandbox_config=sandbox, config=tty), timeout=30).container_id
    n.rt.StartContainer(pb.StartContainerRequest(container_id=tid), timeout=15)
    st = n.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=tid), timeout=10)
    assert st.status.state == pb.CONTAINER_RUNNING

    for cid in (app, side, tid):
        n.rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=2), timeout=30)
        n.rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=30)
    n.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=30)
    n.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=30)

    # nothing left: runtime state, cgroups, shims, the pod's network namespace
    assert os.listdir(os.path.join(n.runc_root, "k8s.io")) == []
    wait_for(lambda: not [d for d in leftover_cgroups("pyrun-cri") if any(
        os.path.isdir(os.path.join(d, x)) for x in os.listdir(d))], what="pod cgroups gone")
    shims = subprocess.run(["pgrep", "-f", f"containerd-shim-runc-v2.*{n.sock}"],
                           capture_output=True, text=True).stdout.split()
    assert shims == []
    assert netns_names() == namespaces_before  # the pod's network namespace is gone


@pytest.mark.vm
def test_a_shared_pid_namespace_pod_stops_promptly_with_its_orphans(node, workdir):  # noqa: F811
    """shareProcessNamespace: the pause container is PID 1 of the pod; a container whose
    init exits leaves its children there until the runtime's kill --all + delete."""
    n, pb = node, node.pb
    sandbox = sandbox_config(pb, "shared", os.path.join(workdir, "logs"))
    shared = pb.NamespaceOption(pid=pb.POD)
    sandbox.linux.security_context.namespace_options.CopyFrom(shared)
    pod = n.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox, runtime_handler="pyrun"),
                             timeout=30).pod_sandbox_id
    config = container_config(pb, "leaver", ["sh", "-c", "sleep 3600 & sleep 1; exit 0"])
    config.linux.security_context.namespace_options.CopyFrom(shared)
    cid = n.rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=pod, sandbox_config=sandbox, config=config), timeout=30).container_id
    n.rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=30)
    wait_for(pgrep_sleep_3600, what="the init's child")
    orphans = pgrep_sleep_3600()
    # When the init exits, the shim sends `kill --all` (its children would live on in the
    # pod's pid namespace): they go with it.
    wait_for(lambda: not set(orphans) & set(pgrep_sleep_3600()), timeout=10,
             what="the orphan to be gone")
    # containerd's exit handler then deletes the task (kill --all + delete) and only then
    # marks it exited: if that fails (a kill --all refused once the init is gone), the status
    # stays "running" and a stop waits out its grace period. The kubelet acts on the status
    # it reads, and so does this test: a StopContainer sent while that handler is still
    # deleting can fail with "ttrpc: closed" (containerd 1.6 closes the shim connection a
    # pending Kill waits on; seen once in the emulated VM), with runc as with pyrun-oci.
    wait_for(lambda: n.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid),
                                          timeout=10).status.state == pb.CONTAINER_EXITED,
             timeout=10, what="the container to be seen exited")
    t = time.monotonic()
    n.rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=10), timeout=30)
    assert time.monotonic() - t < 2  # not the 10 s grace period
    n.rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid), timeout=30)
    n.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=30)
    n.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=30)


def pgrep_sleep_3600() -> list[str]:
    return subprocess.run(["pgrep", "-f", "^sleep 3600$"], capture_output=True,
                          text=True).stdout.split()


@pytest.mark.vm
def test_host_ports_reach_a_pod_through_portmap(node, workdir):  # noqa: F811
    """A pod's hostPort, as the kubelet asks for it: CNI's portmap plugin publishes it; the
    pod's network namespace (made by pyrun-oci's sandbox) is where it lands."""
    n, pb = node, node.pb
    port = free_port()
    sandbox = sandbox_config(pb, "ports", os.path.join(workdir, "logs"), ports=[(port, 8080)])
    pod = n.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox, runtime_handler="pyrun"),
                             timeout=30).pod_sandbox_id
    web = n.rt.CreateContainer(pb.CreateContainerRequest(
        pod_sandbox_id=pod, sandbox_config=sandbox,
        config=container_config(pb, "web", ["httpd", "-f", "-p", "8080", "-h", "/etc"])),
        timeout=30).container_id
    n.rt.StartContainer(pb.StartContainerRequest(container_id=web), timeout=30)
    wait_for(lambda: fetch(f"http://127.0.0.1:{port}/passwd"), what="the hostPort")
    assert b"root:" in fetch(f"http://127.0.0.1:{port}/passwd")
    n.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=30)
    n.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=30)
    assert fetch(f"http://127.0.0.1:{port}/passwd") is None  # unpublished with the pod


@pytest.mark.vm
def test_the_systemd_cgroup_driver_is_refused_clearly(node, workdir):  # noqa: F811
    """SystemdCgroup = true makes the shim pass --systemd-cgroup: pyrun-oci has no systemd
    driver and says so, and the kubelet's error shows it."""
    import grpc
    n, pb = node, node.pb
    sandbox = sandbox_config(pb, "sd", os.path.join(workdir, "logs"),
                             cgroup_parent="pyrun_cri.slice")
    with pytest.raises(grpc.RpcError) as e:
        n.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox,
                                                   runtime_handler="pyrun-systemd"), timeout=30)
    assert "pyrun-oci has no systemd cgroup driver" in e.value.details()
    state = os.path.join(n.runc_root, "k8s.io")
    assert not os.path.exists(state) or os.listdir(state) == []


def fetch(url: str):
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read()
    except OSError:
        return None


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}
