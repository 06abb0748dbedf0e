"""What `inspect` and `ls` show of containers and images, as Docker's Engine API shapes them:
the CLI prints these objects and the API serves them, so both say the same.

    container(c) -> inspect object          summary(c) -> a /containers/json entry
    status(c) -> running|paused|exited|created
    matches(c, filters) -> Docker's --filter on containers
    image(store, ref) -> inspect object     image_summary(store, img) -> a /images/json entry
"""

from __future__ import annotations

from runtime import jsonfast as json
from runtime.errors import PyrunError


def status(c) -> str:
    if c.running:
        return "paused" if c.state.paused else "running"
    return c.state.status


def container(c) -> dict:
    """A container's `inspect` object: its record's serialized form, with what is read off
    the host (running, health) and Docker's types where the record keeps richer ones."""
    d = json.loads(json.dumps(c.to_json()))  # a copy the caller may change
    d["Name"] = "/" + c.name
    d["State"]["Running"] = c.running
    d["State"]["Status"] = status(c)
    d["State"]["Paused"] = d["State"]["Status"] == "paused"
    from runtime.engine import health
    if health.settings(c.config.healthcheck) is not None:
        d["State"]["Health"] = health.read(c.dir) or {"Status": "starting",
                                                      "FailingStreak": 0, "Log": []}
    d["NetworkSettings"]["Ports"] = ports(c)
    d["Mounts"] = mounts(c)
    hc = d["HostConfig"]
    # Binds as strings, Tmpfs as a map, the published ports as PortBindings (clients decode
    # these fields strictly).
    hc["Binds"] = [f"{b['Name'] if b['Type'] == 'volume' else b['Source']}:"
                   f"{b['Destination']}{'' if b['RW'] else ':ro'}" for b in c.host.binds]
    hc["Tmpfs"] = {t["Destination"]: ",".join(t.get("Options") or []) for t in c.host.tmpfs}
    bindings: dict = {}
    for p in c.host.ports:
        bindings.setdefault(f"{p.container_port}/{p.proto}", []).append(
            {"HostIp": "" if p.host_ip == "0.0.0.0" else p.host_ip,
             "HostPort": str(p.host_port)})
    hc["PortBindings"] = bindings
    hc["ConsoleSize"] = c.host.console_size or [0, 0]  # Docker's [height, width]
    hc.pop("Ports", None)
    if hc["Capabilities"] is None:
        hc.pop("Capabilities")
    if d["Config"]["Healthcheck"] is None:
        d["Config"].pop("Healthcheck")
    d["Config"]["Image"] = c.image_ref
    d["Config"]["AttachStdout"] = not c.config.tty
    d["Config"]["AttachStdin"] = c.config.stdin_once  # docker run -i sets both; -d -i neither
    return d


