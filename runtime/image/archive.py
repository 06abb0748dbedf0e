"""Images in and out of tar archives: Docker's `docker save` format and the OCI image layout.

docker-archive:  manifest.json [{Config, RepoTags, Layers}], <config hex>.json,
                 <layer>/layer.tar, repositories       (what `docker load` reads)
oci-archive:     oci-layout, index.json (ref names in annotations), blobs/sha256/*
                                                       (what skopeo and umoci read)
load() reads both, whatever the layers' compression, and checks every layer against the
config's diff_ids before anything is named.
"""

from __future__ import annotations

import json
import os
import tarfile

from runtime.errors import PyrunError
from runtime.image import reference
from runtime.image.store import MEDIA_MANIFEST, Image, Store

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    import io
    tar.addfile(info, io.BytesIO(data))


def _add_blob(tar: tarfile.TarFile, name: str, path: str) -> None:
    info = tarfile.TarInfo(name)
    info.size = os.path.getsize(path)
    info.mode = 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)


def save(store: Store, names: list[str], out, fmt: str = "docker", gzip: bool = False) -> None:
    """Write the images (with their tags among `names`) as one archive to the file `out`.
    gzip (OCI only): layers compressed, with a manifest of their own (same config)."""
    images: list[tuple[Image, list[str]]] = []
    for name in names:
        img = store.resolve(name)
        tags = [] if reference.looks_like_id(name) and name not in img.tags else \
            [str(reference.parse(name))] if not reference.looks_like_id(name) else []
        for existing, existing_tags in images:
            if existing.id == img.id:
                existing_tags += [t for t in tags if t not in existing_tags]
                break
        else:
            images.append((img, tags))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if fmt == "docker":
            _save_docker(store, images, tar)
        elif fmt == "oci":
            _save_oci(store, images, tar, gzip)
        else:
            raise PyrunError(f"unknown archive format {fmt!r} (docker or oci)")


def _save_docker(store, images, tar) -> None:
    manifest, repositories, written = [], {}, set()
    for img, tags in images:
        hexid = img.id.split(":")[1]
        config_name = f"{hexid}.json"
        if config_name not in written:
            _add_blob(tar, config_name, store.blob_path(img.id))
            written.add(config_name)
        layer_names = []
        for d in img.diff_ids:
            name = f"{d.split(':')[1]}/layer.tar"
            if name not in written:
                _add_bytes(tar, f"{d.split(':')[1]}/VERSION", b"1.0")
                _add_blob(tar, name, store.blob_path(d))
                written.add(name)
            layer_names.append(name)
        familiar = [reference.parse(t).familiar() for t in tags]
        manifest.append({"Config": config_name, "RepoTags": familiar or None,
                         "Layers": layer_names})
        for t in familiar:
            repo, _, tag = t.rpartition(":")
            repositories.setdefault(repo, {})[tag] = img.diff_ids[-1].split(":")[1] \
                if img.diff_ids else hexid
    _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def _gzip_layer(path: str) -> tuple[bytes, str]:
    """A stored (uncompressed) layer as gzip, reproducibly (no name, no time in the header)."""
    import gzip
    import hashlib
    import io
    buf = io.BytesIO()
    with open(path, "rb") as src, gzip.GzipFile(fileobj=buf, mode="wb", mtime=0,
                                                  compresslevel=6) as gz:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            gz.write(chunk)
    data = buf.getvalue()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def _save_oci(store, images, tar, gzip: bool = False) -> None:
    written = set()
    entries = []

    def blob(digest):
        if digest not in written:
            _add_blob(tar, "blobs/sha256/" + digest.split(":")[1], store.blob_path(digest))
            written.add(digest)

    def data_blob(digest, data):
        if digest not in written:
            _add_bytes(tar, "blobs/sha256/" + digest.split(":")[1], data)
            written.add(digest)

    for img, tags in images:
        blob(img.id)
        if gzip:
            import hashlib
            layers = []
            for d in img.diff_ids:
                data, digest = _gzip_layer(store.blob_path(d))
                data_blob(digest, data)
                layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               "digest": digest, "size": len(data)})
            manifest = dict(img.manifest, layers=layers)
            mbytes = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
            manifest_digest = "sha256:" + hashlib.sha256(mbytes).hexdigest()
            data_blob(manifest_digest, mbytes)
            msize = len(mbytes)
        else:
            for d in img.diff_ids:
                blob(d)
            blob(img.manifest_digest)
            manifest_digest = img.manifest_digest
            msize = os.path.getsize(store.blob_path(img.manifest_digest))
        desc = {"mediaType": MEDIA_MANIFEST, "digest": manifest_digest, "size": msize,
                "platform": {"architecture": img.config.get("architecture", "amd64"),
                             "os": img.config.get("os", "linux")}}
        for t in tags or [None]:
            d = dict(desc)
            if t:
                # as containerd and docker's OCI export: the tag as the layout's ref name,
                # the full name for whoever loads it
                d["annotations"] = {"org.opencontainers.image.ref.name":
                                    reference.parse(t).tag,
                                    "io.containerd.image.name": t}
            entries.append(d)
    _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    _add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                                              "manifests": entries}).encode())


