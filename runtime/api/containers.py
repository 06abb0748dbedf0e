"""/containers/... and /exec/...: Docker's container endpoints over the engine's verbs."""

from __future__ import annotations

import os
import threading
import time

from runtime.api.http import ApiError, end_hijacked, frame
from runtime.api.routes import route
from runtime.errors import PyrunError

RAW = "application/vnd.docker.raw-stream"


def _find(svc, ref):
    from runtime.engine import containers as cmod
    from runtime.engine import repair
    repair.refresh(svc.store)
    return cmod.find(svc.store, ref)


# ---- create: Docker's JSON → the engine's settings (pure) ---------------------------------------

def _duration(ns) -> str | None:
    return None if not ns else f"{int(ns)}ns"


# HostConfig fields pyrun does not apply yet, with the docker flag that sets each: refused
# when set, in one line, rather than a container that silently runs without them.
NOT_YET = {"DeviceRequests": "--gpus",
           "CpuRealtimePeriod": "--cpu-rt-period", "CpuRealtimeRuntime": "--cpu-rt-runtime",
           "KernelMemory": "--kernel-memory"}
# (Links, legacy, write /etc/hosts on the default bridge alone: docker-compose's `run` links
# the service's containers, which on a user-defined network find each other by name and
# alias through 127.0.0.11.)
DEFAULTS = ("", "private", "shareable", "default", 0, -1, False, None)


