"""Pack a root filesystem directory as a one-layer OCI image archive (an oci-archive tar),
for feeding real container engines in interop tests. The image store of pyrun proper
(runtime/image, a later issue) will replace this with `pyrun image save --format oci`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile


def _blob(out: tarfile.TarFile, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(rootfs: str) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(rootfs)):
            t.add(os.path.join(rootfs, name), arcname=name)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


def make_oci_archive(rootfs: str, path: str, ref: str, cmd=("sh",)) -> str:
    layer, diff_id = _layer(rootfs)
    with tarfile.open(path, "w") as out:
        layer_desc = _blob(out, layer, "application/vnd.oci.image.layer.v1.tar+gzip")
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Cmd": list(cmd),
                             "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                     "/sbin:/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                  "history": [{"created_by": "pyrun tests: busybox rootfs"}]}
        config_desc = _blob(out, json.dumps(config).encode(),
                            "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = _blob(out, json.dumps(manifest).encode(),
                              "application/vnd.oci.image.manifest.v1+json")
        manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": ref,
                                        "io.containerd.image.name": ref}
        for name, data in (("oci-layout", {"imageLayoutVersion": "1.0.0"}),
                           ("index.json", {"schemaVersion": 2, "manifests": [manifest_desc]})):
            blob = json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            out.addfile(info, io.BytesIO(blob))
    return path