# ---- load --------------------------------------------------------------------------------------

class _Archive:
    def __init__(self, path: str):
        self.tar = tarfile.open(path, "r:*")
        self.members = {os.path.normpath(m.name).lstrip("./") or m.name: m
                        for m in self.tar.getmembers()}

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str):
        m = self.members.get(name)
        if m is None or not m.isfile():
            raise PyrunError(f"archive is missing {name}")
        return self.tar.extractfile(m)

    def json(self, name: str):
        try:
            return json.load(self.open(name))
        except ValueError as e:
            raise PyrunError(f"archive: {name} is not valid JSON: {e}") from None


def load(store: Store, path: str) -> list[tuple[Image, list[str]]]:
    """Load every image in a docker-archive or OCI archive; returns (image, names)."""
    arc = _Archive(path)
    if arc.has("manifest.json"):
        return _load_docker(store, arc)
    if arc.has("index.json") and arc.has("oci-layout"):
        return _load_oci(store, arc)
    raise PyrunError("not an image archive: no manifest.json (docker) or index.json and "
                     "oci-layout (OCI)")


def _add_layers(store: Store, arc: _Archive, layer_names: list[str], config: dict) -> None:
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(layer_names):
        raise PyrunError(f"archive: the config lists {len(diff_ids)} layers, the manifest "
                         f"{len(layer_names)}")
    for name, want in zip(layer_names, diff_ids):
        if store.has_layer(want):
            continue
        got, _ = store.add_layer_tar(arc.open(name))
        if got != want:
            raise PyrunError(f"archive: layer {name} has content {got}, the config says {want}")


def _load_docker(store: Store, arc: _Archive):
    out = []
    for entry in arc.json("manifest.json"):
        raw = arc.open(entry["Config"]).read()
        config = json.loads(raw)
        _add_layers(store, arc, entry["Layers"], config)
        img = store.put_image(config)
        names = []
        for t in entry.get("RepoTags") or []:
            names.append(store.tag(img.id, t))
        out.append((img, names))
    return out


def _load_oci(store: Store, arc: _Archive):
    out = []
    index = arc.json("index.json")

    def blob_name(digest):
        return "blobs/sha256/" + digest.split(":", 1)[1]

    for desc in index.get("manifests", []):
        manifest = arc.json(blob_name(desc["digest"]))
        if manifest.get("mediaType") in (MEDIA_INDEX, DOCKER_LIST) or "manifests" in manifest:
            from runtime.image.store import host_arch
            chosen = next((m for m in manifest["manifests"]
                           if m.get("platform", {}).get("architecture") == host_arch()
                           and m.get("platform", {}).get("os", "linux") == "linux"), None)
            if chosen is None:
                raise PyrunError(f"archive: no {host_arch()}/linux image in the index")
            manifest = arc.json(blob_name(chosen["digest"]))
        config = arc.json(blob_name(manifest["config"]["digest"]))
        _add_layers(store, arc, [blob_name(layer["digest"]) for layer in manifest["layers"]],
                    config)
        img = store.put_image(config)
        names = []
        ann = desc.get("annotations") or {}
        name = ann.get("io.containerd.image.name") or ann.get("org.opencontainers.image.ref.name")
        if name and ("/" in name or ":" in name or not reference.looks_like_id(name)):
            try:
                names.append(store.tag(img.id, name))
            except reference.ReferenceError:
                pass  # a bare tag ("latest") without a repository names nothing
        out.append((img, names))
    return out