def create_args(body: dict, name: str | None) -> dict:
    """POST /containers/create's body as the image's name and CreateOptions' fields."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    image = body.get("Image")
    if not image:
        raise ApiError(400, "Config cannot be empty in order to create a container")
    hc = body.get("HostConfig") or {}
    for key, flag in NOT_YET.items():
        value = hc.get(key)
        if value not in DEFAULTS and value != [] and value != {}:
            raise ApiError(400, f"{flag} is not supported by pyrun yet (HostConfig.{key}: "
                                f"{value!r})")
    publish = []
    for port, bindings in (hc.get("PortBindings") or {}).items():
        for b in bindings or [{}]:
            host_ip, host_port = (b or {}).get("HostIp") or "", (b or {}).get("HostPort") or ""
            # -p 127.0.0.1::80 (an address, any port) is IP::PORT, as the engine reads it
            publish.append(f"{host_ip}:{host_port}:{port}" if host_ip else
                           f"{host_port}:{port}" if host_port else port)
    entrypoint = body.get("Entrypoint")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if entrypoint == [""]:
        entrypoint = []  # Docker's "reset the image's"
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    binds = []
    for b in hc.get("Binds") or []:
        parts = b.split(":")
        if len(parts) == 3:  # keep ro/rw, drop what has no meaning here (z, Z, propagation)
            modes = [m for m in parts[2].split(",") if m in ("ro", "rw")]
            b = ":".join(parts[:2] + modes[-1:])
        binds.append(b)
    mounts = []
    for m in hc.get("Mounts") or []:
        fields = [f"type={m.get('Type', 'volume')}", f"target={m.get('Target', '')}"]
        if m.get("Source"):
            fields.append(f"source={m['Source']}")
        if m.get("ReadOnly"):
            fields.append("readonly")
        opts = m.get("TmpfsOptions") or {}
        if opts.get("SizeBytes"):
            fields.append(f"tmpfs-size={opts['SizeBytes']}")
        if opts.get("Mode"):
            fields.append(f"tmpfs-mode={opts['Mode']:o}")
        mounts.append(",".join(fields))
    network = hc.get("NetworkMode") or "default"
    if network == "default":
        network = "bridge"
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    ep = endpoints.get(network) or (next(iter(endpoints.values())) if endpoints else {}) or {}
    aliases = [a for a in (ep.get("Aliases") or []) if a]
    ip = (ep.get("IPAMConfig") or {}).get("IPv4Address") or None
    policy = hc.get("RestartPolicy") or {}
    restart = policy.get("Name") or "no"
    if restart == "on-failure" and policy.get("MaximumRetryCount"):
        restart += f":{policy['MaximumRetryCount']}"
    hcheck = body.get("Healthcheck") or {}
    test = hcheck.get("Test") or []
    health_cmd = None
    if test[:1] == ["CMD-SHELL"]:
        health_cmd = " ".join(test[1:])
    elif test[:1] == ["CMD"]:
        import shlex
        health_cmd = " ".join(shlex.quote(a) for a in test[1:])
    log = hc.get("LogConfig") or {}
    pids = hc.get("PidsLimit") or 0
    return dict(
        image_ref=image, name=name, command=tuple(cmd or ()), entrypoint=entrypoint,
        env=tuple(body.get("Env") or ()), publish=tuple(publish),
        publish_all=bool(hc.get("PublishAllPorts")), workdir=body.get("WorkingDir") or None,
        user=body.get("User") or None, hostname=body.get("Hostname") or None,
        network=network, network_aliases=tuple(aliases), ip=ip,
        auto_remove=bool(hc.get("AutoRemove")), memory=hc.get("Memory") or None,
        pids_limit=pids if pids > 0 else None, labels=dict(body.get("Labels") or {}),
        interactive=bool(body.get("OpenStdin")), stdin_once=bool(body.get("StdinOnce")),
        # the docker CLI sends its terminal's size with API 1.41 too
        console_size=tuple(hc.get("ConsoleSize") or ()) or None,
        shm_size=hc.get("ShmSize") or None, group_add=tuple(str(g) for g in
                                                             hc.get("GroupAdd") or ()),
        ulimits=tuple(f"{u.get('Name')}={u.get('Soft')}:{u.get('Hard')}"
                      for u in hc.get("Ulimits") or ()),
        pid=hc.get("PidMode") or "", ipc=hc.get("IpcMode") or "", uts=hc.get("UTSMode") or "",
        userns=hc.get("UsernsMode") or "",
        sysctls=tuple(f"{k}={v}" for k, v in (hc.get("Sysctls") or {}).items()),
        memory_swap=hc.get("MemorySwap") or None,
        memory_reservation=hc.get("MemoryReservation") or None,
        oom_kill_disable=bool(hc.get("OomKillDisable")), cpu_shares=hc.get("CpuShares") or None,
        cpu_quota=hc.get("CpuQuota") or None, cpu_period=hc.get("CpuPeriod") or None,
        cpuset_cpus=hc.get("CpusetCpus") or None, cpuset_mems=hc.get("CpusetMems") or None,
        blkio_weight=hc.get("BlkioWeight") or None, oom_score_adj=hc.get("OomScoreAdj"),
        devices=tuple(f"{d.get('PathOnHost')}:{d.get('PathInContainer') or ''}:"
                      f"{d.get('CgroupPermissions') or 'rwm'}" for d in hc.get("Devices") or ()),
        blkio_weight_device=tuple(f"{d.get('Path')}:{d.get('Weight')}"
                                  for d in hc.get("BlkioWeightDevice") or ()),
        **{field: tuple(f"{d.get('Path')}:{d.get('Rate')}" for d in hc.get(key) or ())
           for field, key in (("device_read_bps", "BlkioDeviceReadBps"),
                              ("device_write_bps", "BlkioDeviceWriteBps"),
                              ("device_read_iops", "BlkioDeviceReadIOps"),
                              ("device_write_iops", "BlkioDeviceWriteIOps"))},
        tty=bool(body.get("Tty")),
        read_only=bool(hc.get("ReadonlyRootfs")), stop_signal=body.get("StopSignal") or None,
        stop_timeout=body.get("StopTimeout"), cpus=(hc.get("NanoCpus") or 0) / 1e9 or None,
        volumes=tuple(binds), mounts=tuple(mounts),
        volumes_from=tuple(hc.get("VolumesFrom") or ()),
        # "db:alias" from the CLI; "/db:/web/alias", inspect's form, from some clients
        links=tuple(f"{t}:{a.rsplit('/', 1)[-1]}" if a else t for t, _, a in
                    (link.partition(":") for link in hc.get("Links") or ())),
        tmpfs=tuple(f"{d}:{o}" if o else d for d, o in (hc.get("Tmpfs") or {}).items()),
        cap_add=tuple(hc.get("CapAdd") or ()), cap_drop=tuple(hc.get("CapDrop") or ()),
        log_driver=log.get("Type") or None,
        log_opts=tuple(f"{k}={v}" for k, v in (log.get("Config") or {}).items()),
        health_cmd=health_cmd, health_interval=_duration(hcheck.get("Interval")),
        health_timeout=_duration(hcheck.get("Timeout")),
        health_retries=hcheck.get("Retries") or None,
        health_start_period=_duration(hcheck.get("StartPeriod")),
        no_healthcheck=test[:1] == ["NONE"],
        privileged=bool(hc.get("Privileged")), security_opt=tuple(hc.get("SecurityOpt") or ()),
        add_hosts=tuple(hc.get("ExtraHosts") or ()), dns=tuple(hc.get("Dns") or ()),
        restart=restart, init=bool(hc.get("Init")))


@route("POST", "/containers/create")
def create(svc, conn, req):
    from runtime.engine.create import CreateOptions, create as create_
    from runtime.image.store import ImageNotFound
    args = create_args(req.json(required=True), req.arg("name") or None)
    image = args.pop("image_ref")
    from runtime.engine import repair
    repair.refresh(svc.store)
    try:
        c = create_(svc.store, image, CreateOptions(**args))
    except ImageNotFound:
        # docker-py and the docker CLI pull on exactly this message, then create again
        raise ApiError(404, f"No such image: {image}") from None
    c.mark_monitored_by(0, 0)  # created, and left so until a start
    conn.send_json(201, {"Id": c.id, "Warnings": []})


# ---- reading ------------------------------------------------------------------------------------

@route("GET", "/containers/json")
def list_(svc, conn, req):
    from runtime.engine import containers as cmod
    from runtime.engine import inspect, repair
    repair.refresh(svc.store)
    filters = {k: (list(v) if isinstance(v, list) else [x for x, on in v.items() if on])
               for k, v in req.json_arg("filters").items()}
    show_all = req.flag("all")
    out = []
    for c in sorted(cmod.all_containers(svc.store), key=lambda c: c.created,
                    reverse=True):
        if not show_all and inspect.status(c) not in ("running", "paused") and \
                "status" not in filters:
            continue
        if inspect.matches(c, filters):
            out.append(inspect.summary(c))
            if req.flag("size"):  # docker ps -s: a walk of its writable layer
                from runtime.engine.system import container_size
                out[-1]["SizeRw"], out[-1]["SizeRootFs"] = container_size(svc.store, c)
    limit = req.int_arg("limit", -1)
    conn.send_json(200, out[:limit] if limit and limit > 0 else out)


@route("GET", "/containers/{ref}/json")
def inspect_(svc, conn, req, ref):
    from runtime.engine import inspect
    conn.send_json(200, inspect.container(_find(svc, ref)))


@route("GET", "/containers/{ref}/top")
def top(svc, conn, req, ref):
    import subprocess
    from runtime.engine import oci
    c = _find(svc, ref)
    if not c.running:
        raise ApiError(409, f"Container {c.id} is not running")
    args = (req.arg("ps_args") or "-ef").split()
    p = subprocess.run(oci.argv("ps", c.id, *args),
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise ApiError(500, p.stderr.strip())
    lines = p.stdout.splitlines()
    titles = lines[0].split() if lines else []
    procs = [line.split(None, len(titles) - 1) for line in lines[1:]]
    conn.send_json(200, {"Titles": titles, "Processes": procs})


@route("GET", "/containers/{ref}/logs")
def logs(svc, conn, req, ref):
    from runtime.units import parse_when
    from runtime.engine import logs as logmod
    c = _find(svc, ref)
    if not (req.flag("stdout") or req.flag("stderr")):
        raise ApiError(400, "You must choose at least one stream")
    tail = req.arg("tail", "all")
    since = req.arg("since")
    since_ns = parse_when(since) if since and since != "0" else 0
    until = req.arg("until")
    until_ns = parse_when(until) if until and until != "0" else None
    conn.start_stream(200, RAW)
    _pump(conn, c, logmod.entries(c, follow=req.flag("follow"),
                                  tail=None if tail in ("all", "", None) else int(tail),
                                  since_ns=since_ns),
          {"stdout": req.flag("stdout"), "stderr": req.flag("stderr")},
          req.flag("timestamps"), until_ns, chunked=True)
    conn.end()


def _pump(conn, c, records, streams: dict, timestamps: bool = False, until_ns=None,
          chunked: bool = False) -> None:
    """Log records to the client: raw for a tty container, else Docker's frames."""
    tty = c.config.tty
    write = conn.write if chunked else conn.sock.sendall
    for rec in records:
        stream = rec.get("stream", "stdout")
        if not streams.get(stream, False):
            continue
        text = rec.get("log", "")
        if until_ns is not None:
            from runtime.units import parse_time_ns
            if (parse_time_ns(rec.get("time", "")) or 0) > until_ns:
                break
        if timestamps:
            text = f"{rec.get('time', '')} {text}"
        data = text.encode()
        write(data if tty else frame(2 if stream == "stderr" else 1, data))


