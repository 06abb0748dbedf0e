"""create (runtime/engine/create.py): CreateOptions → the container's record, on a store in a
temporary directory (no root: nothing is mounted or started)."""

from __future__ import annotations

import pytest

from runtime.engine.containers import ContainerError, NameConflict
from runtime.engine.create import CreateOptions, create
from runtime.errors import PyrunError
from runtime.image.store import Store, new_config


@pytest.fixture
def store(tmp_path, monkeypatch):
    s = Store(str(tmp_path)).ensure()
    cfg = new_config()
    cfg["config"] = {"Cmd": ["sh"], "Env": ["PATH=/bin"], "ExposedPorts": {"80/tcp": {}},
                     "WorkingDir": "/srv"}
    s.tag(s.put_image(cfg).id, "img:1")
    from runtime.net import networks
    monkeypatch.setattr(networks, "DEFS", str(tmp_path / "networks"))
    return s


@pytest.mark.parametrize("opts, check", [
    (CreateOptions(), lambda d: (d["Path"], d["Args"], d["Config"]["WorkingDir"]) ==
     ("sh", [], "/srv")),
    (CreateOptions(command=("echo", "hi")), lambda d: (d["Path"], d["Args"]) == ("echo", ["hi"])),
    (CreateOptions(entrypoint=[], command=("true",)), lambda d: d["Path"] == "true"),
    (CreateOptions(publish_all=True), lambda d: [p["container_port"] for p in
                                                 d["HostConfig"]["Ports"]] == [80]),
    (CreateOptions(env=("A=1",)), lambda d: d["Config"]["Env"] == ["PATH=/bin", "A=1"]),
    (CreateOptions(network="none"), lambda d: d["HostConfig"]["NetworkMode"] == "none"),
    (CreateOptions(restart="on-failure:3"), lambda d: d["HostConfig"]["RestartPolicy"] ==
     {"Name": "on-failure", "MaximumRetryCount": 3}),
    # a capability flag is not the container's name (it once was: the loop reused `name`)
    (CreateOptions(cap_drop=("NET_RAW",)), lambda d: d["Name"] != "NET_RAW" and
     "CAP_NET_RAW" not in d["HostConfig"]["Capabilities"]),
    (CreateOptions(name="web", cap_add=("NET_ADMIN",)), lambda d: d["Name"] == "web"),
    # the client's terminal size, kept for a terminal only, and a 0 is no size at all
    (CreateOptions(tty=True, console_size=(17, 91)),
     lambda d: d["HostConfig"]["ConsoleSize"] == [17, 91]),
    (CreateOptions(console_size=(17, 91)), lambda d: d["HostConfig"]["ConsoleSize"] is None),
    (CreateOptions(tty=True, console_size=(0, 0)),
     lambda d: d["HostConfig"]["ConsoleSize"] is None),
    (CreateOptions(sysctls=("net.core.somaxconn=1024", "kernel.shmmax=65536")),
     lambda d: d["HostConfig"]["Sysctls"] == {"net.core.somaxconn": "1024",
                                              "kernel.shmmax": "65536"}),
    (CreateOptions(pid="host", ipc="shareable", uts="host"),
     lambda d: (d["HostConfig"]["PidMode"], d["HostConfig"]["IpcMode"],
                d["HostConfig"]["UTSMode"]) == ("host", "shareable", "host")),
])
def test_options_become_the_record(store, opts, check):
    assert check(create(store, "img:1", opts).to_json())


