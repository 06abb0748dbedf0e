"""/networks/...: user-defined networks (runtime/net/networks.py) and a container's
endpoints on them (runtime/engine/networking.py)."""

from __future__ import annotations

from runtime.api.http import ApiError
from runtime.api.routes import route


def _list(svc, filters: dict) -> list[dict]:
    from runtime.engine import networking
    from runtime.engine.containers import all_containers
    from runtime.net import networks
    found = [networks.predefined(n) for n in networks.PREDEFINED] + networks.list_all()
    for key, values in filters.items():
        values = list(values) if isinstance(values, list) else [k for k, on in values.items()
                                                                  if on]
        if key == "name":
            found = [d for d in found if any(v in d["Name"] for v in values)]
        elif key == "id":
            found = [d for d in found if any(d["Id"].startswith(v) for v in values)]
        elif key == "label":
            found = [d for d in found if all(
                k in d["Labels"] and (not sep or d["Labels"][k] == want)
                for k, sep, want in (v.partition("=") for v in values))]
        elif key == "driver":
            found = [d for d in found if d["Driver"] in values]
        elif key == "type":
            found = [d for d in found if ("custom" if d["Name"] not in networks.PREDEFINED
                                          else "builtin") in values]
        else:
            raise ApiError(400, f"invalid filter '{key}'")
    containers = all_containers(svc.store)
    return [networking.inspected(containers, d) for d in found]


@route("GET", "/networks")
def list_(svc, conn, req):
    conn.send_json(200, _list(svc, req.json_arg("filters")))


@route("GET", "/networks/{ref}")
def inspect_(svc, conn, req, ref):
    from runtime.engine import networking
    from runtime.engine.containers import all_containers
    from runtime.net import networks
    conn.send_json(200, networking.inspected(all_containers(svc.store), networks.get(ref)))


@route("POST", "/networks/create")
def create(svc, conn, req):
    from runtime.engine import networking
    body = req.json(required=True)
    name = body.get("Name")
    if not name:
        raise ApiError(400, "network name is required")
    if (body.get("Driver") or "bridge") != "bridge":
        raise ApiError(400, f"network driver {body['Driver']!r} not found (pyrun has bridge)")
    # (CheckDuplicate is moot: names are unique here, as in Docker 23 and later)
    cfg = ((body.get("IPAM") or {}).get("Config") or [{}])[0] or {}
    d = networking.create_network(svc.store, name, cfg.get("Subnet"), cfg.get("Gateway"),
                                  bool(body.get("Internal")), body.get("Labels") or {})
    conn.send_json(201, {"Id": d["Id"], "Warning": ""})


@route("DELETE", "/networks/{ref}")
def remove(svc, conn, req, ref):
    from runtime.engine import networking
    networking.remove_network(svc.store, ref)
    conn.send(204)


@route("POST", "/networks/prune")
def prune(svc, conn, req):
    from runtime.engine import networking
    conn.send_json(200, {"NetworksDeleted": networking.prune_networks(svc.store) or None})


@route("POST", "/networks/{ref}/connect")
def connect(svc, conn, req, ref):
    from runtime.engine import containers as cmod
    from runtime.engine import networking
    body = req.json(required=True)
    ep = body.get("EndpointConfig") or {}
    c = cmod.find(svc.store, body.get("Container") or "")
    networking.connect(c, ref, [a for a in ep.get("Aliases") or [] if a],
                       (ep.get("IPAMConfig") or {}).get("IPv4Address") or None)
    conn.send(200)


@route("POST", "/networks/{ref}/disconnect")
def disconnect(svc, conn, req, ref):
    from runtime.engine import containers as cmod
    from runtime.engine import networking
    body = req.json(required=True)
    c = cmod.find(svc.store, body.get("Container") or "")
    networking.disconnect(c, ref, bool(body.get("Force")))
    conn.send(200)