# ---- a container's input: docker run -i, docker attach ------------------------------------------

class Input:
    """A container's stdin as this service writes it. For StdinOnce (docker run -i): a pipe
    whose read end the start hands to the container (with a terminal, to its monitor) and
    whose write end stays here until the attached client's end of input, which becomes the
    container's. For any other container with OpenStdin (docker run -di): its input FIFO,
    which its monitor made (engine/monitor.py), opened by each attach. write(), end() and
    close() take the lock: a descriptor closed by one thread while another writes to it
    could be a new file's number by then."""

    def __init__(self, fds: tuple | None = None):
        self.r, self.w = fds if fds else os.pipe()
        self.lock = threading.Lock()

    @classmethod
    def fifo(cls, c) -> "Input | None":
        """The running container's input FIFO, or None (engine/stdin.py)."""
        from runtime.engine.stdin import open_for_attach
        w = open_for_attach(c)
        return cls((None, w)) if w is not None else None

    def take_read_end(self) -> int | None:
        r, self.r = self.r, None
        return r

    def write(self, data: bytes) -> bool:
        with self.lock:
            if self.w is None:
                return False
            try:
                os.write(self.w, data)  # blocks while the container reads nothing: as Docker
                return True
            except OSError:  # EPIPE: the container has ended
                return False

    def end(self) -> None:
        """The end of input: the write end closed. A read end not yet taken stays, for the
        start to hand over with what was written before (`echo x | docker run -i` ends its
        input before it starts the container)."""
        with self.lock:
            if self.w is not None:
                os.close(self.w)
            self.w = None

    def close(self) -> None:
        with self.lock:
            for fd in (self.r, self.w):
                if fd is not None:
                    os.close(fd)
            self.r = self.w = None


