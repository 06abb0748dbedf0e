"""`pyrun run` / `pyrun create`: options declared once, and the command itself, without click.

`run --rm busybox true` is measured against runc's run of the same rootfs (issue target:
1.5x), and click's import alone is more than that budget's margin. As for build
(runtime/cli/build.py): runtime/cli/container.py makes the click command from OPTIONS, and
runtime/cli/fast.py parses the plain spellings itself and calls run().
"""

from __future__ import annotations

import os
import sys

from runtime.cli import options
from runtime.cli.options import Option
from runtime.errors import PyrunError

OPTIONS = [
    Option(("-d", "--detach"), "detach", "flag", "Run in the background, print the id"),
    Option(("--name",), "name", "value", "A name for the container"),
    Option(("-p", "--publish"), "publish", "multiple", "[IP:][HOST:]CONTAINER[/PROTO]"),
    Option(("-P", "--publish-all"), "publish_all", "flag", "Publish every EXPOSEd port"),
    Option(("--rm",), "auto_remove", "flag", "Remove the container when it exits"),
    Option(("-e", "--env"), "env", "multiple", "KEY=VALUE (or KEY: taken from here)"),
    Option(("--env-file",), "env_file", "multiple", "A file of KEY=VALUE lines", type="file"),
    Option(("-w", "--workdir"), "workdir", "value", "The working directory inside"),
    Option(("-u", "--user"), "user", "value", "USER[:GROUP], names or numbers"),
    Option(("-h", "--hostname"), "hostname", "value", "The container's host name"),
    Option(("--entrypoint",), "entrypoint", "value", "Overwrite the image's ENTRYPOINT"),
    Option(("-i", "--interactive"), "interactive", "flag", "Keep stdin open"),
    Option(("-t", "--tty"), "tty", "flag", "Allocate a terminal"),
    Option(("--network", "--net"), "network", "value",
           "bridge (default), none, host, or a network's name", default="bridge"),
    Option(("--network-alias", "--net-alias"), "network_aliases", "multiple",
           "Another name for the container on its user-defined network"),
    Option(("--ip",), "ip", "value", "The container's IPv4 address on a user-defined network"),
    Option(("-m", "--memory"), "memory", "value", "Memory limit (e.g. 64m, 1g)"),
    Option(("--cpus",), "cpus", "value", "Number of CPUs (e.g. 0.5)", type=float),
    Option(("--pids-limit",), "pids_limit", "value", "At most this many processes", type=int),
    Option(("--memory-swap",), "memory_swap", "value", "Memory plus swap (-1: no swap limit)"),
    Option(("--memory-reservation",), "memory_reservation", "value", "A soft memory limit"),
    Option(("--oom-kill-disable",), "oom_kill_disable", "flag",
           "No OOM killing (needs -m)"),
    Option(("-c", "--cpu-shares"), "cpu_shares", "value", "A relative CPU weight (1024)",
           type=int),
    Option(("--cpu-quota",), "cpu_quota", "value", "CFS quota in microseconds", type=int),
    Option(("--cpu-period",), "cpu_period", "value", "CFS period in microseconds", type=int),
    Option(("--cpuset-cpus",), "cpuset_cpus", "value", "CPUs to run on (0-1, 0,2)"),
    Option(("--cpuset-mems",), "cpuset_mems", "value", "Memory nodes to use (0-1, 0,2)"),
    Option(("--blkio-weight",), "blkio_weight", "value", "Block IO weight (10 to 1000)",
           type=int),
    Option(("--oom-score-adj",), "oom_score_adj", "value",
           "The OOM killer's preference (-1000 to 1000)", type=int),
    Option(("--shm-size",), "shm_size", "value", "Size of /dev/shm (e.g. 256m; 64m)"),
    Option(("--group-add",), "group_add", "multiple", "Another group: a name or a gid"),
    Option(("--ulimit",), "ulimits", "multiple", "NAME=SOFT[:HARD], e.g. nofile=1024:2048"),
    Option(("--pid",), "pid", "value", "host: the host's processes, not its own"),
    Option(("--ipc",), "ipc", "value", "host: the host's IPC and /dev/shm"),
    Option(("--uts",), "uts", "value", "host: the host's host name"),
    Option(("--userns",), "userns", "value",
           "host: the host's user namespace (without userns-remap, every container's)"),
    Option(("--sysctl",), "sysctls", "multiple", "NAME=VALUE: a namespaced kernel setting"),
    Option(("--device",), "devices", "multiple", "HOST[:CONTAINER][:rwm]: a host device"),
    Option(("--blkio-weight-device",), "blkio_weight_device", "multiple",
           "PATH:WEIGHT: a block device's IO weight (10 to 1000)"),
    Option(("--device-read-bps",), "device_read_bps", "multiple",
           "PATH:RATE[kb|mb|gb]: read at most this many bytes a second from a device"),
    Option(("--device-write-bps",), "device_write_bps", "multiple",
           "PATH:RATE[kb|mb|gb]: write at most this many bytes a second to a device"),
    Option(("--device-read-iops",), "device_read_iops", "multiple",
           "PATH:RATE: at most this many reads a second from a device"),
    Option(("--device-write-iops",), "device_write_iops", "multiple",
           "PATH:RATE: at most this many writes a second to a device"),
    Option(("-l", "--label"), "label", "multiple", "KEY=VALUE"),
    Option(("--read-only",), "read_only", "flag", "Mount the root filesystem read-only"),
    Option(("--stop-signal",), "stop_signal", "value", "Signal for stop (default SIGTERM)"),
    Option(("--stop-timeout",), "stop_timeout", "value", "Seconds before stop kills",
           type=int),
    Option(("-v", "--volume"), "volumes", "multiple",
           "SOURCE:DEST[:ro] (a host path or a volume name)"),
    Option(("--mount",), "mounts", "multiple",
           "type=bind|volume|tmpfs,source=...,target=...[,readonly]"),
    Option(("--tmpfs",), "tmpfs", "multiple", "DEST[:OPTIONS]: a tmpfs mount"),
    Option(("--volumes-from",), "volumes_from", "multiple",
           "CONTAINER[:ro|rw]: its volumes and bind mounts"),
    Option(("--link",), "links", "multiple",
           "NAME[:ALIAS]: its address in /etc/hosts (legacy; the default bridge)"),
    Option(("--log-driver",), "log_driver", "value", "json-file (the only one)"),
    Option(("--health-cmd",), "health_cmd", "value", "A command run by /bin/sh -c"),
    Option(("--health-interval",), "health_interval", "value", "Between checks (30s)"),
    Option(("--health-timeout",), "health_timeout", "value", "A check's limit (30s)"),
    Option(("--health-retries",), "health_retries", "value", "Failures in a row for "
           "unhealthy (3)", type=int),
    Option(("--health-start-period",), "health_start_period", "value",
           "Failures not counted this long after the start (0s)"),
    Option(("--no-healthcheck",), "no_healthcheck", "flag", "Disable the image's"),
    Option(("--log-opt",), "log_opts", "multiple", "max-size=SIZE, max-file=N (default "
           "20m and 5)"),
    Option(("--cap-add",), "cap_add", "multiple", "Add a capability"),
    Option(("--cap-drop",), "cap_drop", "multiple", "Drop a capability (ALL for all)"),
    Option(("--privileged",), "privileged", "flag",
           "All capabilities and devices, no seccomp filter"),
    Option(("--security-opt",), "security_opt", "multiple",
           "seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]"),
    Option(("--add-host",), "add_hosts", "multiple", "HOST:IP in /etc/hosts"),
    Option(("--dns",), "dns", "multiple", "A nameserver for /etc/resolv.conf"),
    Option(("--restart",), "restart", "value", "no, on-failure[:N], always, unless-stopped",
           default="no"),
    Option(("--init",), "use_init", "flag",
           "A tiny init as PID 1: forwards signals, reaps zombies"),
    Option(("--pull",), "pull", "value",
           "Pull the image first: always, when missing (default), or never",
           type=("always", "missing", "never"), default="missing"),
]


