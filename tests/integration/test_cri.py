"""A small Kubernetes node without the kubelet: a private containerd with its CRI plugin,
pyrun-oci as a runtime handler (as a RuntimeClass names it), Debian's CNI plugins, a pause
and an app image built here, and a CRI client generated at test time from the Kubernetes CRI
proto (../shared/conformance/cri-api). Pods are walked through the CRI as a kubelet would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import conformance_dir
from tests.integration.conftest import BIN, leftover_cgroups, remove_cgroup_tree
from tests.integration.oci_archive import make_oci_archive
from tests.integration.test_interop import Containerd, need, wait_for, workdir  # noqa: F401

PAUSE = "registry.k8s.io/pause:pyrun-test"
APP = "docker.io/library/busybox:pyrun-cri"
CGROUP_PARENT = "/pyrun-cri"
SUBNET = "10.77.0.0/24"


def cri_stubs(out_dir: str):
    """runtime.v1's Python stubs, generated from the conformance copy of the proto (the
    gogoproto import and options are Go-only: dropped, as the corpus's README says)."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools not installed (pip install "
                        "-e '.[test]')")
    proto = (conformance_dir("cri-api") / "api.proto").read_text()
    proto = "\n".join(line for line in proto.splitlines()
                      if "gogoproto" not in line)
    with open(os.path.join(out_dir, "api.proto"), "w") as f:
        f.write(proto)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{out_dir}",
                    f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", "api.proto"],
                   check=True)
    sys.path.insert(0, out_dir)
    try:
        import api_pb2
        import api_pb2_grpc
    finally:
        sys.path.remove(out_dir)
    return api_pb2, api_pb2_grpc


class CriNode(Containerd):
    """containerd with the CRI plugin: handlers "pyrun" (pyrun-oci) and "runc"."""

    def __init__(self, workdir: str):
        self.dir = workdir
        self.sock = os.path.join(workdir, "containerd.sock")
        self.runtime_root = os.path.join(workdir, "pyrun-oci-root")
        cni = os.path.join(workdir, "cni")
        os.makedirs(cni)
        # The bridge plugin without ipMasq and no portmap: nothing is added to the host's
        # iptables; pods reach each other and the host over the bridge.
        with open(os.path.join(cni, "10-pyrun.conflist"), "w") as f:
            f.write('{"cniVersion": "0.4.0", "name": "pyrun-cri", "plugins": [{"type": '
                    '"bridge", "bridge": "pyrun-cri0", "isGateway": true, "ipMasq": false, '
                    f'"ipam": {{"type": "host-local", "subnet": "{SUBNET}", '
                    f'"dataDir": "{workdir}/ipam"}}}}, {{"type": "loopback"}}]}}\n')
        opts = 'plugins."io.containerd.grpc.v1.cri"'
        cfg = os.path.join(workdir, "config.toml")
        with open(cfg, "w") as f:
            f.write(f'''version = 2
root = "{workdir}/root"
state = "{workdir}/state"
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[{opts}]
  sandbox_image = "{PAUSE}"
  # Root here lacks CAP_SYS_RESOURCE: containerd must not ask for a lower oom_score_adj
  # than its own, or every RunPodSandbox fails (with runc too).
  restrict_oom_score_adj = true
  [{opts}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
  [{opts}.containerd]
    default_runtime_name = "runc"
    [{opts}.containerd.runtimes.pyrun]
      runtime_type = "io.containerd.runc.v2"
      [{opts}.containerd.runtimes.pyrun.options]
        BinaryName = "{BIN}"
        Root = "{self.runtime_root}"
    [{opts}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
''')
        self.log = open(os.path.join(workdir, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                 what="containerd's socket")
        assert self.proc.poll() is None, open(os.path.join(workdir, "containerd.log")).read()

    def ctr(self, *args, **kw):
        return super().ctr("--namespace", "k8s.io", *args, **kw)


@pytest.fixture
def node(workdir, busybox_rootfs):  # noqa: F811
    need("containerd", "containerd")
    need("containerd-shim-runc-v2", "containerd")
    if not os.path.exists("/usr/lib/cni/bridge"):
        pytest.skip("CNI plugins not installed (Debian containernetworking-plugins)")
    pb, rpc = cri_stubs(workdir)
    import grpc
    n = CriNode(workdir)
    channel = grpc.insecure_channel(f"unix://{n.sock}")
    try:
        for ref, cmd in ((PAUSE, ("sleep", "2147483647")), (APP, ("sh",))):
            path = os.path.join(workdir, ref.rsplit(":", 1)[0].replace("/", "_") + ".tar")
            n.ctr("image", "import", make_oci_archive(str(busybox_rootfs), path, ref, cmd))
        n.pb, n.rt = pb, rpc.RuntimeServiceStub(channel)
        wait_for(lambda: _ready(n), what="the CRI plugin")
        yield n
    finally:
        _remove_all_pods(n)
        channel.close()
        n.stop()
        subprocess.run(["ip", "link", "delete", "pyrun-cri0"], capture_output=True)
        remove_cgroup_tree("pyrun-cri")


def _ready(n) -> bool:
    try:
        return n.rt.Version(n.pb.VersionRequest(), timeout=2).runtime_name == "containerd"
    except Exception:  # noqa: BLE001 - not serving yet
        return False


def _remove_all_pods(n) -> None:
    try:
        pods = n.rt.ListPodSandbox(n.pb.ListPodSandboxRequest(), timeout=10).items
    except Exception:  # noqa: BLE001 - containerd did not come up
        return
    for p in pods:
        n.rt.StopPodSandbox(n.pb.StopPodSandboxRequest(pod_sandbox_id=p.id), timeout=30)
        n.rt.RemovePodSandbox(n.pb.RemovePodSandboxRequest(pod_sandbox_id=p.id), timeout=30)


def sandbox_config(pb, name: str, log_dir: str):
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="pyrun"),
        hostname=name, log_directory=log_dir,
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=CGROUP_PARENT))


def container_config(pb, name: str, command, **linux):
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name),
                              image=pb.ImageSpec(image=APP), command=list(command),
                              log_path=f"{name}.log", linux=pb.LinuxContainerConfig(**linux))


def exec_sync(n, cid: str, script: str) -> str:
    r = n.rt.ExecSync(n.pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script],
                                           timeout=10), timeout=20)
    assert r.exit_code == 0, r.stderr.decode()
    return r.stdout.decode()


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
    state = subprocess.run([BIN, "--root", os.path.join(n.runtime_root, "k8s.io"), "state",
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
    assert os.listdir(os.path.join(n.runtime_root, "k8s.io")) == []
    wait_for(lambda: not [d for d in leftover_cgroups("pyrun-cri") if any(
        os.path.isdir(os.path.join(d, x)) for x in os.listdir(d))], what="pod cgroups gone")
    shims = subprocess.run(["pgrep", "-f", f"containerd-shim-runc-v2.*{n.sock}"],
                           capture_output=True, text=True).stdout.split()
    assert shims == []
    assert netns_names() == namespaces_before  # the pod's network namespace is gone


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}