INPUTS: dict[str, Input] = {}
INPUTS_LOCK = threading.Lock()


def input_for_start(c) -> Input:
    """The pipe a start hands to the container: the one an attach made for it, or a new one
    (the previous run's, if any, is closed: that container has ended)."""
    with INPUTS_LOCK:
        old = INPUTS.get(c.id)
        if old is not None and old.r is not None:
            return old
        INPUTS[c.id] = new = Input()
    if old is not None:
        old.close()
    return new


def drop_input(cid: str, inp: Input) -> None:
    with INPUTS_LOCK:
        if INPUTS.get(cid) is inp:
            del INPUTS[cid]
    inp.close()


def _relay_input(sock, inp: Input | None, once: bool, escape=None, detached=None) -> None:
    """What the client sends, to the container's input until the client's end of input
    (`docker run -i` half-closes the connection at its stdin's end); then, for a StdinOnce
    container, its input ends too. Bytes after the container's end are read and dropped.
    With a terminal (`escape`, engine/stdin.Escape, watching for the detach keys) the keys
    or the client's end end the attach alone: `detached` is set and the input stays open
    for the next attach, as Docker's (which closes stdin only with StdinOnce and no tty;
    the docker CLI, watching for the keys too, just hangs up)."""
    writing = inp is not None
    while True:
        try:
            data = sock.recv(1 << 16)
        except OSError:
            break
        if not data:
            break
        hit = False
        if escape is not None:
            data, hit = escape.feed(data)
        if writing and data:
            writing = inp.write(data)
        if hit:
            break
    if escape is not None:
        detached.set()
    elif inp is not None and once:
        inp.end()


