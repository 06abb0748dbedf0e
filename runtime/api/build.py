"""POST /build: the classic builder protocol (`DOCKER_BUILDKIT=0 docker build`, docker-compose
1.29, the SDK's images.build): a tar of the context in the body, options in the query, the
build's output back as Docker's JSON lines (stream, aux with the image ID, error); and
POST /build/prune, which has nothing to free.

The build runs as a `pyrun build` child over the unpacked context: a build works in a
private mount namespace, which a threaded process such as this service cannot enter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from runtime import tarfilter
from runtime.api.http import ApiError
from runtime.api.routes import route


def _unpack(req, into: str) -> None:
    """The body (a tar, possibly compressed) into `into`, nothing outside it (tarfile's
    "data" filter: no absolute paths, no .., no devices, no links out)."""
    raw = os.path.join(into, ".context.tar")
    with open(raw, "wb") as f:
        for chunk in req.chunks():
            f.write(chunk)
    ctx = os.path.join(into, "context")
    os.mkdir(ctx)
    try:
        with tarfile.open(raw, "r:*") as t:
            tarfilter.extractall(t, ctx, "data")
    except (tarfile.TarError, OSError) as e:  # tarfilter's refusals are TarErrors
        raise ApiError(400, f"the build context is not a readable tar: {e}") from None
    finally:
        os.unlink(raw)


@route("POST", "/build")
def build(svc, conn, req):
    if req.json_arg("labels"):
        raise ApiError(400, "build labels are not supported yet (LABEL in the Dockerfile is)")
    remote = req.arg("remote")
    if remote:
        raise ApiError(400, "building from a remote context is not supported: send the "
                            "context as a tar")
    tags = [t for t in req.query.get("t", []) if t]
    argv = [sys.executable, "-m", "runtime.cli.main", "--root", svc.store.root, "build"]
    for t in tags:
        argv += ["-t", t]
    for k, v in req.json_arg("buildargs").items():
        argv += ["--build-arg", f"{k}={v}" if v is not None else k]
    if req.arg("target"):
        argv += ["--target", req.arg("target")]
    if req.flag("nocache"):
        argv.append("--no-cache")
    if req.flag("pull"):
        argv.append("--pull")
    network = req.arg("networkmode") or "default"
    argv += ["--network", "bridge" if network == "default" else network]
    work = tempfile.mkdtemp(prefix="pyrun-api-build-", dir="/var/tmp")
    try:
        _unpack(req, work)
        ctx = os.path.join(work, "context")
        dockerfile = req.arg("dockerfile") or "Dockerfile"
        path = os.path.realpath(os.path.join(ctx, dockerfile))
        if not path.startswith(os.path.realpath(ctx) + os.sep):
            raise ApiError(400, f"the Dockerfile {dockerfile!r} is outside the context")
        argv += ["-f", path, ctx]
        conn.start_stream()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, bufsize=1)
        built = None
        last = ""
        for line in p.stdout:
            if line.startswith("Successfully built "):
                built = line.split()[-1]
            if line.startswith("pyrun: "):
                last = line[len("pyrun: "):].strip()
                continue  # the error, said once below in Docker's form
            conn.write_json({"stream": line})
        code = p.wait()
        if code != 0 or built is None:
            message = last or f"the build failed (exit {code})"
            conn.write_json({"errorDetail": {"code": code, "message": message},
                             "error": message})
        else:
            image_id = svc.store.resolve(built).id
            conn.write_json({"aux": {"ID": image_id}})
        conn.end()
    finally:
        shutil.rmtree(work, ignore_errors=True)


@route("POST", "/build/prune")
def prune(svc, conn, req):
    """The builder's own cache, which `docker system prune` and `docker builder prune` empty:
    pyrun's build cache is its images (each step one), so there is nothing here to free;
    dangling steps go with the image prune."""
    conn.send_json(200, {"CachesDeleted": None, "SpaceReclaimed": 0})