def parse(args: list[str]) -> dict | None:
    """The options, IMAGE and COMMAND of `pyrun run ARGS`, or None where click should decide."""
    parsed = options.parse(OPTIONS, args, interspersed=False)
    if parsed is None or not parsed[1]:
        return None
    opts, positional = parsed
    opts["image"] = positional[0]
    opts["command"] = positional[1:]
    return opts


def run(*, image: str, command=(), root=None, create_only=False, detach=False, name=None,
        publish=(), publish_all=False, auto_remove=False, env=(), env_file=(), workdir=None,
        user=None, hostname=None, entrypoint=None, interactive=False, tty=False,
        network="bridge", network_aliases=(), ip=None, memory=None, cpus=None,
        pids_limit=None, shm_size=None, group_add=(), ulimits=(), pid="", ipc="", uts="",
        userns="",
        sysctls=(), devices=(), blkio_weight_device=(), device_read_bps=(),
        device_write_bps=(), device_read_iops=(), device_write_iops=(), memory_swap=None,
        memory_reservation=None,
        oom_kill_disable=False, cpu_shares=None, cpu_quota=None, cpu_period=None,
        cpuset_cpus=None, cpuset_mems=None, blkio_weight=None, oom_score_adj=None,
        label=(),
        read_only=False, stop_signal=None, stop_timeout=None, volumes=(), mounts=(),
        volumes_from=(), links=(),
        tmpfs=(), log_driver=None, log_opts=(), health_cmd=None, health_interval=None,
        health_timeout=None, health_retries=None, health_start_period=None,
        no_healthcheck=False, cap_add=(),
        cap_drop=(), privileged=False, security_opt=(), add_hosts=(), dns=(), restart="no",
        use_init=False, pull="missing") -> int:
    """Create the container and (unless create_only) run it: attached, the container's exit
    code; detached, 0 once it runs (its id printed)."""
    from runtime.linux import cgroups
    from runtime.oci.log import trace
    trace("engine: run parsed")
    if not (create_only or detach or restart != "no"):  # else the monitor process starts it
        cgroups.start_warm_up()  # a kernel grace period passes while we prepare (see there)
    try:
        from runtime.engine import containers as cmod
        from runtime.image.store import ImageNotFound, Store
        store = Store(root).ensure()
        trace("engine: imported")
        from runtime.engine import repair
        repair.refresh(store)  # a crashed monitor's container shows Exited, its network removed
        envs = []
        for f in env_file:
            with open(f) as fh:
                envs += [line.strip() for line in fh
                         if line.strip() and not line.startswith("#")]
        for e in env:
            envs.append(e if "=" in e else f"{e}={os.environ.get(e, '')}")
        labels = dict(kv.partition("=")[::2] for kv in label)
        from runtime.engine import run as runmod
        from runtime.engine.create import CreateOptions, create
        if pull == "always":
            runmod.pull_if_needed(store, image, pull, out=sys.stderr)
        opts = CreateOptions(
            name=name, command=tuple(command),
            entrypoint=[entrypoint] if entrypoint else None, env=tuple(envs),
            publish=tuple(publish), publish_all=publish_all, workdir=workdir, user=user,
            hostname=hostname, network=network, network_aliases=tuple(network_aliases), ip=ip,
            auto_remove=auto_remove, memory=cmod.parse_memory(memory) if memory else None,
            shm_size=_size("--shm-size", shm_size) if shm_size else None,
            group_add=tuple(group_add), ulimits=tuple(ulimits), pid=pid or "", ipc=ipc or "",
            uts=uts or "", userns=userns or "", sysctls=tuple(sysctls), devices=tuple(devices),
            blkio_weight_device=tuple(blkio_weight_device),
            device_read_bps=tuple(device_read_bps), device_write_bps=tuple(device_write_bps),
            device_read_iops=tuple(device_read_iops),
            device_write_iops=tuple(device_write_iops),
            memory_swap=-1 if memory_swap == "-1" else
            (_size("--memory-swap", memory_swap) if memory_swap else None),
            memory_reservation=_size("--memory-reservation", memory_reservation)
            if memory_reservation else None, oom_kill_disable=oom_kill_disable,
            cpu_shares=cpu_shares, cpu_quota=cpu_quota, cpu_period=cpu_period,
            cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems, blkio_weight=blkio_weight,
            oom_score_adj=oom_score_adj,
            pids_limit=pids_limit, labels=labels, interactive=interactive, tty=tty,
            read_only=read_only, stop_signal=stop_signal, stop_timeout=stop_timeout,
            cpus=cpus, volumes=tuple(volumes), mounts=tuple(mounts), tmpfs=tuple(tmpfs),
            volumes_from=tuple(volumes_from), links=tuple(links),
            cap_add=tuple(cap_add), cap_drop=tuple(cap_drop), log_driver=log_driver,
            log_opts=tuple(log_opts), health_cmd=health_cmd, health_interval=health_interval,
            health_timeout=health_timeout, health_retries=health_retries,
            health_start_period=health_start_period, no_healthcheck=no_healthcheck,
            privileged=privileged, security_opt=tuple(security_opt),
            add_hosts=tuple(add_hosts), dns=tuple(dns), restart=restart, init=use_init)
        try:  # the flags are checked before the image is looked up: a bad one is no pull
            c = create(store, image, opts)
        except ImageNotFound:
            if pull != "missing":
                raise PyrunError(f"Unable to find image '{image}' locally (--pull {pull})") \
                    from None
            runmod.pull_if_needed(store, image, pull, out=sys.stderr)
            c = create(store, image, opts)
        trace("engine: container recorded")
        if create_only:
            c.mark_monitored_by(0, 0)  # created, and left so
            print(c.id)
            return 0
        code = runmod.run(store, c, detach=detach, interactive=interactive)
        if detach:
            print(c.id)
            warn_loopback_listeners(c)
        return code
    finally:
        cgroups.finish_warm_up()  # done already where a container started; else now


def _size(flag: str, text: str) -> int:
    from runtime.units import parse_size
    try:
        value = parse_size(text)
    except ValueError:
        raise PyrunError(f"invalid {flag} {text!r} (a size such as 256m or 1g)") from None
    if value <= 0:
        raise PyrunError(f"invalid {flag} {text!r}: it must be greater than 0")
    return value


def warn_loopback_listeners(c) -> None:
    """The commonest "published but refused": the program listens on 127.0.0.1 only."""
    from runtime.engine import run as runmod
    for port in runmod.loopback_only_ports(c):
        print(f"WARNING: the process in the container listens on 127.0.0.1:{port} only; a "
              "published port cannot reach it", file=sys.stderr)