def ports(c) -> dict:
    out = {}
    for p in c.host.ports:
        out.setdefault(f"{p.container_port}/{p.proto}", []).append(
            {"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    return out


def mounts(c) -> list[dict]:
    return [{"Type": b["Type"], **({"Name": b["Name"], "Driver": "local"}
                                   if b["Type"] == "volume" else {}),
             "Source": b["Source"], "Destination": b["Destination"], "Mode": "",
             "RW": b["RW"], "Propagation": "rprivate"}
            for b in c.host.binds]


def summary(c) -> dict:
    """A container as GET /containers/json lists it."""
    from runtime.engine.model import dump
    from runtime.units import parse_time
    st = status(c)
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.image_ref,
        "ImageID": c.image, "Command": " ".join(c.command),
        "Created": int(parse_time(c.created) or 0),
        "Ports": [{"IP": p.host_ip, "PrivatePort": p.container_port,
                   "PublicPort": p.host_port, "Type": p.proto}
                  for p in c.host.ports] if st == "running" else [],
        "Labels": c.config.labels, "State": st,
        "Status": c.status_text(),
        "HostConfig": {"NetworkMode": c.host.network_mode},
        "NetworkSettings": {"Networks": {name: dump(ep)
                                         for name, ep in c.net.networks.items()}},
        "Mounts": mounts(c),
    }


def matches(c, filters: dict[str, list[str]]) -> bool:
    """Docker's container filters: each key's values OR'ed, the keys AND'ed."""
    st = status(c)
    labels = c.config.labels
    for key, values in filters.items():
        if key == "name":
            ok = any(v.lstrip("/") in c.name for v in values)
        elif key == "status":
            ok = st in values
        elif key == "id":
            ok = any(c.id.startswith(v) for v in values)
        elif key == "health":
            ok = (c.health_status() or "none") in values
        elif key == "label":
            ok = all(k in labels and (not sep or labels[k] == want)
                     for k, sep, want in (v.partition("=") for v in values))
        elif key == "ancestor":
            ok = any(v in (c.image_ref, c.image) or
                     c.image.split(":")[-1].startswith(v) for v in values)
        elif key == "network":
            nets = c.net.networks
            ok = any(v in nets or any(e.network_id.startswith(v) for e in nets.values())
                     for v in values)
        elif key == "exited":
            ok = st == "exited" and str(c.state.exit_code) in values
        else:
            raise PyrunError(f"invalid filter '{key}'")
        if not ok:
            return False
    return True


def filters_of(args) -> dict[str, list[str]]:
    """["k=v", ...] (the CLI's repeated --filter) → {k: [v, ...]}."""
    out: dict[str, list[str]] = {}
    for f in args:
        key, sep, value = f.partition("=")
        if not sep:
            raise PyrunError(f"bad format of filter (expected name=value): {f}")
        out.setdefault(key, []).append(value)
    return out


def image(store, name: str) -> dict:
    """An image's `inspect` object."""
    from runtime.image import reference
    img = store.resolve(name)
    cfg = img.config
    return {
        "Id": img.id,
        "RepoTags": [reference.parse(t).familiar() for t in img.tags],
        "RepoDigests": [reference.parse(d).familiar() for d in img.repo_digests],
        "Parent": img.parent or "",
        "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
        "Created": img.created,
        "Author": cfg.get("author", ""),
        "Config": cfg.get("config", {}),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": img.size,
        "VirtualSize": img.size,
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Metadata": {"ManifestDigest": img.manifest_digest},
    }


def image_summary(store, img) -> dict:
    """An image as GET /images/json lists it."""
    from runtime.image import reference
    from runtime.units import parse_time
    return {"Id": img.id, "ParentId": img.parent or "",
            "RepoTags": [reference.parse(t).familiar() for t in img.tags] or None,
            "RepoDigests": [reference.parse(d).familiar() for d in img.repo_digests] or None,
            "Created": int(parse_time(img.created) or 0), "Size": img.size,
            "VirtualSize": img.size, "SharedSize": -1,
            "Labels": (img.config.get("config") or {}).get("Labels") or {},
            "Containers": -1}


def history(store, img) -> list[dict]:
    """An image's steps, newest first, as GET /images/{name}/history gives them: the image
    each step made (or "<missing>" where it is not in the store), its instruction and size."""
    from runtime.image import reference
    from runtime.units import parse_time
    chain = store.ancestry(img)
    diff_ids = img.diff_ids
    sizes = store.layer_sizes()
    layer_i = len(diff_ids)
    rows = []
    for n, h in enumerate(reversed(img.config.get("history", []))):
        step = chain[n] if n < len(chain) else None
        if h.get("empty_layer"):
            size = 0
        else:
            layer_i -= 1
            size = sizes.get(diff_ids[layer_i], 0) if layer_i >= 0 else 0
        rows.append({"Id": step.id if step else "<missing>",
                     "Created": int(parse_time(h.get("created", "")) or 0),
                     "CreatedAt": h.get("created", ""),
                     "CreatedBy": h.get("created_by", ""),
                     "Tags": [reference.parse(t).familiar() for t in step.tags]
                     if step else None, "Size": size, "Comment": h.get("comment", "")})
    return rows
