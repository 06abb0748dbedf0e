"""The engine on the real kernel: containers from a busybox image, the bridge, ports."""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import free_port
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures

HTTPD = ["sh", "-c", "mkdir -p /www && echo \"hello from $(hostname)\" > /www/index.html && "
         "exec httpd -f -p 80 -h /www"]


def leftovers() -> dict:
    """What pyrun puts on the host while containers run; all empty when none does."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if "pyrun" in line]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return {
        "links": [line.split(": ")[1] for line in links.splitlines() if "pyrun" in line],
        "tables": [t for t in tables.splitlines() if "pyrun" in t],
        "mounts": mounts,
        "netns": os.listdir("/run/pyrun/netns") if os.path.isdir("/run/pyrun/netns") else [],
        "leases": [ip for d in glob.glob("/var/lib/pyrun/network/leases*")
                   for ip in os.listdir(d)],
        "monitors": [p for p in procs.splitlines() if "runtime.engine.monitor" in p],
        # the resolver of user-defined networks, and what it serves
        "dns": [p for p in procs.splitlines() if "pyrun-dns" in p] +
        (os.listdir("/run/pyrun/dns") if os.path.isdir("/run/pyrun/dns") else []),
        # where a detached -t container's monitor receives its terminal
        "consoles": glob.glob("/run/pyrun/console-*.sock"),
    }


NOTHING = {"links": [], "tables": [], "mounts": [], "netns": [], "leases": [], "monitors": [],
           "dns": [], "consoles": []}


def settled(*keys: str, timeout: float = 10) -> dict:
    """leftovers() once those keys (all, if none named) are empty, or at the deadline. Some
    goes in the background: a veth with its namespace (the kernel), the bridge and the NAT
    table after the last container (a child of pyrun's, PYRUN_NET_LINGER seconds later)."""
    keys = keys or tuple(NOTHING)
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers()
        if all(not left[k] for k in keys) or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture
def engine(pyrun, busybox):  # noqa: F811
    """pyrun with a busybox image; every container removed afterwards, nothing left."""
    yield pyrun
    ids = pyrun("ls", "-aq", check=False).stdout.split()
    if ids:
        pyrun("rm", "-f", *ids, check=False)
    assert settled() == NOTHING


def http_get(url: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def host_ip() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def test_foreground_run_streams_output_and_exit_code(engine):
    p = engine("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3",
               check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n" and "err\n" in p.stderr
    assert engine("ls", "-aq").stdout == ""  # --rm removed it
    containers = os.path.join(engine.root, "containers")
    deadline = time.monotonic() + 5  # its files go in the background
    while os.listdir(containers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(containers) == []


def test_stdin_reaches_the_container_with_i_only(engine):
    p = engine("run", "--rm", "-i", "--network", "none", "busybox", "cat", input="to cat\n")
    assert p.stdout == "to cat\n"
    p = engine("run", "--rm", "--network", "none", "busybox", "cat", input="not read\n")
    assert p.stdout == ""  # without -i, stdin is /dev/null, as Docker's


def test_env_workdir_user_hostname_and_entrypoint(engine):
    p = engine("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", "-h", "box1",
               "busybox", "sh", "-c", "echo $FOO $(pwd) $(id -u) $(hostname)")
    assert p.stdout.split() == ["bar", "/tmp", "1000", "box1"]
    p = engine("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert p.stdout == "via entrypoint\n"


@pytest.mark.vm
def test_detached_ls_logs_exec_stop_rm(engine):
    cid = engine("run", "-d", "--name", "pyrun-t-web", "busybox", "sh", "-c",
                 "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"
                 ).stdout.strip()
    assert len(cid) == 64
    rows = engine("ls").stdout.splitlines()
    assert rows[0].split()[:2] == ["CONTAINER", "ID"] and "NAMES" in rows[0]
    assert rows[1].startswith(cid[:12]) and rows[1].rstrip().endswith("pyrun-t-web")
    assert "Up " in rows[1]
    deadline = time.monotonic() + 5
    while "started" not in engine("logs", "pyrun-t-web").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine("logs", "pyrun-t-web").stdout == "started\n"
    assert engine("exec", cid[:8], "cat", "/etc/hostname").stdout == cid[:12] + "\n"
    info = json.loads(engine("container", "inspect", "pyrun-t-web").stdout)[0]
    assert info["State"]["Running"] and info["NetworkSettings"]["IPAddress"].startswith("10.")
    engine("stop", "pyrun-t-web")
    assert engine("logs", "pyrun-t-web").stdout == "started\nbye\n"
    row = engine("ls", "-a").stdout.splitlines()[1]
    assert "Exited (0)" in row
    assert engine("ls", "-q").stdout == ""
    engine("rm", "pyrun-t-web")
    assert engine("ls", "-aq").stdout == ""


@pytest.mark.vm
def test_published_port_answers_on_loopback_and_host_address(engine):
    port = free_port()
    engine("run", "-d", "--name", "pyrun-t-httpd", "-p", f"{port}:80", "busybox", *HTTPD)
    assert f"0.0.0.0:{port}->80/tcp" in engine("ls").stdout
    assert http_get(f"http://127.0.0.1:{port}/").startswith("hello from ")
    assert http_get(f"http://{host_ip()}:{port}/").startswith("hello from ")
    assert engine("container", "port", "pyrun-t-httpd").stdout == f"80/tcp -> 0.0.0.0:{port}\n"
    assert engine("port", "pyrun-t-httpd", "80").stdout == f"0.0.0.0:{port}\n"  # docker port
    p = engine("port", "pyrun-t-httpd", "81/udp", check=False)
    assert p.returncode != 0 and "No public port '81/udp'" in p.stderr
    # a second container on the same host port is refused before it starts
    p = engine("run", "-d", "-p", f"{port}:80", "busybox", *HTTPD, check=False)
    assert p.returncode == 125 and "port is already allocated" in p.stderr
    engine("rm", "-f", "pyrun-t-httpd")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)


def test_port_in_use_by_another_program_is_refused(engine):
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        p = engine("run", "-d", "-p", f"{port}:80", "busybox", *HTTPD, check=False)
        assert p.returncode == 125 and "port is already allocated" in p.stderr
    finally:
        s.close()


def test_containers_reach_each_other_and_the_hairpin(engine):
    port = free_port()
    engine("run", "-d", "--name", "pyrun-t-a", "-p", f"{port}:80", "busybox", *HTTPD)
    net = json.loads(engine("container", "inspect", "pyrun-t-a").stdout)[0]["NetworkSettings"]
    ip = net["IPAddress"]
    # the MAC is made of the address (as Docker's): one handed out again brings the same MAC
    mac = "02:70:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert net["MacAddress"] == mac
    assert engine("exec", "pyrun-t-a", "cat", "/sys/class/net/eth0/address").stdout == mac + "\n"
    p = engine("run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{ip}/")
    assert p.stdout.startswith("hello from ")
    p = engine("run", "--rm", "busybox", "wget", "-q", "-O", "-", f"http://{host_ip()}:{port}/")
    assert p.stdout.startswith("hello from ")  # another container through the published port


def test_network_none_and_host(engine):
    p = engine("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    names = [line.split(": ")[1] for line in p.stdout.splitlines()]
    assert names == ["lo"]
    assert "<LOOPBACK,UP,LOWER_UP>" in p.stdout  # up, as Docker's: 127.0.0.1 works inside
    p = engine("run", "--rm", "--network", "none", "busybox", "sh", "-c",
               "httpd -p 127.0.0.1:8000 -h /etc && wget -q -O - http://127.0.0.1:8000/hostname")
    assert p.stdout.strip() and len(p.stdout.strip()) == 12  # the container's own hostname
    p = engine("run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net")
    assert p.stdout.strip() == os.readlink("/proc/self/ns/net")


def test_random_host_port_and_publish_all(engine, tmp_path):
    from tests.integration.test_build import context
    ctx = context(tmp_path, "FROM busybox\nEXPOSE 80\n")
    engine("build", "-t", "exposed:1", ctx)
    engine("run", "-d", "--name", "pyrun-t-p", "-P", "exposed:1", *HTTPD)
    mapping = engine("container", "port", "pyrun-t-p").stdout.strip()
    port = int(mapping.rsplit(":", 1)[1])
    assert port > 0 and http_get(f"http://127.0.0.1:{port}/").startswith("hello from ")


@pytest.mark.parametrize("args,message", [
    # --pull never: a missing image is otherwise looked for on Docker Hub, out of the
    # tests' reach (runtime/registry/client.py ensure(); tests/unit/test_registry_client.py)
    (["--pull", "never", "nosuch:image"], "Unable to find image 'nosuch:image' locally"),
    (["-p", "80000:80", "busybox", "true"], "invalid port spec"),
    (["-p", "abc", "busybox", "true"], "invalid port spec"),
    (["-m", "lots", "busybox", "true"], "invalid memory size"),
    (["--network", "mesh", "busybox", "true"], "network mesh not found"),
])
def test_bad_input_is_one_line_exit_125_nothing_made(engine, args, message):
    p = engine("run", *args, check=False)
    assert p.returncode == 125
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert engine("ls", "-aq").stdout == ""


def test_duplicate_name_and_missing_command(engine, tmp_path):
    engine("run", "-d", "--name", "pyrun-t-dup", "busybox", "sleep", "30")
    p = engine("run", "--name", "pyrun-t-dup", "busybox", "true", check=False)
    assert p.returncode == 125 and "is already in use" in p.stderr
    from tests.integration.test_build import context
    engine("build", "-t", "nocmd:1", context(tmp_path, "FROM busybox\nCMD []\n"))
    p = engine("run", "nocmd:1", check=False)
    assert p.returncode == 125 and "No command specified" in p.stderr
    p = engine("run", "--rm", "busybox", "no-such-program", check=False)
    assert p.returncode == 127 and "executable file not found" in p.stderr
    # the runtime's typed failure crosses the monitor's fork whole (engine/oci.py Creating)
    p = engine("run", "-d", "busybox", "no-such-program", check=False)
    assert p.returncode == 127 and "executable file not found" in p.stderr
    p = engine("run", "--rm", "busybox", "/etc/hostname", check=False)
    assert p.returncode == 126 and "permission denied" in p.stderr


def test_memory_limit_applies(engine):
    p = engine("run", "--rm", "-m", "32m", "busybox", "tail", "/dev/zero", check=False)
    assert p.returncode == 137


def test_killed_monitor_is_repaired_by_the_next_command(engine):
    port = free_port()
    cid = engine("run", "-d", "-p", f"{port}:80", "busybox", *HTTPD).stdout.strip()
    info = json.loads(engine("container", "inspect", cid).stdout)[0]
    os.kill(info["State"]["MonitorPid"], signal.SIGKILL)
    time.sleep(0.2)
    row = engine("ls", "-a").stdout.splitlines()[1]
    assert row.startswith(cid[:12]) and "Exited" in row
    assert leftovers()["netns"] == [] and leftovers()["leases"] == []
    assert settled("links")["links"] == []
    engine("rm", cid)


def test_concurrent_runs_get_distinct_names_and_addresses(engine):
    from tests.integration.test_build import PYRUN
    procs = [subprocess.Popen([PYRUN, "run", "-d", "busybox", "sleep", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYRUN_ROOT=engine.root))
             for _ in range(20)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [(p.returncode, r[1]) for p, r in
                                                   zip(procs, results) if p.returncode]
    infos = json.loads(engine("container", "inspect", *[r[0].strip() for r in results]).stdout)
    assert len({i["Name"] for i in infos}) == 20
    assert len({i["NetworkSettings"]["IPAddress"] for i in infos}) == 20


def test_volumes_bind_and_named(engine, tmp_path):
    (tmp_path / "in.txt").write_text("from the host\n")
    p = engine("run", "--rm", "-v", f"{tmp_path}:/data:ro", "-v", "pyrun-t-vol:/named",
               "busybox", "sh", "-c", "cat /data/in.txt; touch /data/x 2>/dev/null || "
               "echo ro; echo kept > /named/v")
    assert p.stdout == "from the host\nro\n"
    assert not (tmp_path / "x").exists()
    p = engine("run", "--rm", "-v", "pyrun-t-vol:/again", "busybox", "cat", "/again/v")
    assert p.stdout == "kept\n"  # a named volume outlives its containers
    p = engine("run", "--rm", "-v", "relative:path", "busybox", "true", check=False)
    assert p.returncode == 125 and "destination must be absolute" in p.stderr


def test_a_legacy_link_on_the_default_bridge(engine):
    sid = engine("run", "-d", "--name", "pyrun-t-db", "busybox", *HTTPD).stdout.strip()
    ip = json.loads(engine("inspect", "pyrun-t-db").stdout)[0]["NetworkSettings"]["IPAddress"]
    out = engine("run", "--rm", "--link", "pyrun-t-db:database", "busybox", "sh", "-c",
                 "grep database /etc/hosts; wget -q -O - http://database/").stdout
    assert out.splitlines() == [f"{ip}\tdatabase {sid[:12]} pyrun-t-db",
                                f"hello from {sid[:12]}"]
    engine("create", "--name", "pyrun-t-web", "--link", "pyrun-t-db", "busybox", "grep",
           sid[:12], "/etc/hosts")
    assert json.loads(engine("inspect", "pyrun-t-web").stdout)[0]["HostConfig"]["Links"] == \
        ["/pyrun-t-db:/pyrun-t-web/pyrun-t-db"]
    engine("stop", "-t", "0", "pyrun-t-db")
    p = engine("start", "pyrun-t-web", check=False)
    assert p.returncode == 1 and "Cannot link to a non running container: /pyrun-t-db AS " \
        "/pyrun-t-web/pyrun-t-db" in p.stderr
    # the link follows both ends through a rename; the alias stays
    engine("rename", "pyrun-t-db", "pyrun-t-db2")
    engine("rename", "pyrun-t-web", "pyrun-t-web2")
    assert json.loads(engine("inspect", "pyrun-t-web2").stdout)[0]["HostConfig"]["Links"] == \
        ["/pyrun-t-db2:/pyrun-t-web2/pyrun-t-db"]
    engine("start", "pyrun-t-db2")
    ip = json.loads(engine("inspect", "pyrun-t-db2").stdout)[0]["NetworkSettings"]["IPAddress"]
    assert engine("start", "-a", "pyrun-t-web2").stdout == \
        f"{ip}\tpyrun-t-db {sid[:12]} pyrun-t-db2\n"
    p = engine("run", "--rm", "--link", "pyrun-t-none", "busybox", "true", check=False)
    assert p.returncode == 125 and "No such container: pyrun-t-none" in p.stderr


def test_hosts_dns_and_capabilities(engine):
    p = engine("run", "--rm", "--add-host", "db.local:10.1.2.3", "--dns", "9.9.9.9",
               "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "busybox", "sh", "-c",
               "grep db.local /etc/hosts; grep nameserver /etc/resolv.conf; "
               "grep CapEff /proc/self/status")
    assert p.stdout.split("\n")[:3] == ["10.1.2.3\tdb.local", "nameserver 9.9.9.9",
                                         "CapEff:\t0000000000000400"]
    p = engine("run", "--rm", "--privileged", "busybox", "grep", "CapEff", "/proc/self/status")
    with open("/proc/self/status") as f:
        bnd = next(line.split()[1] for line in f if line.startswith("CapBnd"))
    assert p.stdout.split()[1] == bnd  # everything the engine itself may give


def test_tty_foreground_and_detached(engine):
    p = engine("run", "--rm", "-t", "busybox", "sh", "-c", "tty; exit 4", check=False)
    assert p.returncode == 4 and p.stdout.replace("\r", "") == "/dev/pts/0\n"
    cid = engine("run", "-dt", "busybox", "sh", "-c", "tty; sleep 30").stdout.strip()
    deadline = time.monotonic() + 5
    while "/dev/pts" not in engine("logs", cid).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine("logs", cid).stdout.replace("\r", "") == "/dev/pts/0\n"
    # a start that fails while it is prepared leaves no socket behind for the terminal
    engine("create", "--name", "pyrun-t-stopped", "--network", "none", "busybox", "true")
    p = engine("run", "-dt", "--network", "container:pyrun-t-stopped", "busybox", "sh",
               check=False)
    assert p.returncode == 125 and "non running container" in p.stderr
    assert glob.glob("/run/pyrun/console-*.sock") == []


def test_a_reader_that_goes_away_ends_the_run_as_in_a_pipeline(engine):
    # `pyrun run --rm busybox yes | head -1`: the container's writer gets EPIPE, as in a
    # shell pipeline, instead of pyrun dying on its own write and leaving it running
    from tests.integration.test_build import PYRUN
    p = subprocess.Popen([PYRUN, "run", "--rm", "--network", "none", "busybox", "yes"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, PYRUN_ROOT=engine.root))
    assert p.stdout.readline() == b"y\n"
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=30) == 1, err  # busybox's yes, as PID 1, exits 1 on EPIPE
    assert "Broken pipe" in err and "pyrun:" not in err
    assert engine("ls", "-aq").stdout == ""  # --rm did its work


def test_a_file_can_be_bind_mounted(engine, tmp_path):
    f = tmp_path / "conf.txt"
    f.write_text("single file\n")
    p = engine("run", "--rm", "-v", f"{f}:/etc/app.conf:ro", "busybox", "cat", "/etc/app.conf")
    assert p.stdout == "single file\n"


def test_create_start_wait_top_restart_prune(engine):
    cid = engine("create", "--name", "pyrun-t-cr", "busybox", "sh", "-c", "echo ran; exit 3"
                 ).stdout.strip()
    row = engine("ls", "-a").stdout.splitlines()[1]
    assert row.startswith(cid[:12]) and "Created" in row and "…" in row
    engine("start", "pyrun-t-cr")
    assert engine("wait", "pyrun-t-cr").stdout == "3\n"
    assert engine("logs", "pyrun-t-cr").stdout == "ran\n"
    engine("run", "-d", "--name", "pyrun-t-top", "busybox", "sleep", "30")
    top = engine("top", "pyrun-t-top").stdout.splitlines()  # docker top's ps -ef columns
    assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert top[1].split()[-2:] == ["sleep", "30"] and len(top) == 2
    top = engine("top", "pyrun-t-top", "-eo", "pid,args").stdout.splitlines()
    assert top[0].split() == ["PID", "COMMAND"] and top[1].split()[1:] == ["sleep", "30"]
    before = json.loads(engine("container", "inspect", "pyrun-t-top").stdout)[0]["State"]
    engine("restart", "-t", "1", "pyrun-t-top")
    after = json.loads(engine("container", "inspect", "pyrun-t-top").stdout)[0]["State"]
    assert after["Running"] and after["Pid"] != before["Pid"]
    engine("stop", "-t", "1", "pyrun-t-top")
    out = engine("container", "prune").stdout
    assert out.strip().endswith("Total: 2 containers")
    assert engine("ls", "-aq").stdout == ""


def test_restart_policies(engine):
    engine("run", "-d", "--name", "pyrun-t-rs", "--restart", "on-failure:2", "busybox", "sh",
           "-c", "echo try; exit 1")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = json.loads(engine("container", "inspect", "pyrun-t-rs").stdout)[0]
        if info.get("RestartCount") == 2 and not info["State"]["Running"]:
            break
        time.sleep(0.2)
    assert info["RestartCount"] == 2 and engine("logs", "pyrun-t-rs").stdout == "try\n" * 3
    engine("run", "-d", "--name", "pyrun-t-always", "--restart", "always", "busybox",
           "sleep", "30")
    engine("stop", "-t", "1", "pyrun-t-always")  # a user's stop is final
    time.sleep(0.5)
    assert "Exited" in engine("ls", "-a", "-f", "name=pyrun-t-always").stdout
    p = engine("run", "--rm", "--restart", "always", "busybox", "true", check=False)
    assert p.returncode == 125 and "Conflicting options" in p.stderr


def test_monitor_killed_during_setup_is_repaired(engine):
    """SIGKILL of the monitor before its container ran: the half-made network and mounts
    are removed by the next command, and the container shows Exited."""
    from runtime.engine import containers as cmod
    from runtime.image.store import Store
    store = Store(engine.root)
    from runtime.engine.create import CreateOptions, create
    c = create(store, "busybox", CreateOptions(command=("sleep", "30"), publish=("80",)))
    pid = os.fork()
    if pid == 0:  # a monitor that gets as far as the network, then dies
        try:
            cmod.prepare(c)
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    c.reload()
    c.state.monitored_by(pid, 1)
    c.save()
    assert leftovers()["links"] != []  # the veth of the half-made container
    row = engine("ls", "-a").stdout.splitlines()[1]
    assert row.startswith(c.id[:12]) and "Exited" in row
    assert leftovers()["netns"] == [] and leftovers()["leases"] == []
    assert settled("links")["links"] == []


def test_udp_port_is_published(engine):
    """busybox-static has no UDP listener, so a child of this test joins the container's
    network namespace and listens there: the datagram must cross the published port."""
    from runtime.linux import syscalls as sc
    port = free_port()
    engine("run", "-d", "--name", "pyrun-t-udp", "-p", f"{port}:9999/udp", "busybox",
           "sleep", "30")
    netns = json.loads(engine("container", "inspect", "pyrun-t-udp").stdout)[0][
        "NetworkSettings"]["Netns"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(netns, os.O_RDONLY)
            sc.setns(fd, sc.CLONE_NEWNET, netns)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 9999))
            os.write(w, b"ready\n")
            s.settimeout(5)
            os.write(w, s.recv(100))
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 6) == b"ready\n"
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"datagram\n", ("127.0.0.1", port))
        s.close()
        assert os.read(r, 100) == b"datagram\n"
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert f"0.0.0.0:{port}->9999/udp" in engine("ls").stdout


def test_warns_when_the_program_listens_on_loopback_only(engine):
    port = free_port()
    p = engine("run", "-d", "-p", f"{port}:80", "busybox", "sh", "-c",
               "mkdir -p /www; exec httpd -f -p 127.0.0.1:80 -h /www")
    assert "listens on 127.0.0.1:80 only" in p.stderr


def test_init_reaps_orphans_forwards_signals_and_keeps_the_exit_code(engine):
    p = engine("run", "--rm", "--init", "busybox", "sh", "-c",
               "cat /proc/1/cmdline | tr '\\0' ' '; echo; (sleep 0.1 &) ; sleep 0.5; "
               "ps -o stat,comm | grep -c '^Z' || true; exit 5", check=False)
    lines = p.stdout.splitlines()
    assert p.returncode == 5, p.stderr
    assert lines[0].startswith("/sbin/pyrun-init -- sh -c")  # PID 1 is the init
    assert lines[1] == "0"  # the orphaned sleep was reaped: no zombie left
    # sh as PID 1 would ignore SIGTERM; under the init it is forwarded and ends the container
    engine("run", "-d", "--name", "pyrun-t-init", "--init", "busybox", "sleep", "30")
    t = time.monotonic()
    engine("stop", "-t", "10", "pyrun-t-init")
    assert time.monotonic() - t < 5
    assert "Exited (143)" in engine("ls", "-a", "-f", "name=pyrun-t-init").stdout


def test_exec_with_a_terminal(engine):
    engine("run", "-d", "--name", "pyrun-t-ex", "busybox", "sleep", "30")
    p = engine("exec", "-t", "pyrun-t-ex", "sh", "-c", "tty; exit 6", check=False)
    assert p.returncode == 6
    assert p.stdout.replace("\r", "").startswith("/dev/pts/")
    p = engine("exec", "pyrun-t-ex", "sh", "-c", "tty || true")
    assert p.stdout.strip() == "not a tty"