@route("POST", "/containers/{ref}/attach")
def attach(svc, conn, req, ref):
    """The connection taken over: the output from now (from its start for a container not
    running, as `docker run` and `docker start -a` attach before they start it), until the
    container ends; with stdin, what the client sends goes to the container's input."""
    from runtime.engine import logs as logmod
    from runtime.engine import stdin as stdinmod
    c = _find(svc, ref)
    streams = {"stdout": req.flag("stdout"), "stderr": req.flag("stderr")}
    keys = req.arg("detachKeys")
    keys = stdinmod.parse_detach_keys(keys) if keys else stdinmod.DETACH  # a bad one: 400
    detached = threading.Event()
    # Judged before the answer: once the client has it, it starts the container, which may
    # have run and ended by the time we look again (its start time tells).
    waiting = not c.running
    last_start = c.state.started_at
    since_ns = time.time_ns() if waiting and c.state.status != "created" else 0
    once = c.config.stdin_once
    stdin = req.flag("stdin")
    inp = None
    if stdin and c.config.open_stdin and once:
        if waiting:
            inp = input_for_start(c)  # made before the client's start, which takes it
        else:
            with INPUTS_LOCK:
                inp = INPUTS.get(c.id)  # None: started elsewhere (pyrun start): no input
    sock = conn.hijack(req, RAW)
    if not req.flag("stream"):
        if req.flag("logs"):
            _pump(conn, c, logmod.entries(c), streams)
        return
    relay = None

    def start_relay():
        nonlocal relay
        escape = stdinmod.Escape(keys) if c.config.tty else None  # as Docker: with a tty
        relay = threading.Thread(target=_relay_input, daemon=True,
                                 args=(sock, inp, once, escape, detached))
        relay.start()
    if stdin and (once or not c.config.open_stdin):
        start_relay()  # at once: what the client sends before its start is the container's
    from runtime.timestamps import pauses
    sleeps = pauses()
    while waiting and not c.running and c.state.started_at == last_start:
        time.sleep(next(sleeps))  # until the client's start
        try:
            c.reload()
        except FileNotFoundError:
            break
    else:
        def open_fifo():  # the input FIFO, there once the container runs, written once
            nonlocal inp  # the output the writes cause cannot be missed
            inp = Input.fifo(c)
            start_relay()
        opened = open_fifo if stdin and relay is None else None
        # a restarted one's earlier runs are in its log: from the attach on, then
        _pump(conn, c, logmod.entries(c, follow=True, since_ns=since_ns,
                                      from_end=not (waiting or req.flag("logs")),
                                      opened=opened, stop=detached), streams)
        if detached.is_set() and _still_running(c):
            from runtime.engine import journal
            journal.record(c, "detach")
    if inp is not None and once and inp.r is None and not _still_running(c):
        drop_input(c.id, inp)  # it has ended: nothing will read its input again
    if relay is None:
        end_hijacked(sock)
        return
    _end_relayed(sock, relay)
    if inp is not None and not once:
        inp.close()  # this attach's own opening of the FIFO


def _end_relayed(sock, relay: threading.Thread) -> None:
    """end_hijacked's work where the relay is the one reader: our end first, the client's
    own end awaited a second at most (read and dropped), then its reading is cut short."""
    import socket
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    relay.join(1)
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    relay.join()


# ---- lifecycle ----------------------------------------------------------------------------------

@route("POST", "/containers/{ref}/start")
def start(svc, conn, req, ref):
    from runtime.engine.start import start as start_
    c = _find(svc, ref)
    if c.running:
        conn.send(304)
        return
    if not (c.config.open_stdin and c.config.stdin_once):
        start_(svc.store, c)  # -di: its monitor makes its input FIFO
        conn.send(204)
        return
    inp = input_for_start(c)  # docker run -i: the client's end of input is the container's
    r = inp.take_read_end()
    try:
        start_(svc.store, c, stdin=r)
    except BaseException:
        drop_input(c.id, inp)
        raise
    finally:
        os.close(r)  # the monitor has its own
    _forget_ended_inputs(svc)
    conn.send(204)


def _still_running(c) -> bool:
    try:
        return c.reload().running
    except FileNotFoundError:
        return False


def _forget_ended_inputs(svc) -> None:
    """Close the inputs of containers that no longer run (one whose client never attached,
    or went away without ending its input): each start looks, so that ended containers'
    pipes do not pile up here."""
    from runtime.engine import containers as cmod
    with INPUTS_LOCK:
        held = [(cid, inp) for cid, inp in INPUTS.items() if inp.r is None]
    for cid, inp in held:
        try:
            running = cmod.load(svc.store, cid).running
        except (FileNotFoundError, PyrunError):
            running = False
        if not running:
            drop_input(cid, inp)


@route("POST", "/containers/{ref}/wait")
def wait(svc, conn, req, ref):
    """The headers at once (the docker CLI waits for them before it starts the container),
    the exit code when the condition is met."""
    from runtime.engine.wait import wait as wait_
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: {condition!r}")
    c = _find(svc, ref)
    conn.start_stream()
    if condition == "not-running" and not c.running:
        code = c.state.exit_code
    else:  # next-exit and removed of an ended container: the end of its next run
        code = wait_(c, after="" if c.running else c.state.finished_at)
    if condition == "removed":
        from runtime.timestamps import pauses
        sleeps = pauses()
        while os.path.isdir(c.dir):
            time.sleep(next(sleeps))
    conn.write_json({"StatusCode": code, "Error": None})
    conn.end()


@route("POST", "/containers/{ref}/stop")
def stop(svc, conn, req, ref):
    from runtime.engine.stop import stop as stop_
    c = _find(svc, ref)
    if not c.running:
        conn.send(304)
        return
    stop_(c, req.int_arg("t"))
    conn.send(204)


