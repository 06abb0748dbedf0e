"""/volumes/...: named volumes (runtime/engine/volumes.py)."""

from __future__ import annotations

from runtime.api.routes import route


@route("GET", "/volumes")
def list_(svc, conn, req):
    from runtime.engine import volumes
    found = volumes.all_volumes(svc.store)
    for key, values in req.json_arg("filters").items():
        values = list(values) if isinstance(values, list) else [k for k, on in values.items()
                                                                  if on]
        if key == "name":
            found = [v for v in found if any(x in v["Name"] for x in values)]
        elif key == "label":
            found = [v for v in found if all(
                k in v["Labels"] and (not sep or v["Labels"][k] == want)
                for k, sep, want in (x.partition("=") for x in values))]
        elif key == "dangling":
            from runtime.engine.containers import all_containers
            cs = all_containers(svc.store)
            want = values[0] in ("true", "1")
            found = [v for v in found if (not volumes.users(cs, v["Name"])) == want]
    conn.send_json(200, {"Volumes": found, "Warnings": None})


@route("GET", "/volumes/{name}")
def inspect_(svc, conn, req, name):
    from runtime.engine import volumes
    conn.send_json(200, volumes.get(svc.store, name))


@route("POST", "/volumes/create")
def create(svc, conn, req):
    from runtime.engine import volumes
    body = req.json()
    conn.send_json(201, volumes.create(svc.store, body.get("Name") or None,
                                       body.get("Labels") or {}))


@route("DELETE", "/volumes/{name}")
def remove(svc, conn, req, name):
    from runtime.engine import volumes
    from runtime.engine.containers import all_containers
    volumes.remove(svc.store, name, all_containers(svc.store), req.flag("force"))
    conn.send(204)


@route("POST", "/volumes/prune")
def prune(svc, conn, req):
    from runtime.engine import volumes
    from runtime.engine.containers import all_containers
    removed = volumes.prune(svc.store, all_containers(svc.store), False)
    conn.send_json(200, {"VolumesDeleted": removed or None, "SpaceReclaimed": 0})
