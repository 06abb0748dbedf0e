"""A small Kubernetes node without the kubelet, for tests/integration/test_cri.py and
`scripts/bench cri`: a private containerd with its CRI plugin and two runtime handlers
("pyrun": pyrun-oci, "runc"), Debian's CNI bridge, images built here, and a CRI client
generated from the Kubernetes CRI proto."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid

from tests.integration.conftest import BIN
from tests.integration.oci_archive import make_oci_archive
from tests.integration.test_interop import Containerd, wait_for

PAUSE = "registry.k8s.io/pause:pyrun-test"
APP = "docker.io/library/busybox:pyrun-cri"
CGROUP_PARENT = "/pyrun-cri"
SUBNET = "10.77.0.0/24"


def cri_stubs(proto_path: str, out_dir: str):
    """runtime.v1's Python stubs, generated from the conformance copy of the proto (the
    gogoproto import and options are Go-only: dropped, as the corpus's README says)."""
    with open(proto_path) as f:
        proto = f.read()
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
        cni = os.path.join(workdir, "cni")
        os.makedirs(cni)
        # The bridge plugin without ipMasq: pods reach each other and the host over the
        # bridge. portmap (hostPort) adds iptables chains of its own for pods with port
        # mappings; stop_node removes them when the host had none before.
        self.nat_before = nat_state()
        with open(os.path.join(cni, "10-pyrun.conflist"), "w") as f:
            f.write('{"cniVersion": "0.4.0", "name": "pyrun-cri", "plugins": [{"type": '
                    '"bridge", "bridge": "pyrun-cri0", "isGateway": true, "ipMasq": false, '
                    f'"ipam": {{"type": "host-local", "subnet": "{SUBNET}", '
                    f'"dataDir": "{workdir}/ipam"}}}}, {{"type": "portmap", "capabilities": '
                    '{"portMappings": true}}, {"type": "loopback"}]}\n')
        opts = 'plugins."io.containerd.grpc.v1.cri"'
        super().__init__(workdir, f'''[{opts}]
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
        Root = "{workdir}/pyrun-oci-root"
    [{opts}.containerd.runtimes.pyrun-systemd]
      runtime_type = "io.containerd.runc.v2"
      [{opts}.containerd.runtimes.pyrun-systemd.options]
        BinaryName = "{BIN}"
        Root = "{workdir}/pyrun-oci-root"
        SystemdCgroup = true
    [{opts}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
''')

    def ctr(self, *args, **kw):
        return super().ctr("--namespace", "k8s.io", *args, **kw)


def start_node(workdir: str, proto_path: str, rootfs: str) -> CriNode:
    """containerd up, the images imported, the CRI answering; n.pb / n.rt the stubs."""
    pb, rpc = cri_stubs(proto_path, workdir)
    import grpc
    n = CriNode(workdir)
    n.channel = grpc.insecure_channel(f"unix://{n.sock}")
    n.pb, n.rt = pb, rpc.RuntimeServiceStub(n.channel)
    for ref, cmd in ((PAUSE, ("sleep", "2147483647")), (APP, ("sh",))):
        path = os.path.join(workdir, ref.rsplit(":", 1)[0].replace("/", "_") + ".tar")
        n.ctr("image", "import", make_oci_archive(rootfs, path, ref, cmd))
    wait_for(lambda: _ready(n), what="the CRI plugin")
    return n


def stop_node(n: CriNode) -> None:
    remove_all_pods(n)
    n.channel.close()
    n.stop()
    subprocess.run(["ip", "link", "delete", "pyrun-cri0"], capture_output=True)
    remove_portmap_chains(n.nat_before)


FAMILIES = (("ip", "iptables"), ("ip6", "ip6tables"))


def nat_state() -> dict[str, tuple[bool, str]]:
    """Per family: (does nftables have iptables' nat table, its rules as -S prints them)."""
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    out = {}
    for family, tool in FAMILIES:
        had = f"table {family} nat" in tables.splitlines()
        rules = subprocess.run([tool, "-w", "-t", "nat", "-S"], capture_output=True,
                               text=True).stdout if had else ""
        out[family] = (had, rules)
    return out


def remove_portmap_chains(before: dict[str, tuple[bool, str]]) -> None:
    """Take out the CNI-* chains portmap made, with the jumps to them, where the host had
    none before (never someone else's); and iptables' nat tables if they were not there."""
    for family, tool in FAMILIES:
        had_table, rules = before[family]
        if "CNI-" in rules:
            continue
        ipt = [tool, "-w", "-t", "nat"]
        listing = subprocess.run([*ipt, "-S"], capture_output=True,
                                 text=True).stdout.splitlines()
        for line in listing:
            if line.startswith("-A ") and " -j CNI-" in line and \
                    not line.split()[1].startswith("CNI-"):
                subprocess.run([*ipt, "-D", *shlex.split(line)[1:]], capture_output=True)
        chains = [line.split()[1] for line in listing if line.startswith("-N CNI-")]
        for chain in chains:
            subprocess.run([*ipt, "-F", chain], capture_output=True)
        for chain in chains:
            subprocess.run([*ipt, "-X", chain], capture_output=True)
        left = [ln for ln in subprocess.run([*ipt, "-S"], capture_output=True,
                                            text=True).stdout.splitlines()
                if ln.startswith(("-A", "-N"))]
        if not had_table and not left:
            subprocess.run(["nft", "delete", "table", family, "nat"], capture_output=True)


def _ready(n) -> bool:
    try:
        return n.rt.Version(n.pb.VersionRequest(), timeout=2).runtime_name == "containerd"
    except Exception:  # noqa: BLE001 - not serving yet
        return False


def remove_all_pods(n) -> None:
    try:
        pods = n.rt.ListPodSandbox(n.pb.ListPodSandboxRequest(), timeout=10).items
    except Exception:  # noqa: BLE001 - containerd did not come up
        return
    for p in pods:
        n.rt.StopPodSandbox(n.pb.StopPodSandboxRequest(pod_sandbox_id=p.id), timeout=30)
        n.rt.RemovePodSandbox(n.pb.RemovePodSandboxRequest(pod_sandbox_id=p.id), timeout=30)


def sandbox_config(pb, name: str, log_dir: str, ports=(), cgroup_parent=CGROUP_PARENT):
    """ports: (host port, container port) pairs, published on 127.0.0.1 by portmap."""
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="pyrun"),
        hostname=name, log_directory=log_dir,
        port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=c, host_port=h,
                                      host_ip="127.0.0.1") for h, c in ports],
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent))


def container_config(pb, name: str, command, **linux):
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name),
                              image=pb.ImageSpec(image=APP), command=list(command),
                              log_path=f"{name}.log", linux=pb.LinuxContainerConfig(**linux))