@route("POST", "/containers/{ref}/restart")
def restart(svc, conn, req, ref):
    from runtime.engine.start import start as start_
    from runtime.engine.stop import stop as stop_
    c = _find(svc, ref)
    stop_(c, req.int_arg("t"), restarting=True)
    start_(svc.store, c.reload())
    conn.send(204)


@route("POST", "/containers/{ref}/kill")
def kill(svc, conn, req, ref):
    from runtime.engine.kill import kill as kill_
    c = _find(svc, ref)
    if not c.running:
        raise ApiError(409, f"Container {c.id} is not running")
    sig = req.arg("signal") or "SIGKILL"
    kill_(c, sig if not sig.isdigit() else _signame(int(sig)))
    conn.send(204)


def _signame(n: int) -> str:
    import signal
    try:
        return signal.Signals(n).name
    except ValueError:
        raise ApiError(400, f"invalid signal: {n}") from None


@route("POST", "/containers/{ref}/resize")
def resize(svc, conn, req, ref):
    from runtime.engine.resize import resize as resize_
    resize_(_find(svc, ref), req.int_arg("h", 24), req.int_arg("w", 80))
    conn.send(200)


@route("POST", "/containers/{ref}/pause")
def pause(svc, conn, req, ref):
    from runtime.engine.pause import pause as pause_
    pause_(_find(svc, ref))
    conn.send(204)


@route("POST", "/containers/{ref}/unpause")
def unpause(svc, conn, req, ref):
    from runtime.engine.pause import unpause as unpause_
    unpause_(_find(svc, ref))
    conn.send(204)


@route("POST", "/containers/{ref}/rename")
def rename(svc, conn, req, ref):
    from runtime.engine.rename import rename as rename_
    name = req.arg("name")
    if not name:
        raise ApiError(400, "name is required")
    rename_(_find(svc, ref), name)
    conn.send(204)


@route("POST", "/containers/{ref}/update")
def update(svc, conn, req, ref):
    from runtime.engine.update import update as update_
    body = req.json()
    for key, flag in (("KernelMemory", "--kernel-memory"),
                      ("CpuRealtimePeriod", "--cpu-rt-period"),
                      ("CpuRealtimeRuntime", "--cpu-rt-runtime")):
        if body.get(key) not in DEFAULTS:  # refused, not ignored
            raise ApiError(400, f"docker update {flag} is not supported by pyrun yet")
    policy = body.get("RestartPolicy") or {}
    restart = None
    if policy.get("Name"):
        restart = policy["Name"] + (f":{policy['MaximumRetryCount']}"
                                    if policy.get("MaximumRetryCount") else "")
    update_(_find(svc, ref), memory=body.get("Memory") or None,
            cpus=(body["NanoCpus"] / 1e9) if body.get("NanoCpus") else None,
            pids_limit=body.get("PidsLimit") or None, cpu_shares=body.get("CpuShares") or None,
            cpuset_cpus=body.get("CpusetCpus") or None,
            cpuset_mems=body.get("CpusetMems") or None,
            memory_reservation=body.get("MemoryReservation") or None,
            blkio_weight=body.get("BlkioWeight") or None,
            cpu_quota=body.get("CpuQuota") or None, cpu_period=body.get("CpuPeriod") or None,
            memory_swap=body.get("MemorySwap") or None, restart=restart)
    conn.send_json(200, {"Warnings": []})


@route("DELETE", "/containers/{ref}")
def remove(svc, conn, req, ref):
    from runtime.engine import containers as cmod
    from runtime.engine.remove import remove as remove_
    c = _find(svc, ref)
    remove_(c, req.flag("force"))
    cmod.after_last()
    conn.send(204)


@route("POST", "/containers/prune")
def prune(svc, conn, req):
    from runtime.engine import system
    removed = system.prune_containers(svc.store)
    conn.send_json(200, {"ContainersDeleted": removed or None, "SpaceReclaimed": 0})


@route("GET", "/containers/{ref}/stats")
def stats(svc, conn, req, ref):
    from runtime.engine import stats as statsmod
    c = _find(svc, ref)
    stream = req.flag("stream", True) and not req.flag("one-shot")
    conn.start_stream()
    before = statsmod.sample(c)
    while True:
        time.sleep(0.1 if not stream else 1.0)
        after = statsmod.sample(c)
        conn.write_json(statsmod.docker_json(c, before, after))
        if not stream or after is None:
            break
        before = after
    conn.end()


