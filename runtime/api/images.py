"""/images/...: list, inspect, history, tag, remove, prune, pull (images/create) with
Docker's streamed progress, push; /commit."""

from __future__ import annotations

from runtime.api.http import ApiError
from runtime.api.routes import route


@route("GET", "/images/json")
def list_(svc, conn, req):
    from runtime.engine import inspect
    images = svc.store.images()
    parents = {img.parent for img in images}
    out = [inspect.image_summary(svc.store, img) for img in images
           if req.flag("all") or img.tags or img.id not in parents]
    filters = req.json_arg("filters")
    refs = filters.get("reference")
    if refs:
        wanted = list(refs) if isinstance(refs, list) else [k for k, on in refs.items() if on]
        import fnmatch
        out = [i for i in out if any(fnmatch.fnmatch(t, w) or fnmatch.fnmatch(
            t.rsplit(":", 1)[0], w) for t in i["RepoTags"] or [] for w in wanted)]
    conn.send_json(200, sorted(out, key=lambda i: -i["Created"]))


@route("GET", "/images/{name*}/json")
def inspect_(svc, conn, req, name):
    from runtime.engine import inspect
    conn.send_json(200, inspect.image(svc.store, name))


@route("GET", "/images/{name*}/history")
def history(svc, conn, req, name):
    from runtime.engine import inspect
    rows = inspect.history(svc.store, svc.store.resolve(name))
    conn.send_json(200, [{k: r[k] for k in ("Id", "Created", "CreatedBy", "Tags", "Size",
                                           "Comment")} for r in rows])


@route("POST", "/images/{name*}/tag")
def tag(svc, conn, req, name):
    repo = req.arg("repo")
    if not repo:
        raise ApiError(400, "repository name is required")
    target = f"{repo}:{req.arg('tag') or 'latest'}"
    svc.store.tag(svc.store.resolve(name).id, target)
    conn.send(201)


@route("DELETE", "/images/{name*}")
def remove(svc, conn, req, name):
    from runtime.engine.images import remove as remove_
    conn.send_json(200, remove_(svc.store, name, req.flag("force")))


@route("POST", "/images/prune")
def prune(svc, conn, req):
    from runtime.engine import system
    filters = req.json_arg("filters")
    dangling = filters.get("dangling", {})
    everything = dangling in (["false"], {"false": True}, ["0"])
    removed = system.prune_images(svc.store, everything)
    conn.send_json(200, {"ImagesDeleted": [{"Deleted": d} for d in removed] or None,
                         "SpaceReclaimed": 0})


class _Lines:
    """A file-like progress sink: each line the registry client writes becomes one of
    Docker's JSON progress messages on the stream."""

    def __init__(self, conn):
        self.conn, self.buf = conn, ""

    def write(self, text: str) -> int:
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            line = line.strip()
            if line:
                self.conn.write_json({"status": line})
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@route("POST", "/images/create")
def create(svc, conn, req):
    """docker pull: fromImage (+ tag), progress streamed as JSON lines."""
    from runtime.image import reference
    from runtime.registry import client
    name = req.arg("fromImage")
    if not name:
        if req.arg("fromSrc"):
            raise ApiError(501, "image import through the API is not served yet: "
                                "use `pyrun image import`")
        raise ApiError(400, "fromImage is required")
    tag = req.arg("tag")
    if tag:
        name = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
    ref = reference.parse(name)  # a bad name: 400 before any stream starts
    conn.start_stream()
    conn.write_json({"status": f"Pulling from {ref.familiar_repository}",
                     "id": ref.tag or "latest"})
    img = client.pull(svc.store, name, None, out=_Lines(conn))
    pulled = next((d for d in img.repo_digests if d.startswith(ref.repository + "@")), "")
    if pulled:
        conn.write_json({"status": f"Digest: {pulled.split('@', 1)[1]}"})
    conn.write_json({"status": f"Status: Downloaded newer image for {ref.familiar()}"})
    conn.end()


@route("POST", "/images/{name*}/push")
def push(svc, conn, req, name):
    from runtime.image import reference
    from runtime.registry import client
    tag = req.arg("tag")
    full = f"{name}:{tag}" if tag else name
    reference.parse(full)
    svc.store.resolve(full)  # 404 before the stream
    conn.start_stream()
    digest = client.push(svc.store, full, out=_Lines(conn))
    import os
    size = os.path.getsize(svc.store.blob_path(digest))
    conn.write_json({"status": f"{reference.parse(full).tag}: digest: {digest} size: {size}"})
    conn.write_json({"progressDetail": {}, "aux": {"Tag": reference.parse(full).tag,
                                                   "Digest": digest, "Size": size}})
    conn.end()


class _Chunks:
    """A file-like sink whose writes go out as chunks of the answer."""

    def __init__(self, conn):
        self.write = conn.write

    def flush(self) -> None:
        pass


@route("GET", "/images/get")
def get_many(svc, conn, req):
    """docker save: a docker-archive tar of the images named."""
    names = [n for n in req.query.get("names", []) if n]
    if not names:
        raise ApiError(400, "no images named")
    _save(svc, conn, names)


@route("GET", "/images/{name*}/get")
def get_one(svc, conn, req, name):
    _save(svc, conn, [name])


def _save(svc, conn, names) -> None:
    from runtime.image import archive
    for n in names:
        svc.store.resolve(n)  # 404 before the stream starts
    conn.start_stream(200, "application/x-tar")
    archive.save(svc.store, names, _Chunks(conn), "docker", False)
    conn.end()


@route("POST", "/images/load")
def load(svc, conn, req):
    """docker load: a docker-archive or OCI layout tar in the body."""
    import os
    import shutil
    from runtime.image import archive
    work = svc.store.ensure().tmpdir("api-load-")
    try:
        path = os.path.join(work, "archive.tar")
        with open(path, "wb") as f:
            for chunk in req.chunks():
                f.write(chunk)
        loaded = archive.load(svc.store, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    conn.start_stream()
    for img, names in loaded:
        for n in names:
            conn.write_json({"stream": f"Loaded image: {n}\n"})
        if not names:
            conn.write_json({"stream": f"Loaded image ID: {img.id}\n"})
    conn.end()
