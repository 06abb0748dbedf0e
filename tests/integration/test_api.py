"""The Docker Engine API (`pyrun system service`), driven by real clients: the docker CLI
and the Docker SDK for Python, against a service the test starts on a socket of its own."""

from __future__ import annotations

import json
import os
import shutil
import sys
import socket
import subprocess
import time
import uuid

import pytest

from tests.conftest import free_port, terminal_session
from tests.integration.test_build import PYRUN, busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import HTTPD, NOTHING, engine, http_get, settled  # noqa: F401
from tests.integration.test_registry import registry  # noqa: F401 - fixture

DOCKER = shutil.which("docker", path="/usr/local/bin:/usr/bin")


@pytest.fixture
def api(engine):  # noqa: F811
    """A service on /run/pyrun/test-api-XXXX.sock over the test's store; stopped, and its
    socket gone, afterwards."""
    sock = f"/run/pyrun/test-api-{uuid.uuid4().hex[:6]}.sock"
    log = open(f"{engine.root}/service.log", "w+")
    p = subprocess.Popen([PYRUN, "system", "service", "--time", "0", f"unix://{sock}"],
                         env=dict(os.environ, PYRUN_ROOT=engine.root), stdout=log,
                         stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        assert p.poll() is None and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    engine.sock = sock
    yield engine
    ids = engine("ls", "-aq", check=False).stdout.split()
    if ids:
        engine("rm", "-f", *ids, check=False)
    p.terminate()
    p.wait(timeout=10)
    assert not os.path.exists(sock)
    # Nothing of the service outlives it: a child forked to work in the background that
    # hung on a lock another thread held at the fork still has the service's command line.
    assert _processes_naming(sock) == []
    log.seek(0)
    assert "Traceback" not in log.read()


def _processes_naming(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass  # gone meanwhile
    return found


def docker(api, *args, check=True, timeout=60, **kw):
    if DOCKER is None:
        pytest.skip("the docker CLI is not installed (scripts/setup --test installs docker.io)")
    p = subprocess.run([DOCKER, "-H", f"unix://{api.sock}", *args], capture_output=True,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n"
                             f"{p.stderr}")
    return p


def raw(api, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, dict]:
    """One request on a connection of its own: (status, the JSON answer)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(api.sock)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: {len(body)}\r\n"
              f"Connection: close\r\n{headers}\r\n".encode() + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    try:
        return status, json.loads(payload) if payload.strip() else {}
    except ValueError:
        return status, {"text": payload.decode()}


def test_the_docker_cli_runs_the_tutorial_through_the_api(api):
    version = json.loads(docker(api, "version", "--format", "{{json .Server}}").stdout)
    assert version["ApiVersion"] == "1.41"
    # attached: output and exit code, stdout and stderr apart, --rm removes it
    p = docker(api, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3",
               check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    assert docker(api, "ps", "-aq").stdout == ""
    # detached with a published port
    port = free_port()
    cid = docker(api, "run", "-d", "--name", "pyrun-web", "-p", f"{port}:80", "busybox",
                 *HTTPD).stdout.strip()
    assert http_get(f"http://127.0.0.1:{port}/") == f"hello from {cid[:12]}\n"
    # an address and any port: -p 127.0.0.1::80
    docker(api, "run", "-d", "--name", "pyrun-local", "-p", "127.0.0.1::80", "busybox", *HTTPD)
    local = docker(api, "port", "pyrun-local", "80").stdout.strip()
    assert local.startswith("127.0.0.1:") and not local.endswith(":0")
    assert http_get(f"http://{local}/").startswith("hello from ")
    docker(api, "rm", "-f", "pyrun-local")
    ps = docker(api, "ps", "--format", "{{.Names}} {{.Status}} {{.Ports}}").stdout
    assert ps.startswith("pyrun-web Up") and f"0.0.0.0:{port}->80/tcp" in ps
    assert docker(api, "inspect", "-f", "{{.State.Running}} {{.Config.Image}}",
                  "pyrun-web").stdout == "true busybox\n"
    p = docker(api, "exec", "pyrun-web", "sh", "-c", "cat /www/index.html; exit 4",
               check=False)
    assert (p.returncode, p.stdout) == (4, f"hello from {cid[:12]}\n")
    assert docker(api, "exec", "-i", "pyrun-web", "cat", input="from stdin\n").stdout == \
        "from stdin\n"
    top = docker(api, "top", "pyrun-web").stdout
    assert "httpd -f -p 80" in top
    stats = docker(api, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}").stdout
    assert stats == "pyrun-web 1\n"
    # system df's rows, which the CLI makes of the layers' total and each one's sizes
    docker(api, "exec", "pyrun-web", "sh", "-c", "head -c 300000 /dev/zero > /written")
    df = {r["Type"]: r for r in map(json.loads, docker(
        api, "system", "df", "--format", "{{json .}}").stdout.splitlines())}
    assert df["Images"]["Size"] != "0B" and df["Images"]["Active"] == "1"
    assert df["Containers"]["Size"].endswith("kB") and df["Containers"]["Active"] == "1"
    size = docker(api, "ps", "-s", "--format", "{{.Size}}").stdout  # "303kB (virtual 2MB)"
    assert size.startswith(("30", "31")) and "kB (virtual " in size
    docker(api, "stop", "-t", "1", "pyrun-web")
    assert "Exited" in docker(api, "ps", "-a", "--format", "{{.Status}}").stdout
    docker(api, "rm", "pyrun-web")
    assert docker(api, "ps", "-aq").stdout == ""
    # system prune: containers, networks, dangling images and the builder's cache
    assert "Total reclaimed space" in docker(api, "system", "prune", "-f").stdout
    images = docker(api, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert "busybox:latest" in images.split()
    left = settled("netns", "leases", "monitors")
    assert not (left["netns"] or left["leases"] or left["monitors"])


def test_run_i_it_and_attach_give_the_client_the_containers_input(api):
    # run -i: the client's stdin is the container's; its end, the container's end
    p = docker(api, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo end",
               input="from stdin\n")
    assert (p.returncode, p.stdout) == (0, "from stdin\nend\n")
    assert docker(api, "ps", "-aq").stdout == ""
    # -d -i: the input stays open with no one attached (a shell waits on it, as with
    # Docker), and an attach later writes to it
    docker(api, "run", "-di", "--name", "pyrun-shell", "busybox", "sh")
    assert docker(api, "inspect", "-f", "{{.Config.OpenStdin}} {{.Config.StdinOnce}}",
                  "pyrun-shell").stdout == "true false\n"
    time.sleep(0.5)
    assert docker(api, "inspect", "-f", "{{.State.Running}}", "pyrun-shell").stdout == \
        "true\n"
    p = docker(api, "attach", "pyrun-shell", input="echo attached; exit 3\n", check=False)
    assert (p.returncode, p.stdout) == (3, "attached\n")
    # start -ai of a stopped one: attached before the start, this run's output only
    p = docker(api, "start", "-ai", "pyrun-shell", input="echo again; exit 4\n", check=False)
    assert (p.returncode, p.stdout) == (4, "again\n")
    # run -it: the client's terminal is the container's, keys in, output back, exit code
    code, seen = terminal_session([DOCKER, "-H", f"unix://{api.sock}", "run", "-it", "--rm",
                                   "busybox", "sh"],
                                  [(b"# ", b"echo $((6 * 7))\r"), (b"42", b"exit 5\r")])
    assert code == 5 and b"42\r\n" in seen
    # its size from the first instant: the client's, sent with the create (ConsoleSize)
    code, seen = terminal_session([DOCKER, "-H", f"unix://{api.sock}", "run", "-it", "--rm",
                                   "busybox", "stty", "size"], [], size=(17, 91))
    assert code == 0 and seen.strip().endswith(b"17 91"), seen
    # ctrl-p ctrl-q detach: the client goes, the container and its terminal stay for the
    # next attach, which may name keys of its own (as Docker's detachKeys)
    host = f"unix://{api.sock}"
    code, seen = terminal_session([DOCKER, "-H", host, "run", "-it", "--name", "pyrun-det",
                                   "busybox", "sh"],
                                  [(b"# ", b"echo one\r"), (b"one\r\n", b"\x10\x11")])
    assert code == 0, seen
    assert docker(api, "inspect", "-f", "{{.State.Running}}", "pyrun-det").stdout == "true\n"
    code, seen = terminal_session([DOCKER, "-H", host, "attach", "--detach-keys", "ctrl-x,x",
                                   "pyrun-det"],
                                  [(b"", b"echo $((2 * 21))\r"), (b"42\r\n", b"\x18x")])
    # the docker CLI's attach reports a detach as its error (exit 1); its run -it does not
    assert b"read escape sequence" in seen and code == 1, seen
    assert docker(api, "inspect", "-f", "{{.State.Running}}", "pyrun-det").stdout == "true\n"
    # the service watches for the keys too, for a client that does not (an SDK's socket)
    s = socket.socket(socket.AF_UNIX)
    s.connect(api.sock)
    s.settimeout(20)
    s.sendall(b"POST /containers/pyrun-det/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-y"
              b" HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    s.sendall(b"echo four\r")
    while b"four\r\n" not in got:
        got += s.recv(4096)
    s.sendall(b"\x19")  # ctrl-y: the service hangs up
    while chunk := s.recv(4096):
        got += chunk
    s.close()
    assert docker(api, "inspect", "-f", "{{.State.Running}}", "pyrun-det").stdout == "true\n"
    assert raw(api, "POST", "/containers/pyrun-det/attach?stream=1&stdin=1&detachKeys=ctrl-"
               )[0] == 400
    code, seen = terminal_session([DOCKER, "-H", host, "attach", "pyrun-det"],
                                  [(b"", b"echo three\r"), (b"three\r\n", b"exit 6\r")])
    assert code == 6, seen
    docker(api, "rm", "pyrun-det")
    docker(api, "rm", "pyrun-shell")
    assert docker(api, "ps", "-aq").stdout == ""


def test_shm_size_group_add_ulimit_apply_and_what_pyrun_cannot_apply_is_refused(api):
    p = docker(api, "run", "--rm", "--network", "none", "--shm-size", "128m", "--group-add",
               "10", "--ulimit", "nofile=1024:2048", "busybox", "sh", "-c",
               "df -k /dev/shm | tail -1; id -G; ulimit -n; ulimit -Hn")
    shm, groups, soft, hard = p.stdout.splitlines()
    assert shm.split()[1] == "131072" and "10" in groups.split()
    assert (soft, hard) == ("1024", "2048")
    p = docker(api, "run", "--rm", "--network", "none", "--sysctl", "net.core.somaxconn=1234",
               "--device", "/dev/loop-control:/dev/xloop:r", "busybox", "sh", "-c",
               "cat /proc/sys/net/core/somaxconn; exec 3< /dev/xloop && echo read;"
               " (exec 4> /dev/xloop) 2>/dev/null || echo no-write")
    # a device outside the default set, let through its cgroup for reading alone
    assert p.stdout.split() == ["1234", "read", "no-write"]
    # the cgroup flags, read back from the container's own cgroup files (v1 or v2)
    p = docker(api, "run", "--rm", "--network", "none", "-m", "64m", "--memory-swap", "128m",
               "--cpu-shares", "512", "--cpuset-cpus", "0", "busybox", "sh", "-c",
               "cd /sys/fs/cgroup; cat memory/memory.memsw.limit_in_bytes cpu/cpu.shares "
               "cpuset/cpuset.cpus 2>/dev/null || cat memory.swap.max cpu.weight cpuset.cpus")
    assert p.stdout.split() in (["134217728", "512", "0"],  # v1: memory+swap, shares
                                ["67108864", "20", "0"])    # v2: swap alone, weight
    p = docker(api, "run", "--rm", "--memory-swap", "1g", "busybox", "true", check=False)
    assert p.returncode == 125 and "always set the Memory limit" in p.stderr
    from tests.integration.test_isolation import a_whole_disk
    disk = a_whole_disk()
    p = docker(api, "run", "--rm", "--network", "none", "--device-write-bps", f"{disk}:2mb",
               "busybox", "sh", "-c", "cat /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device"
               " 2>/dev/null || cat /sys/fs/cgroup/io.max")
    assert "2097152" in p.stdout  # v1 "M:m 2097152", v2 "M:m ... wbps=2097152 ..."
    # docker update: the same flags on a running container, and its restart policy
    docker(api, "run", "-d", "--name", "pyrun-upd", "--network", "none", "busybox",
           "sleep", "60")
    docker(api, "update", "--cpu-shares", "256", "--restart", "on-failure:2", "pyrun-upd")
    assert docker(api, "inspect", "-f", "{{.HostConfig.CpuShares}} "
                  "{{.HostConfig.RestartPolicy.Name}}", "pyrun-upd").stdout == "256 on-failure\n"
    shares = docker(api, "exec", "pyrun-upd", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.shares "
                    "2>/dev/null || cat /sys/fs/cgroup/cpu.weight").stdout.strip()
    assert shares in ("256", "10")  # v1 shares, or v2's weight for 256
    docker(api, "update", "--cpu-quota", "50000", "--cpu-period", "200000", "pyrun-upd")
    assert docker(api, "exec", "pyrun-upd", "sh", "-c", "cd /sys/fs/cgroup; cat "
                  "cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us 2>/dev/null || cat cpu.max"
                  ).stdout.split() == ["50000", "200000"]  # v1's two files, v2's one
    assert docker(api, "inspect", "-f", "{{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}",
                  "pyrun-upd").stdout == "50000 200000\n"
    p = docker(api, "update", "--cpus", "0.5", "pyrun-upd", check=False)
    assert p.returncode == 1 and "CPU Period has already been set" in p.stderr
    p = docker(api, "update", "--memory-swap", "1g", "pyrun-upd", check=False)
    assert p.returncode == 1 and "always set the Memory limit" in p.stderr
    docker(api, "update", "-m", "64m", "--memory-swap", "96m", "pyrun-upd")
    assert docker(api, "exec", "pyrun-upd", "sh", "-c", "cd /sys/fs/cgroup; cat "
                  "memory/memory.memsw.limit_in_bytes 2>/dev/null || cat memory.swap.max"
                  ).stdout.strip() in (str(96 << 20), str(32 << 20))  # v1 sum, v2 swap
    p = docker(api, "update", "-m", "128m", "pyrun-upd", check=False)
    assert p.returncode == 1 and "update the memoryswap at the same time" in p.stderr
    assert docker(api, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
                  "pyrun-upd").stdout == f"{64 << 20} {96 << 20}\n"  # the refusal changed nothing
    docker(api, "rm", "-f", "pyrun-upd")
    p = docker(api, "run", "--rm", "--network", "host", "--sysctl", "net.core.somaxconn=1",
               "busybox", "true", check=False)  # the CLI checks names; the service the rest
    assert p.returncode == 125 and "not allowed in the host's network namespace" in p.stderr
    p = api("run", "--rm", "--sysctl", "kernel.panic=1", "busybox", "true", check=False)
    assert p.returncode == 125 and "sysctl 'kernel.panic' is not allowed" in p.stderr
    # --userns host: the host's user namespace, which every container has without remap
    p = docker(api, "run", "--rm", "--network", "none", "--userns", "host", "busybox",
               "readlink", "/proc/self/ns/user")
    assert p.stdout.strip() == os.readlink("/proc/self/ns/user")
    assert docker(api, "ps", "-aq").stdout == ""  # nothing made
    # the host's namespaces: its processes, its name, its shared memory
    shared = f"/dev/shm/pyrun-test-{uuid.uuid4().hex[:8]}"
    open(shared, "w").close()
    try:
        p = docker(api, "run", "--rm", "--network", "none", "--pid", "host", "--uts", "host",
                   "--ipc", "host", "busybox", "sh", "-c", f"echo $$; hostname; ls {shared}")
    finally:
        os.remove(shared)
    own_pid, name, seen = p.stdout.splitlines()
    assert own_pid != "1" and name == socket.gethostname() and seen == shared
    # with the host's pid namespace the init's end is the container's: what it left behind
    # is killed, not waited for
    p = api("run", "--rm", "--network", "none", "--pid", "host", "busybox", "sh", "-c",
            "sleep 1234 & exit 3", check=False)
    assert p.returncode == 3
    assert _processes_naming("sleep\x001234") == []
    p = api("run", "--rm", "--network", "none", "--shm-size", "1m", "--ulimit", "nproc=64",
            "busybox", "sh", "-c", "df -k /dev/shm | tail -1; ulimit -u")  # pyrun's flags
    assert p.stdout.split()[1] == "1024" and p.stdout.split()[-1] == "64"
    p = api("run", "--rm", "--ulimit", "nofile=2048:1024", "busybox", "true", check=False)
    assert p.returncode == 125 and "soft limit must not be above the hard" in p.stderr
    p = api("run", "--rm", "--shm-size", "0", "busybox", "true", check=False)
    assert p.returncode == 125 and "--shm-size" in p.stderr
    # the OOM killer's preference, for the container's processes and those exec'd later
    # (raising it needs no privilege; lowering it below 0, CAP_SYS_RESOURCE on the host)
    docker(api, "run", "-d", "--name", "pyrun-oom", "--network", "none", "--oom-score-adj",
           "500", "busybox", "sleep", "60")
    assert docker(api, "exec", "pyrun-oom", "cat", "/proc/1/oom_score_adj",
                  "/proc/self/oom_score_adj").stdout.split() == ["500", "500"]
    assert docker(api, "inspect", "-f", "{{.HostConfig.OomScoreAdj}}",
                  "pyrun-oom").stdout == "500\n"
    docker(api, "rm", "-f", "pyrun-oom")
    p = api("run", "--rm", "--network", "none", "--oom-score-adj", "700", "busybox", "cat",
            "/proc/self/oom_score_adj")
    assert p.stdout == "700\n"
    p = api("run", "--rm", "--oom-score-adj", "1001", "busybox", "true", check=False)
    assert p.returncode == 125 and "range for oom score adj is [-1000, 1000]" in p.stderr


def test_logs_follow_and_multiplexed_streams(api):
    docker(api, "run", "-d", "--name", "pyrun-talker", "busybox", "sh", "-c",
           "echo one; echo two >&2; sleep 1; echo three")
    p = docker(api, "logs", "-f", "pyrun-talker")
    assert (p.stdout, p.stderr) == ("one\nthree\n", "two\n")
    assert docker(api, "logs", "--tail", "1", "pyrun-talker").stdout == "three\n"
    assert docker(api, "wait", "pyrun-talker").stdout == "0\n"


def test_bad_requests_get_dockers_status_and_message_and_the_service_goes_on(api):
    p = docker(api, "run", "--rm", "--pull", "never", "pyrun-nonesuch:1", "true", check=False)
    assert p.returncode != 0 and "No such image: pyrun-nonesuch:1" in p.stderr
    docker(api, "create", "--name", "pyrun-taken", "busybox", "true")
    p = docker(api, "create", "--name", "pyrun-taken", "busybox", "true", check=False)
    assert p.returncode != 0 and 'The container name "/pyrun-taken" is already in use' in \
        p.stderr
    assert raw(api, "GET", "/v1.41/nothing/here") == (
        404, {"message": "page not found: GET /v1.41/nothing/here"})
    status, answer = raw(api, "POST", "/containers/create", b"{not json")
    assert status == 400 and answer["message"].startswith("invalid JSON")
    status, answer = raw(api, "POST", "/containers/create", b"{}")
    assert status == 400 and "Config cannot be empty" in answer["message"]
    # a flag the engine refuses is the client's mistake, as dockerd's InvalidParameter
    status, answer = raw(api, "POST", "/containers/create", json.dumps({
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"PidMode": "bogus"}}).encode())
    assert status == 400 and "invalid --pid 'bogus'" in answer["message"]
    status, answer = raw(api, "POST", "/containers/create", json.dumps({
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"PidMode": "container:x"}}).encode())
    assert status == 404 and answer["message"] == "No such container: x"
    status, answer = raw(api, "POST", "/containers/create", json.dumps({
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"Sysctls": {"kernel.panic": "1"}}
    }).encode())
    assert status == 400 and "sysctl 'kernel.panic' is not allowed" in answer["message"]
    # and a kill of a stopped container collides with its state: 409
    status, answer = raw(api, "POST", "/containers/pyrun-taken/kill")
    assert status == 409 and "is not running" in answer["message"]
    status, answer = raw(api, "GET", "/containers/pyrun-nonesuch/json")
    assert (status, answer) == (404, {"message": "No such container: pyrun-nonesuch"})
    status, answer = raw(api, "DELETE", "/v1.41/containers/pyrun-taken?force=1")
    assert status == 204
    status, answer = raw(api, "GET", "/v1.99/version")
    assert status == 400 and "too new" in answer["message"]
    assert raw(api, "GET", "/_ping") == (200, {"text": "OK"})  # still serving


def test_the_docker_sdk_runs_builds_streams_and_makes_networks_and_volumes(api, tmp_path):
    docker_sdk = pytest.importorskip("docker", reason="the Docker SDK (pip: docker) is "
                                     "installed by scripts/setup --test")
    client = docker_sdk.DockerClient(base_url=f"unix://{api.sock}")
    try:
        assert client.ping()
        assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"
        (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo from-sdk > /f\n"
                                             "CMD [\"cat\", \"/f\"]\n")
        image, lines = client.images.build(path=str(tmp_path), tag="pyrun-sdk-built:1")
        assert "pyrun-sdk-built:1" in image.tags
        assert any("Successfully built" in x.get("stream", "") for x in lines)
        assert client.containers.run("pyrun-sdk-built:1", remove=True) == b"from-sdk\n"
        streamer = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo "
                                                     "line $i; sleep 0.2; done"], detach=True)
        assert b"".join(streamer.logs(stream=True, follow=True)) == \
            b"line 1\nline 2\nline 3\n"
        assert streamer.wait()["StatusCode"] == 0
        streamer.remove()
        c = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 30"],
                                  detach=True, name="pyrun-sdk", labels={"k": "v"})
        deadline = time.monotonic() + 10
        while b"started" not in c.logs():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        code, out = c.exec_run(["sh", "-c", "echo $((6 * 7))"])
        assert (code, out) == (0, b"42\n")
        assert [x.name for x in client.containers.list(filters={"label": "k=v"})] == \
            ["pyrun-sdk"]
        net = client.networks.create("pyrun-sdk-net", labels={"p": "q"})
        net.connect(c, aliases=["sdk-alias"])
        out = client.containers.run("busybox", ["nslookup", "sdk-alias"], remove=True,
                                    network="pyrun-sdk-net")
        assert b"Address" in out and b"NXDOMAIN" not in out
        net.disconnect(c)
        vol = client.volumes.create("pyrun-sdk-vol", labels={"a": "b"})
        assert client.volumes.get("pyrun-sdk-vol").attrs["Labels"] == {"a": "b"}
        c.stop(timeout=1)
        c.remove()
        net.remove()
        vol.remove()
        assert "pyrun-sdk-net" not in [n.name for n in client.networks.list()]
    finally:
        client.close()


COMPOSE = """\
version: "2.4"
services:
  app:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo app says hi > /www/index.html && exec httpd -f -p 8000 -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 1 127.0.0.1 8000 | grep -q app"]
      interval: 1s
      retries: 30
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && cp /cgi /www/cgi-bin/index.cgi && exec httpd -f -p 80 -h /www"]
    volumes: ["data:/data", "./cgi:/cgi:ro"]
    ports: ["PORT:80"]
    depends_on:
      app:
        condition: service_healthy
  worker:
    image: busybox
    command: ["sh", "-c", "echo hello from the volume > /data/hello; echo worker up; exec sleep 300"]
    stop_signal: SIGKILL
    volumes: ["data:/data"]
  sidecar:
    image: busybox
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    network_mode: "service:app"
volumes:
  data:
"""
CGI = """#!/bin/sh
echo Content-Type: text/plain
echo
printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 app 8000 | tail -1
cat /data/hello
"""


def test_docker_compose_brings_up_services_by_name_volume_health_and_sidecar(api, tmp_path):
    """docker-compose 1.29 (Debian's): a web front whose CGI asks the app by its service
    name, the app gating the web's start with its healthcheck, a named volume the worker
    writes and the web reads, a sidecar in the app's network namespace (network_mode:
    service:app, a container:ID to the engine); up, ps, logs, exec, down -v leaving
    nothing."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (scripts/setup --test installs it)")
    port = free_port()
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.replace("PORT", str(port)))
    (tmp_path / "cgi").write_text(CGI)
    (tmp_path / "cgi").chmod(0o755)
    env = dict(os.environ, DOCKER_HOST=f"unix://{api.sock}")

    def dc(*args, check=True):
        p = subprocess.run([compose, "-p", "pyruntest", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=180)
        assert not check or p.returncode == 0, f"docker-compose {args}: {p.stdout}{p.stderr}"
        return p
    try:
        dc("up", "-d")
        ps = dc("ps").stdout
        assert "Up (healthy)" in ps and f"0.0.0.0:{port}->80/tcp" in ps
        deadline = time.monotonic() + 10
        while True:  # the worker writes the volume as it starts
            body = http_get(f"http://127.0.0.1:{port}/cgi-bin/index.cgi")
            if "volume" in body or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert body == "app says hi\nhello from the volume\n"
        assert "worker up" in dc("logs", "worker").stdout
        assert dc("exec", "-T", "worker", "cat", "/data/hello").stdout == \
            "hello from the volume\n"
        assert dc("exec", "-T", "sidecar", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | "
                  "nc -w 2 127.0.0.1 8000 | tail -1").stdout == "app says hi\n"
        # a one-off command, its input from the client (docker-compose run: stdin attached)
        p = subprocess.run([compose, "-p", "pyruntest", "run", "-T", "--rm", "worker", "sh",
                            "-c", "cat - /data/hello; exit 3"], cwd=tmp_path, env=env,
                           input="typed in\n", capture_output=True, text=True, timeout=180)
        assert (p.returncode, p.stdout) == (3, "typed in\nhello from the volume\n"), p.stderr
        names = docker(api, "network", "ls", "--format", "{{.Name}}").stdout.split()
        assert "pyruntest_default" in names
    finally:
        dc("down", "-v", check=False)
    assert docker(api, "ps", "-aq").stdout == ""
    assert "pyruntest_default" not in docker(api, "network", "ls").stdout
    assert "pyruntest_data" not in docker(api, "volume", "ls").stdout


def test_docker_build_through_the_api_then_run_history_and_rmi(api, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nARG WHO=nobody\nRUN echo built by $WHO "
                                    "> /who\nCOPY note /note\nCMD cat /who /note\n")
    (ctx / "note").write_text("a note\n")
    (ctx / "Dockerfile.bad").write_text("FROM busybox\nRUN exit 7\n")
    env = {"DOCKER_BUILDKIT": "0"}
    p = docker(api, "build", "--build-arg", "WHO=the-api", "-t", "pyrun-api-built:1",
               str(ctx), env=dict(os.environ, **env))
    assert "Successfully tagged pyrun-api-built:1" in p.stdout
    assert docker(api, "run", "--rm", "pyrun-api-built:1").stdout == \
        "built by the-api\na note\n"
    history = docker(api, "history", "--format", "{{.CreatedBy}}", "pyrun-api-built:1").stdout
    assert "COPY" in history.splitlines()[1]
    p = docker(api, "build", "-f", str(ctx / "Dockerfile.bad"), str(ctx), check=False,
               env=dict(os.environ, **env))
    assert p.returncode != 0 and "returned a non-zero code: 7" in p.stderr
    assert "Untagged: pyrun-api-built:1" in docker(api, "rmi", "pyrun-api-built:1").stdout


def test_docker_cp_both_ways_diff_commit_and_exec_with_a_terminal(api, tmp_path):
    docker(api, "run", "-d", "--name", "pyrun-files", "busybox", "sh", "-c",
           "echo made inside > /made; exec sleep 60")
    (tmp_path / "in.txt").write_text("into the container\n")
    docker(api, "cp", str(tmp_path / "in.txt"), "pyrun-files:/tmp/")
    assert docker(api, "exec", "pyrun-files", "cat", "/tmp/in.txt").stdout == \
        "into the container\n"
    docker(api, "cp", "pyrun-files:/made", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "made inside\n"
    p = docker(api, "cp", "pyrun-files:/nonesuch", str(tmp_path), check=False)
    assert p.returncode != 0 and "Could not find the file /nonesuch" in p.stderr
    assert "A /tmp/in.txt" in docker(api, "diff", "pyrun-files").stdout
    docker(api, "commit", "pyrun-files", "pyrun-committed:1")
    assert docker(api, "run", "--rm", "pyrun-committed:1", "cat", "/tmp/in.txt").stdout == \
        "into the container\n"
    # docker exec -it under a pseudo-terminal: the process sees a terminal of its size
    script = (f"{DOCKER} -H unix://{api.sock} exec -it pyrun-files sh -c "
              "'tty >/dev/null && echo is-a-tty; stty size'")
    p = subprocess.run(["script", "-qec", f"stty cols 91 rows 17; {script}", "/dev/null"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    # the size from the CLI's first resize, there before the program runs; the stream's
    # end clean (no "read unix ...: connection reset by peer" after the output)
    assert "is-a-tty" in p.stdout and "17 91" in p.stdout
    assert "reset by peer" not in p.stdout
    # a container's own terminal (run -t) takes the size the client resizes it to
    docker(api, "run", "-dt", "--name", "pyrun-tty", "busybox", "sleep", "60")
    assert raw(api, "POST", "/containers/pyrun-tty/resize?h=33&w=101")[0] == 200
    assert docker(api, "exec", "pyrun-tty", "sh", "-c", "stty size < /proc/1/fd/0").stdout \
        == "33 101\n"
    assert raw(api, "POST", "/containers/pyrun-files/resize?h=1&w=1")[0] == 200  # no tty
    docker(api, "stop", "-t", "0", "pyrun-tty")
    assert raw(api, "POST", "/containers/pyrun-tty/resize?h=1&w=1")[0] == 409


def test_testcontainers_starts_a_container_waits_for_its_log_and_reaches_its_port(api,
                                                                                monkeypatch):
    """testcontainers-python with its reaper (Ryuk, an image of the internet) disabled."""
    tc = pytest.importorskip("testcontainers.core.container", reason="testcontainers is "
                             "installed by scripts/setup --test")
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy
    monkeypatch.setenv("DOCKER_HOST", f"unix://{api.sock}")
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    cmd = ["sh", "-c", "mkdir /w; echo tc-hello > /w/index.html; echo serving; "
           "exec httpd -f -p 80 -h /w"]
    ready = LogMessageWaitStrategy("serving").with_startup_timeout(20)
    with tc.DockerContainer("busybox").with_command(cmd).with_exposed_ports(80) \
            .waiting_for(ready) as c:  # start() returns once the log line is there
        port = c.get_exposed_port(80)
        assert http_get(f"http://127.0.0.1:{port}/") == "tc-hello\n"
    assert docker(api, "ps", "-aq").stdout == ""


def test_the_service_socket_idle_exit_systemd_activation_and_tcp_refusal(engine, tmp_path):
    """0660 on the socket; exits after --time idle seconds (its socket gone); serves a
    socket systemd passes (LISTEN_FDS/LISTEN_PID, unset for what it runs); tcp:// without
    TLS is refused in one line."""
    env = dict(os.environ, PYRUN_ROOT=engine.root)
    sock = f"/run/pyrun/test-api-{uuid.uuid4().hex[:6]}.sock"
    p = subprocess.Popen([PYRUN, "system", "service", "--time", "1", f"unix://{sock}"], env=env)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    assert p.wait(timeout=10) == 0 and not os.path.exists(sock)
    # socket activation: the listening socket is fd 3, as systemd passes it
    path = str(tmp_path / "activated.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(8)
    code = ("import os, subprocess, sys; os.dup2(int(sys.argv[1]), 3); "
            "os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid()); "
            f"os.execv({PYRUN!r}, [{PYRUN!r}, 'system', 'service', '--time', '2'])")
    p = subprocess.Popen([sys.executable, "-c", code, str(listener.fileno())], env=env,
                         pass_fds=(listener.fileno(),))
    listener.close()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert s.recv(4096).split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    s.close()
    assert p.wait(timeout=10) == 0
    p = subprocess.run([PYRUN, "system", "service", "tcp://127.0.0.1:0"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "TLS" in p.stderr


def test_docker_push_and_pull_through_the_api_with_a_local_registry(api, registry):  # noqa: F811,E501
    name = f"{registry.host}/pyrun-test/api:1"
    docker(api, "tag", "busybox", name)
    out = docker(api, "push", name).stdout
    assert "digest: sha256:" in out
    docker(api, "rmi", name)
    assert name not in docker(api, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    out = docker(api, "pull", name).stdout
    assert "Downloaded newer image" in out
    assert docker(api, "run", "--rm", name, "echo", "pulled").stdout == "pulled\n"
    p = docker(api, "pull", f"{registry.host}/pyrun-test/nonesuch:1", check=False)
    assert p.returncode != 0 and p.stderr.strip()


def test_docker_save_and_load_through_the_api(api, tmp_path):
    docker(api, "tag", "busybox", "pyrun-saved:1")
    docker(api, "save", "-o", str(tmp_path / "saved.tar"), "pyrun-saved:1")
    docker(api, "rmi", "pyrun-saved:1")
    out = docker(api, "load", "-i", str(tmp_path / "saved.tar")).stdout
    assert "Loaded image: pyrun-saved:1" in out
    assert docker(api, "run", "--rm", "pyrun-saved:1", "echo", "loaded").stdout == "loaded\n"