# ---- exec ---------------------------------------------------------------------------------------

EXECS: dict[str, dict] = {}
EXECS_LOCK = threading.Lock()


@route("POST", "/containers/{ref}/exec")
def exec_create(svc, conn, req, ref):
    from runtime.engine import execute
    c = _find(svc, ref)
    body = req.json(required=True)
    cmd = body.get("Cmd") or []
    if isinstance(cmd, str):
        cmd = [cmd]
    execute.check(c)
    if not cmd:
        raise ApiError(400, "No exec command specified")
    eid = os.urandom(32).hex()
    with EXECS_LOCK:
        EXECS[eid] = {"ID": eid, "ContainerID": c.id, "Running": False, "ExitCode": None,
                      "Pid": 0, "OpenStdin": bool(body.get("AttachStdin")),
                      "OpenStdout": bool(body.get("AttachStdout", True)),
                      "OpenStderr": bool(body.get("AttachStderr", True)),
                      "ProcessConfig": {"entrypoint": cmd[0], "arguments": cmd[1:],
                                        "tty": bool(body.get("Tty")),
                                        "user": body.get("User") or "",
                                        "privileged": bool(body.get("Privileged"))},
                      "_env": list(body.get("Env") or []), "_cwd": body.get("WorkingDir"),
                      "_size": None, "_sized": threading.Event(), "_master": None}
    conn.send_json(201, {"Id": eid})


def _exec(eid: str) -> dict:
    with EXECS_LOCK:
        e = EXECS.get(eid)
    if e is None:
        raise ApiError(404, f"No such exec instance: {eid}")
    return e


@route("GET", "/exec/{eid}/json")
def exec_inspect(svc, conn, req, eid):
    e = _exec(eid)
    conn.send_json(200, {k: v for k, v in e.items() if not k.startswith("_")})


@route("POST", "/exec/{eid}/resize")
def exec_resize(svc, conn, req, eid):
    e = _exec(eid)
    size = (req.int_arg("h", 24), req.int_arg("w", 80))
    with EXECS_LOCK:  # not while exec_start closes the terminal (its number reused)
        e["_size"] = size
        if e["_master"] is not None:
            _set_size(e["_master"], size)
    e["_sized"].set()
    conn.send(200)


def _await_size(sized: threading.Event, sock, limit: float) -> str:
    """Wait for an interactive exec's first resize, `limit` seconds at most: "sized",
    "input" (the client sent input first: one that types before it sizes, which the CLI
    does not, would only be kept waiting) or "timeout"."""
    import select
    end = time.monotonic() + limit
    while not sized.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return "timeout"
        # 5 ms steps: the resize handler sets an Event, which select cannot watch
        if select.select([sock], [], [], min(left, 0.005))[0]:
            return "input"
    return "sized"


def _set_size(fd: int, size) -> None:
    from runtime.engine.resize import set_size
    try:
        set_size(fd, *size)
    except OSError:
        pass


