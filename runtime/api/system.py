"""The handshake and the service's own endpoints: /_ping, /version, /info, /events, /auth,
/system/df."""

from __future__ import annotations

import os
import platform
import time

from runtime import __version__
from runtime.api.routes import API_VERSION, MIN_API_VERSION, route


@route("GET", "/_ping")
def ping(svc, conn, req):
    body = b"OK"
    conn.head(200, {"Content-Type": "text/plain; charset=utf-8",
                     "Content-Length": str(len(body)), "Cache-Control": "no-cache, no-store",
                     "Pragma": "no-cache", "Builder-Version": "1"})
    if req.method != "HEAD":
        conn.sock.sendall(body)


def engine_version() -> dict:
    """/version's body, and `pyrun version`'s Server."""
    uname = os.uname()
    return {"Version": f"pyrun-{__version__}", "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION, "GitCommit": "", "GoVersion": "",
            "Os": "linux", "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                uname.machine, uname.machine),
            "KernelVersion": uname.release, "BuildTime": "",
            "Platform": {"Name": "pyrun"},
            "Components": [{"Name": "Engine", "Version": __version__,
                            "Details": {"ApiVersion": API_VERSION,
                                        "MinAPIVersion": MIN_API_VERSION}}]}


@route("GET", "/version")
def version(svc, conn, req):
    conn.send_json(200, engine_version())


@route("GET", "/info")
def info(svc, conn, req):
    from runtime.engine.containers import all_containers
    from runtime.engine.inspect import status
    from runtime.linux import cgroups
    states = [status(c) for c in all_containers(svc.store)]
    mode = cgroups.mode()
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        mem = 0
    conn.send_json(200, {
        "ID": "pyrun", "Name": platform.node(), "ServerVersion": f"pyrun-{__version__}",
        "Containers": len(states), "ContainersRunning": states.count("running"),
        "ContainersPaused": states.count("paused"),
        "ContainersStopped": len(states) - states.count("running") - states.count("paused"),
        "Images": len(svc.store.images()), "Driver": "overlay2",
        "DockerRootDir": svc.store.root, "MemoryLimit": True, "SwapLimit": False,
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if mode == "unified" else "1",
        "KernelVersion": os.uname().release, "OperatingSystem": platform.platform(),
        "OSType": "linux", "Architecture": os.uname().machine, "NCPU": os.cpu_count(),
        "MemTotal": mem, "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"]},
        "SecurityOptions": ["name=seccomp,profile=default"], "Runtimes": {"pyrun-oci": {
            "path": "pyrun-oci"}}, "DefaultRuntime": "pyrun-oci", "Swarm": {
            "LocalNodeState": "inactive"}, "LiveRestoreEnabled": True, "Warnings": None,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Log": ["json-file"]}, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Labels": [], "ExperimentalBuild": False, "SystemTime": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


@route("POST", "/auth")
def auth(svc, conn, req):
    """Credentials are checked by the registry on the next pull or push (as Docker's answer
    for a registry that has no token endpoint to try them on)."""
    body = req.json(required=True)
    if not body.get("username") and not body.get("identitytoken"):
        conn.send_error(400, "username is empty")
        return
    conn.send_json(200, {"Status": "Login Succeeded", "IdentityToken": ""})


@route("GET", "/events")
def events(svc, conn, req):
    """The journal, as `pyrun events` reads it: what happened since `since`, then what
    happens, until `until` (or the client goes)."""
    from runtime.units import parse_when
    from runtime.engine import journal
    filters = {k: (list(v) if isinstance(v, list) else [k2 for k2, on in v.items() if on])
               for k, v in req.json_arg("filters").items()}
    since = req.arg("since")
    until = req.arg("until")
    since_ns = parse_when(since) if since else time.time_ns()
    until_ns = parse_when(until) if until else None
    conn.start_stream()
    if until_ns is not None and until_ns <= time.time_ns():
        for e in journal.read(svc.store, since_ns, until_ns, filters):
            conn.write_json(e)
    else:
        for e in journal.follow(svc.store, since_ns, filters, until_ns=until_ns):
            conn.write_json(e)
    conn.end()


@route("GET", "/system/df")
def df(svc, conn, req):
    from runtime.engine import system
    conn.send_json(200, system.usage(svc.store))
