"""Named volumes, as Docker's "local" driver keeps them: <store>/volumes/NAME/_data holds the
files, volume.json beside it what `volume inspect` shows. And the container side of mounts:
-v and --mount parsed into the record's Binds and Tmpfs, and a new volume seeded with what
the image has at its destination (as Docker does, once, while the volume is empty).
"""

from __future__ import annotations

import os

from runtime import jsonfast as json
from runtime.errors import Conflict, NotFound, PyrunError
from runtime.timestamps import rfc3339


class VolumeError(PyrunError):
    pass


class VolumeInUse(VolumeError, Conflict):
    pass


class NoSuchVolume(VolumeError, NotFound):
    def __init__(self, name: str):
        super().__init__(f"get {name}: no such volume")


def root(store) -> str:
    return os.path.join(store.root, "volumes")


def check_name(name: str) -> None:
    ok = len(name) >= 2 and name[0].isascii() and name[0].isalnum() and all(
        ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)
    if not ok:
        raise VolumeError(f'"{name}" includes invalid characters for a local volume name, '
                          "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


def _meta(store, name: str) -> str:
    return os.path.join(root(store), name, "volume.json")


def create(store, name: str | None = None, labels: dict | None = None) -> dict:
    """Make the volume, or return it if it exists (as Docker's, idempotent)."""
    name = name or os.urandom(32).hex()  # an anonymous volume
    check_name(name)
    d = os.path.join(root(store), name)
    try:
        return get(store, name)
    except NoSuchVolume:
        pass
    os.makedirs(os.path.join(d, "_data"), 0o755, exist_ok=True)
    info = {"CreatedAt": rfc3339(), "Driver": "local", "Labels": dict(labels or {}),
            "Mountpoint": os.path.join(d, "_data"), "Name": name, "Options": {},
            "Scope": "local"}
    tmp = _meta(store, name) + f".{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(json.dumps(info))
    os.rename(tmp, _meta(store, name))
    return info


def get(store, name: str) -> dict:
    try:
        with open(_meta(store, name)) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        data = os.path.join(root(store), name, "_data")
        if os.path.isdir(data):  # made by an older pyrun's -v, before volume.json
            return {"CreatedAt": "", "Driver": "local", "Labels": {}, "Mountpoint": data,
                    "Name": name, "Options": {}, "Scope": "local"}
        raise NoSuchVolume(name) from None


def all_volumes(store) -> list[dict]:
    try:
        names = sorted(os.listdir(root(store)))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        try:
            out.append(get(store, n))
        except NoSuchVolume:
            continue
    return out


def users(containers, name: str) -> list[str]:
    """Ids of the containers (records, any state: containers.all_containers) that mount
    the volume."""
    return [c.id for c in containers
            if any(b.get("Type") == "volume" and b.get("Name") == name
                   for b in c.host.binds)]


def remove(store, name: str, containers, force: bool = False) -> None:
    """Remove the volume and its files; refused while one of the containers uses it (as
    Docker's, -f included); a missing one is an error unless force."""
    try:
        get(store, name)
    except NoSuchVolume:
        if force:
            return
        raise
    held = users(containers, name)
    if held:
        raise VolumeInUse(f"remove {name}: volume is in use - [{', '.join(held)}]")
    from runtime.oci.state import remove_dir
    trash = os.path.join(root(store), f".removed-{name}-{os.getpid()}")
    os.rename(os.path.join(root(store), name), trash)  # gone at once for everyone else
    remove_dir(trash)


def prune(store, containers, everything: bool = False) -> list[str]:
    """Remove the volumes none of the containers uses: anonymous ones only, unless
    everything (Docker 23's rule)."""
    removed = []
    for v in all_volumes(store):
        anonymous = len(v["Name"]) == 64 and all(ch in "0123456789abcdef" for ch in v["Name"])
        if (everything or anonymous) and not users(containers, v["Name"]):
            remove(store, v["Name"], containers)
            removed.append(v["Name"])
    return removed


# ---- a container's mounts --------------------------------------------------------------------

def parse_v(store, spec: str) -> dict:
    """-v HOST_PATH:DEST[:ro|rw] (a bind) or NAME:DEST[:ro|rw] (a named volume, made on first
    use) or DEST alone (an anonymous volume)."""
    parts = spec.split(":")
    if len(parts) == 1:
        parts = ["", parts[0]]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise VolumeError(f"invalid volume spec {spec!r}: use SOURCE:DEST[:ro]")
    source, dest = parts[0], parts[1]
    return _mount("bind" if source.startswith("/") else "volume", source, dest,
                  readonly=len(parts) == 3 and parts[2] == "ro", store=store, spec=spec)


def parse_mount(store, spec: str) -> dict:
    """--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=N]
    [,tmpfs-mode=OCTAL]: the keys and their aliases as Docker takes them."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        key = {"src": "source", "dst": "target", "destination": "target",
               "ro": "readonly"}.get(key.strip(), key.strip())
        fields[key] = value if sep else "true"
    kind = fields.pop("type", "volume")
    dest = fields.pop("target", "")
    ro_text = fields.pop("readonly", "false")
    if ro_text not in ("true", "false", "1", "0"):
        raise VolumeError(f"invalid --mount {spec!r}: readonly takes true or false")
    readonly = ro_text in ("true", "1")
    if kind == "tmpfs":
        opts = []
        if "tmpfs-size" in fields:
            from runtime.units import parse_size
            try:
                opts.append(f"size={parse_size(fields.pop('tmpfs-size'))}")
            except ValueError:
                raise VolumeError(f"invalid --mount {spec!r}: tmpfs-size") from None
        if "tmpfs-mode" in fields:
            mode = fields.pop("tmpfs-mode")
            if not mode or any(ch not in "01234567" for ch in mode):
                raise VolumeError(f"invalid --mount {spec!r}: tmpfs-mode is octal")
            opts.append(f"mode={mode}")
        if fields:
            raise VolumeError(f"invalid --mount {spec!r}: unknown key {sorted(fields)[0]!r}")
        return tmpfs(dest, opts + (["ro"] if readonly else []), spec)
    if kind not in ("bind", "volume"):
        raise VolumeError(f"invalid --mount {spec!r}: type bind, volume or tmpfs")
    source = fields.pop("source", "")
    fields.pop("volume-nocopy", None)
    if fields:
        raise VolumeError(f"invalid --mount {spec!r}: unknown key {sorted(fields)[0]!r}")
    if kind == "bind" and not os.path.exists(source):
        # unlike -v, --mount does not make a missing host path (Docker's rule)
        raise VolumeError(f"invalid mount config for type \"bind\": bind source path does "
                          f"not exist: {source}")
    return _mount(kind, source, dest, readonly=readonly, store=store, spec=spec)


def parse_tmpfs(spec: str) -> dict:
    """--tmpfs DEST[:OPTIONS] (mount(8)'s options, such as size=64m,mode=1777)."""
    dest, _, options = spec.partition(":")
    return tmpfs(dest, [o for o in options.split(",") if o], spec)


def tmpfs(dest: str, options: list[str], spec: str) -> dict:
    if not dest.startswith("/"):
        raise VolumeError(f"invalid mount {spec!r}: the destination must be absolute")
    return {"Type": "tmpfs", "Destination": dest, "Options": options}


def _mount(kind: str, source: str, dest: str, *, readonly: bool, store, spec: str) -> dict:
    if not dest.startswith("/"):
        raise VolumeError(f"invalid volume spec {spec!r}: the destination must be absolute")
    if kind == "bind":
        if not os.path.lexists(source):
            os.makedirs(source)  # -v makes a missing host directory (Docker does too)
        return {"Type": "bind", "Source": source, "Destination": dest, "RW": not readonly}
    v = create(store, source or None)
    return {"Type": "volume", "Name": v["Name"], "Source": v["Mountpoint"],
            "Destination": dest, "RW": not readonly}


def seed(volume_dir: str, rootfs: str, dest: str) -> None:
    """Copy what the image has at dest into an empty volume (Docker's copy-up), keeping
    owners, modes and symlinks; dest is resolved inside the rootfs, never out of it."""
    if os.listdir(volume_dir):
        return
    from runtime.linux import rootfs as rfs
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = rfs.open_in_root(rootfd, dest)
        except OSError:
            return  # nothing there in the image
        try:
            src = rfs.fd_path(fd)
            if os.path.isdir(src):
                _copy_tree(src, volume_dir)
        finally:
            os.close(fd)
    finally:
        os.close(rootfd)


def _copy_tree(src: str, dst: str) -> None:
    st = os.stat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)
    for e in os.scandir(src):
        s, d = e.path, os.path.join(dst, e.name)
        est = e.stat(follow_symlinks=False)
        if e.is_symlink():
            os.symlink(os.readlink(s), d)
        elif e.is_dir(follow_symlinks=False):
            os.mkdir(d)
            _copy_tree(s, d)
            continue
        elif e.is_file(follow_symlinks=False):
            with open(s, "rb") as fin, open(d, "wb") as fout:
                while True:
                    chunk = fin.read(1 << 20)
                    if not chunk:
                        break
                    fout.write(chunk)
        else:
            continue  # devices, fifos, sockets: not copied up
        os.lchown(d, est.st_uid, est.st_gid)
        if not e.is_symlink():
            os.chmod(d, est.st_mode & 0o7777)  # after chown, which clears set-id bits