@pytest.mark.parametrize("opts, message", [
    (CreateOptions(name="bad name"), "Invalid container name"),
    (CreateOptions(restart="always", auto_remove=True), "Conflicting options"),
    (CreateOptions(network="none", publish=("80",)), "published ports need a bridge network"),
    (CreateOptions(cpus=-1), "Range of CPUs"),
    (CreateOptions(add_hosts=("nocolon",)), "invalid --add-host"),
    (CreateOptions(stop_signal="SIGNOPE"), "signal"),
    (CreateOptions(pid="container:db"), "No such container: db"),
    (CreateOptions(ipc="container:"), "invalid --ipc 'container:': container:<name|id>"),
    (CreateOptions(pid="other"), "invalid --pid 'other': pyrun has 'host' and 'container:NAME'"),
    (CreateOptions(shm_size=-1), "shm size: it must be greater than 0"),
    (CreateOptions(ulimits=("nofile=9:1",)), "soft limit must not be above"),
    (CreateOptions(sysctls=("kernel.panic=1",)), "sysctl 'kernel.panic' is not allowed"),
    (CreateOptions(memory_swap=1 << 30), "always set the Memory limit"),
    (CreateOptions(memory=1 << 30, memory_swap=1 << 20), "memoryswap limit should be larger"),
    (CreateOptions(oom_kill_disable=True), "needs a memory limit"),
    (CreateOptions(oom_score_adj=-1001), "range for oom score adj is"),
    (CreateOptions(volumes_from=("nonesuch",)), "No such container: nonesuch"),
    (CreateOptions(links=("nonesuch:db",)), "No such container: nonesuch"),
    (CreateOptions(cpus=0.5, cpu_quota=50000), "Nano CPUs and CPU Period"),
    (CreateOptions(cpu_period=10), "CPU cfs period"),
    (CreateOptions(blkio_weight=5), "blkio weight is from 10 to 1000"),
    (CreateOptions(cpuset_cpus="0-a"), "Invalid value 0-a for --cpuset-cpus"),
    (CreateOptions(sysctls=("net.ipv4.ip_forward",)), "NAME=VALUE"),
    (CreateOptions(network="host", sysctls=("net.core.somaxconn=9",)),
     "not allowed in the host's network namespace"),
    (CreateOptions(ipc="host", sysctls=("kernel.shmmax=9",)),
     "not allowed in the host's IPC namespace"),
    (CreateOptions(userns="private"), "--userns: invalid USER mode"),  # Docker: "" or host
])
def test_bad_options_are_refused_and_nothing_is_written(store, opts, message):
    from runtime.engine.containers import all_containers
    with pytest.raises(ContainerError, match=message):
        create(store, "img:1", opts)
    assert all_containers(store) == []


@pytest.mark.parametrize("sysctl", ["kernel.shmmax=9", "fs.mqueue.msg_max=20"])
def test_an_ipc_sysctl_is_refused_in_another_containers_ipc_namespace(store, sysctl):
    # it would change the donor's setting, not this container's
    create(store, "img:1", CreateOptions(name="donor", ipc="shareable"))
    with pytest.raises(ContainerError, match="not allowed in another container's IPC"):
        create(store, "img:1", CreateOptions(ipc="container:donor", sysctls=(sysctl,)))
    from runtime.engine.containers import all_containers
    assert [c.name for c in all_containers(store)] == ["donor"]
    # its own namespace may take it
    create(store, "img:1", CreateOptions(ipc="shareable", sysctls=(sysctl,)))


@pytest.mark.parametrize("opts, message", [
    (CreateOptions(userns="private"), "invalid USER mode"),
    (CreateOptions(publish=("99999:80",)), "99999"),
    (CreateOptions(sysctls=("kernel.panic=1",)), "kernel.panic"),
    (CreateOptions(ulimits=("nofile=x",)), "nofile"),
])
def test_the_flags_are_checked_before_the_image_is_looked_up(store, opts, message):
    # as Docker's daemon (and CLI): a bad flag is its own error, not a missing image (and
    # for `pyrun run`, not a pull first)
    with pytest.raises(ContainerError, match=message):
        create(store, "not-in-the-store:1", opts)


def test_a_name_is_taken_once(store):
    create(store, "img:1", CreateOptions(name="web"))
    with pytest.raises(NameConflict, match='The container name "/web" is already in use'):
        create(store, "img:1", CreateOptions(name="web"))