@route("POST", "/exec/{eid}/start")
def exec_start(svc, conn, req, eid):
    """Run it: with Detach, answer at once; else the connection is taken over, the
    process's output goes to it (raw with a terminal, else in Docker's frames) and what the
    client sends goes to its stdin."""
    import select
    import subprocess
    from runtime.engine import containers as cmod
    from runtime.engine import execute
    e = _exec(eid)
    if e["Running"] or e["ExitCode"] is not None:
        raise ApiError(409, f"exec {eid} has already run")
    body = req.json()
    c = cmod.load(svc.store, e["ContainerID"])
    pc = e["ProcessConfig"]
    argv = execute.argv(c, [pc["entrypoint"], *pc["arguments"]], e["_env"], pc["user"] or None,
                        e["_cwd"], detach=bool(body.get("Detach")))
    tty = pc["tty"]
    if body.get("Detach"):
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        e["ExitCode"] = 0
        conn.send(200)
        return
    if tty:  # a terminal in the container's devpts; its master side is the stream
        sock = conn.hijack(req, RAW)
        # The docker CLI sizes the terminal with a resize once it has this answer (API 1.41
        # has no size in the start request): an interactive one's process waits for it,
        # two seconds at most, so that what it runs first (stty size, tput cols) sees the
        # client's size. (Half a second was too little on a loaded host: the resize came
        # later and `stty size` saw 0 0. The SDK's exec_run(tty=True) sends none and has
        # no stdin: it does not wait; a client that sends input first does not either.)
        if e["OpenStdin"]:
            _await_size(e["_sized"], sock, 2)
        console = execute.ConsoleSocket()
        try:
            argv = execute.argv(c, [pc["entrypoint"], *pc["arguments"]], e["_env"],
                                pc["user"] or None, e["_cwd"], tty=True,
                                console_socket=console.path)
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            try:
                master = console.receive()
            except OSError:
                p.kill()
                why = (p.communicate()[1] or b"").decode().strip() or "no terminal"
                e["ExitCode"] = 126
                sock.sendall(f"exec: {why}\r\n".encode())  # the answer is sent: say it here
                end_hijacked(sock)
                return
        finally:
            console.close()
        with EXECS_LOCK:
            if e["_size"]:
                _set_size(master, e["_size"])
            e["_master"] = master
        outs = {master: 1}
        stdin_fd = master
    else:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if e["OpenStdin"] else
                             subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        outs = {p.stdout.fileno(): 1, p.stderr.fileno(): 2}
        stdin_fd = p.stdin.fileno() if p.stdin else None
        sock = conn.hijack(req, RAW)
    e["Running"], e["Pid"] = True, p.pid
    reading_client = stdin_fd is not None
    try:
        while outs:
            watch = list(outs) + ([sock.fileno()] if reading_client else [])
            ready, _, _ = select.select(watch, [], [])
            for fd in ready:
                if fd == sock.fileno():
                    try:
                        data = sock.recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        reading_client = False
                        if not tty and p.stdin:
                            p.stdin.close()
                        continue
                    try:
                        os.write(stdin_fd, data)
                    except OSError:
                        reading_client = False
                    continue
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:  # a terminal whose last holder closed it: EIO
                    data = b""
                if not data:
                    del outs[fd]
                    continue
                sock.sendall(data if tty else frame(outs[fd], data))
    finally:
        code = p.wait()
        if tty:
            with EXECS_LOCK:
                e["_master"] = None
                os.close(master)
        e["Running"], e["ExitCode"] = False, code
        end_hijacked(sock)


# ---- files: docker cp, export, diff, commit -------------------------------------------------

def _stat_header(stat: dict) -> str:
    import base64
    import json
    return base64.b64encode(json.dumps(stat).encode()).decode()


@route("GET", "/containers/{ref}/archive")
def archive_get(svc, conn, req, ref):
    """A tar of the path (HEAD: only its stat, in X-Docker-Container-Path-Stat)."""
    from runtime.engine import copy
    c = _find(svc, ref)
    path = req.arg("path")
    if not path:
        raise ApiError(400, "path is required")
    header = {"X-Docker-Container-Path-Stat": _stat_header(copy.path_stat(c, path))}
    if req.method == "HEAD":
        conn.head(200, {**header, "Content-Length": "0"})
        return
    conn.head(200, {**header, "Content-Type": "application/x-tar",
                     "Transfer-Encoding": "chunked"})
    copy.archive_out(c, path, conn.write)
    conn.end()


@route("PUT", "/containers/{ref}/archive")
def archive_put(svc, conn, req, ref):
    from runtime.engine import copy
    c = _find(svc, ref)
    path = req.arg("path")
    if not path:
        raise ApiError(400, "path is required")
    try:
        copy.archive_in(c, path, req.chunks())
    except BaseException:
        conn.keep_alive = False  # the body may be half read
        raise
    conn.send(200)


@route("GET", "/containers/{ref}/export")
def export(svc, conn, req, ref):
    from runtime.engine import copy
    c = _find(svc, ref)
    conn.start_stream(200, "application/x-tar")

    class Out:
        write = staticmethod(conn.write)
    copy.export(c, Out)
    conn.end()


@route("GET", "/containers/{ref}/changes")
def changes(svc, conn, req, ref):
    from runtime.engine.commit import changes as changes_
    kinds = {"C": 0, "A": 1, "D": 2}
    conn.send_json(200, [{"Path": path, "Kind": kinds[kind]}
                         for kind, path in changes_(_find(svc, ref))])


@route("POST", "/commit")
def commit(svc, conn, req):
    from runtime.engine.commit import commit as commit_
    c = _find(svc, req.arg("container") or "")
    repo = req.arg("repo")
    ref = f"{repo}:{req.arg('tag') or 'latest'}" if repo else None
    image = commit_(c, ref, message=req.arg("comment") or "", author=req.arg("author") or "",
                    pause=req.flag("pause", True))
    conn.send_json(201, {"Id": image.id})
