"""The events journal: every lifecycle change of a container, one JSON line in Docker's
event form, appended to <store>/events.log by whichever process made the change (the CLI,
a monitor), and read by `pyrun events`.

A line is written with one O_APPEND write, so concurrent writers never interleave. The file
is bounded: past MAX_BYTES it is renamed to events.log.1 (the one before that dropped), so
`--since` reaches back over the last two files.
"""

from __future__ import annotations

import os
import time

from runtime import jsonfast as json

NAME = "events.log"
MAX_BYTES = 4 << 20


def path(store) -> str:
    return os.path.join(store.root, NAME)


def event(action: str, c, attrs: dict | None = None, now_ns: int | None = None) -> dict:
    """Docker's event object for a container. Pure but for the clock."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    # Docker puts the container's labels among the attributes, beside image and name.
    attributes = dict(c.config.labels)
    attributes.update({"image": c.image_ref or c.image,
                       "name": c.name, **(attrs or {})})
    return {"status": action, "id": c.id, "from": attributes["image"], "Type": "container",
            "Action": action, "Actor": {"ID": c.id, "Attributes": attributes},
            "scope": "local", "time": now_ns // 1_000_000_000, "timeNano": now_ns}


def network_event(action: str, d: dict, attrs: dict | None = None,
                  now_ns: int | None = None) -> dict:
    """Docker's event object for a network (create, destroy, connect, disconnect)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    attributes = {"name": d["Name"], "type": d["Driver"], **(attrs or {})}
    return {"Type": "network", "Action": action, "Actor": {"ID": d["Id"],
                                                            "Attributes": attributes},
            "scope": "local", "time": now_ns // 1_000_000_000, "timeNano": now_ns}


def record(c, action: str, **attrs) -> None:
    """Append one event of a container's."""
    _append(c.store, event(action, c, {k: str(v) for k, v in attrs.items()}))


def record_network(store, d: dict, action: str, **attrs) -> None:
    _append(store, network_event(action, d, {k: str(v) for k, v in attrs.items()}))


def _append(store, ev: dict) -> None:
    """Append one event; a journal that cannot be written (a full disk) loses the event,
    never the change it tells of."""
    line = (json.dumps(ev) + "\n").encode()
    p = path(store)
    try:
        if os.path.getsize(p) > MAX_BYTES:
            os.replace(p, p + ".1")
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line)
    except OSError:
        pass
    finally:
        os.close(fd)


def matches(e: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's --filter: each key's values OR'ed, the keys AND'ed."""
    attrs = e["Actor"]["Attributes"]
    for key, values in filters.items():
        if key == "container":
            cid = e["Actor"]["ID"] if e["Type"] == "container" else attrs.get("container", "")
            ok = any(cid.startswith(v) or (e["Type"] == "container" and attrs.get("name") == v)
                     for v in values)
        elif key == "network":
            ok = e["Type"] == "network" and any(
                e["Actor"]["ID"].startswith(v) or attrs.get("name") == v for v in values)
        elif key == "event":
            ok = e["Action"] in values
        elif key == "image":
            ok = attrs.get("image") in values
        elif key == "type":
            ok = e["Type"] in values
        elif key == "label":
            ok = any(attrs.get(k) == v if sep else k in attrs
                     for k, sep, v in (x.partition("=") for x in values))
        else:
            ok = False
        if not ok:
            return False
    return True


def read(store, since_ns: int = 0, until_ns: int | None = None, filters=None) -> list[dict]:
    """The recorded events in [since, until], oldest first."""
    out = []
    for p in (path(store) + ".1", path(store)):
        try:
            with open(p, "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if e["timeNano"] >= since_ns and (until_ns is None or e["timeNano"] <= until_ns) \
                    and matches(e, filters or {}):
                out.append(e)
    return out


def follow(store, since_ns: int, filters=None, poll: float = 0.1, until_ns=None):
    """Events from since_ns on, as they come: a generator that ends once until_ns has
    passed (never, without one)."""
    p = path(store)
    seen_size = 0
    for e in read(store, since_ns, None, filters):
        yield e
    try:
        seen_size = os.path.getsize(p)
    except FileNotFoundError:
        pass
    while until_ns is None or time.time_ns() <= until_ns:
        time.sleep(poll)
        try:
            size = os.path.getsize(p)
        except FileNotFoundError:
            continue
        if size < seen_size:  # rotated: the new file from its start
            seen_size = 0
        if size == seen_size:
            continue
        with open(p, "rb") as f:
            f.seek(seen_size)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        seen_size += len(complete)
        for line in complete.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if matches(e, filters or {}) and (until_ns is None or e["timeNano"] <= until_ns):
                yield e