def test_volumes_from_shares_the_same_volumes_at_the_same_places(store, tmp_path):
    host_dir = str(tmp_path / "site")
    create(store, "img:1", CreateOptions(name="data", volumes=(
        "db:/var/lib/db", "/srv/anon", f"{host_dir}:/site:ro"), tmpfs=("/scratch",)))
    from runtime.engine.containers import find
    source = {m["Destination"]: m for m in find(store, "data").host.binds}
    app = create(store, "img:1", CreateOptions(volumes_from=("data",),
                                               volumes=("other:/srv/anon",)))
    got = {m["Destination"]: m for m in app.host.binds}
    assert got["/var/lib/db"] == source["/var/lib/db"]  # the same volume, read-write
    assert got["/site"] == source["/site"] and got["/site"]["RW"] is False  # its own mode
    assert got["/srv/anon"]["Name"] == "other"  # this container's own -v wins there
    assert "/scratch" not in got  # tmpfs mounts are the container's own
    assert app.host.volumes_from == ["data"]
    ro = create(store, "img:1", CreateOptions(volumes_from=("data:ro",)))
    assert {m["Destination"]: m["RW"] for m in ro.host.binds} == {
        "/var/lib/db": False, "/srv/anon": False, "/site": False}
    assert {m["Destination"]: m["Source"] for m in ro.host.binds} == {
        d: m["Source"] for d, m in source.items()}  # the anonymous volume too
    with pytest.raises(ContainerError, match="invalid mode for volumes-from: rx"):
        create(store, "img:1", CreateOptions(volumes_from=("data:rx",)))


def test_a_link_is_recorded_as_dockers_once_the_container_has_its_name(store):
    create(store, "img:1", CreateOptions(name="db"))
    web = create(store, "img:1", CreateOptions(name="web", links=("db:database", "/db")))
    assert web.to_json()["HostConfig"]["Links"] == ["/db:/web/database", "/db:/web/db"]
    anonymous = create(store, "img:1", CreateOptions(links=("db",)))
    assert anonymous.host.links == [f"/db:/{anonymous.name}/db"]
    from runtime.engine import containers as cmod
    from runtime.engine.rename import rename
    rename(cmod.find(store, "db"), "db2")  # both ends of a link follow a rename
    rename(web, "web2")
    assert cmod.find(store, "web2").host.links == ["/db2:/web2/database", "/db2:/web2/db"]
    assert cmod.find(store, anonymous.id).host.links == [f"/db2:/{anonymous.name}/db"]
    for bad in ("db:-x", "db:dé"):  # a container name's rule: ASCII alone, as Docker's
        with pytest.raises(ContainerError, match=f"invalid --link '{bad}'"):
            create(store, "img:1", CreateOptions(links=(bad,)))


@pytest.mark.parametrize("supported, opts, swap", [
    (True, CreateOptions(memory=64 << 20), 128 << 20),  # Docker's default: as much again
    (False, CreateOptions(memory=64 << 20), 0),         # no swap accounting: none set
    (True, CreateOptions(memory=64 << 20, memory_swap=-1), -1),
    (True, CreateOptions(memory=64 << 20, memory_swap=96 << 20), 96 << 20),
    (True, CreateOptions(), 0),
])
def test_a_memory_limit_bounds_swap_as_dockers_does(store, monkeypatch, supported, opts, swap):
    from runtime.linux import cgroups
    monkeypatch.setattr(cgroups, "swap_limit_supported", lambda: supported)
    assert create(store, "img:1", opts).to_json()["HostConfig"]["MemorySwap"] == swap


def test_a_sidecar_records_its_donor_by_id_and_asks_for_nothing_of_its_own(store):
    donor = create(store, "img:1", CreateOptions(name="web"))
    side = create(store, "img:1", CreateOptions(network="container:web")).to_json()
    assert side["HostConfig"]["NetworkMode"] == f"container:{donor.id}"
    assert side["NetworkSettings"]["Networks"] == {}
    for opts, message in ((CreateOptions(network="container:web", publish=("80:80",)),
                           "port publishing and the network mode"),
                          (CreateOptions(network="container:web", hostname="x"), "hostname"),
                          (CreateOptions(network="container:web", links=("web",)), "links"),
                          (CreateOptions(network="container:"), "container:<name|id>"),
                          (CreateOptions(network="container:gone"), "No such container")):
        with pytest.raises(PyrunError, match=message):  # 400s, and the 404
            create(store, "img:1", opts)
