"""The image store: content-addressed blobs, unpacked layers, and an index of names.

<root>/                       default /var/lib/pyrun (--root / PYRUN_ROOT)
  blobs/sha256/<hex>          configs, manifests and layer tars (uncompressed)
  layers/<diff-id hex>/       each layer unpacked once, an overlayfs lower directory
  index.json                  images, tags, build cache, layer sizes
  lock                        flock'ed by every writer
  tmp/                        work in progress; renamed into place when complete

An image's ID is the digest of its config (as Docker's). Every write is a temp file and a
rename (fsynced where a crash could otherwise leave a name pointing at nothing), under the
lock, so a crash or a concurrent pyrun never leaves a half-made image behind a name.
"""

from __future__ import annotations

import fcntl
import os

from runtime import jsonfast as json
from runtime import paths
from runtime.errors import NotFound, PyrunError
from runtime.timestamps import rfc3339
from runtime.image import reference as refmod

DEFAULT_ROOT = paths.STORE
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


class ImageNotFound(NotFound):
    def __init__(self, ref: str, hint: str = ""):
        super().__init__(f"No such image: {ref}{hint}")
        self.ref = ref


def digest_of(data: bytes) -> str:
    import hashlib  # not on the way to a container start: it loads OpenSSL
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj) -> bytes:
    return json.dumps_canonical(obj).encode()


class Image:
    def __init__(self, store: "Store", image_id: str, config: dict, manifest: dict,
                 manifest_digest: str):
        self.store = store
        self.id = image_id
        self.config = config
        self.manifest = manifest
        self.manifest_digest = manifest_digest

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def layer_dirs(self) -> list[str]:
        """Lowest layer first."""
        return [self.store.layer_dir(d) for d in self.diff_ids]

    @property
    def size(self) -> int:
        sizes = self.store.layer_sizes()
        return sum(sizes.get(d, 0) for d in self.diff_ids)

    @property
    def created(self) -> str:
        return self.config.get("created", "")

    @property
    def tags(self) -> list[str]:
        return sorted(t for t, i in self.store.index()["tags"].items() if i == self.id)

    @property
    def parent(self) -> str | None:
        return self.store.index()["images"].get(self.id, {}).get("parent")

    @property
    def repo_digests(self) -> list[str]:
        """"host/repo@sha256:..." for each repository it was pulled from: the digest of the
        manifest as the registry has it (pyrun stores a manifest of its own, whose digest
        differs when the registry's layers were compressed)."""
        return list(self.store.index()["images"].get(self.id, {}).get("repo_digests", []))


class Store:
    def __init__(self, root: str | None = None):
        self.root = os.path.abspath(root or os.environ.get("PYRUN_ROOT") or DEFAULT_ROOT)
        self._index_cache = None

    # ---- layout -------------------------------------------------------------------------
    def ensure(self) -> "Store":
        for d in ("blobs/sha256", "layers", "tmp"):
            os.makedirs(os.path.join(self.root, d), 0o700, exist_ok=True)
        return self

    def blob_path(self, digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64:
            raise PyrunError(f"unsupported digest {digest!r}")
        return os.path.join(self.root, "blobs", "sha256", hexd)

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", diff_id.split(":", 1)[1])

    def tmpdir(self, prefix: str = "work-") -> str:
        """A work directory named with this process's pid: what a process killed mid-way
        (a pull, a build) leaves, the next one to need a work directory removes."""
        import tempfile  # off the cache-hit path (tempfile brings shutil along)
        self.ensure()
        tmp = os.path.join(self.root, "tmp")
        for name in os.listdir(tmp):
            pid = name.split("-")[1] if name.count("-") >= 2 else ""
            if pid.isdigit() and not _alive(int(pid)):
                _remove_stale(os.path.join(tmp, name))
        return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=tmp)

    # ---- locking and the index ----------------------------------------------------------
    def locked(self) -> "_Locked":
        """`with store.locked():` the store's lock (an flock), the index re-read inside."""
        return _Locked(self)

    def index(self) -> dict:
        # Read again when another process rewrote it (a long-lived caller, the API service,
        # sees builds and pulls made by others): every write renames a new file into place.
        try:
            st = os.stat(os.path.join(self.root, "index.json"))
            key = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            key = None
        if self._index_cache is None or key != getattr(self, "_index_key", None):
            self._index_key = key
            try:
                with open(os.path.join(self.root, "index.json")) as f:
                    self._index_cache = json.loads(f.read())
            except FileNotFoundError:
                self._index_cache = {}
            for k in ("images", "tags", "cache", "layers", "sources"):
                self._index_cache.setdefault(k, {})
        return self._index_cache

    def _save_index(self, index: dict) -> None:
        """Under the lock only."""
        path = os.path.join(self.root, "index.json")
        tmp = f"{path}.tmp.{os.getpid()}"
        import json as pretty  # indented for a reader; only a write pays for the import
        with open(tmp, "w") as f:
            pretty.dump(index, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
        self._index_cache = index
        st = os.stat(path)
        self._index_key = (st.st_ino, st.st_mtime_ns)

    # ---- blobs --------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def write_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self.blob_path(digest)
        if not os.path.exists(path):
            import tempfile
            self.ensure()
            fd, tmp = tempfile.mkstemp(prefix=f"blob-{os.getpid()}-",
                                       dir=os.path.join(self.root, "tmp"))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        return digest

    def read_blob(self, digest: str) -> bytes:
        try:
            with open(self.blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise PyrunError(f"blob {digest} is missing from the store") from None

    def read_json(self, digest: str) -> dict:
        return json.loads(self.read_blob(digest))

    # ---- layers -------------------------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_dir(diff_id)) and self.has_blob(diff_id)

    def layer_sizes(self) -> dict[str, int]:
        return {k: v.get("size", 0) for k, v in self.index()["layers"].items()}

    def add_layer_tar(self, stream, verify=None, expect: str | None = None) -> tuple[str, int]:
        """A layer tar (any compression) → stored blob (uncompressed) + unpacked dir.
        Returns (diff_id, size). A layer already present is not unpacked again.
        verify() runs once the stream is read (a pull checks the blob's digest there), and
        the content must be `expect` when given; otherwise nothing is installed."""
        from runtime.image import layer as layermod
        from runtime.image.readahead import ReadAhead
        self.ensure()
        work = self.tmpdir("layer-")
        try:
            tar_path = os.path.join(work, "layer.tar")
            unpacked = os.path.join(work, "dir")
            os.mkdir(unpacked, 0o755)
            # One pass: each block is hashed and kept as the blob in the reading thread
            # while the unpacker creates the files.
            with open(tar_path, "wb") as out:
                keep = layermod.HashingWriter(out)
                ahead = ReadAhead(layermod.open_stream(stream), sink=keep.write)
                try:
                    files = layermod.unpack(ahead, unpacked, detect=False)
                    ahead.finish()  # the tar's end padding, which the unpacker does not read
                finally:
                    ahead.close()
            if verify is not None:
                verify()
            diff_id = "sha256:" + keep.sha.hexdigest()
            if expect is not None and diff_id != expect:
                raise PyrunError(f"layer {expect}: content does not match its digest "
                                 f"(it is {diff_id})")
            if not self.has_layer(diff_id):
                self._install_layer(diff_id, keep.size, tar_path, unpacked, files)
            return diff_id, keep.size
        finally:
            _rmtree(work)

    def add_layer_dir(self, directory: str, move: bool = False) -> tuple[str, int]:
        """A directory (an overlay upper dir, a bootstrapped root) → packed blob + layer dir.
        With move=True the directory itself becomes the layer directory (same filesystem)."""
        from runtime.image import layer as layermod
        self.ensure()
        work = self.tmpdir("layer-")
        try:
            tar_path = os.path.join(work, "layer.tar")
            with open(tar_path, "wb") as out:
                diff_id, size = layermod.pack(directory, out)
            if not self.has_layer(diff_id):
                files = None  # a moved directory is walked for its size
                if move:
                    unpacked = directory
                else:
                    unpacked = os.path.join(work, "dir")
                    os.mkdir(unpacked, 0o755)
                    with open(tar_path, "rb") as f:
                        files = layermod.unpack(f, unpacked)
                self._install_layer(diff_id, size, tar_path, unpacked, files)
            return diff_id, size
        finally:
            _rmtree(work)

    def _install_layer(self, diff_id: str, size: int, tar_path: str, unpacked: str,
                       files: int | None = None) -> None:
        """Name a complete layer: its blob, its directory, its size in the index (`files`,
        the bytes of its regular files, when the unpacker could count them)."""
        from runtime.image import layer as layermod
        with self.locked():
            blob = self.blob_path(diff_id)
            if not os.path.exists(blob):
                os.rename(tar_path, blob)
            dest = self.layer_dir(diff_id)
            if not os.path.isdir(dest):
                os.rename(unpacked, dest)
            index = self.index()
            index["layers"][diff_id] = {"size": layermod.dir_size(dest) if files is None
                                        else files}
            self._save_index(index)

    # ---- images -------------------------------------------------------------------------
    def put_image(self, config: dict, parent: str | None = None,
                  layer_media: dict[str, str] | None = None) -> Image:
        """Store a config (its rootfs.diff_ids already in the store) and its manifest."""
        config_bytes = canonical(config)
        image_id = self.write_blob(config_bytes)
        layers = []
        sizes = {}
        for d in config["rootfs"]["diff_ids"]:
            sizes[d] = os.path.getsize(self.blob_path(d))
            layers.append({"mediaType": (layer_media or {}).get(d, MEDIA_LAYER), "digest": d,
                           "size": sizes[d]})
        manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                    "config": {"mediaType": MEDIA_CONFIG, "digest": image_id,
                               "size": len(config_bytes)},
                    "layers": layers}
        manifest_digest = self.write_blob(canonical(manifest))
        with self.locked():
            index = self.index()
            entry = index["images"].get(image_id, {})
            entry.update({"manifest": manifest_digest})
            if parent and "parent" not in entry:
                entry["parent"] = parent
            entry.setdefault("added", rfc3339())
            index["images"][image_id] = entry
            self._save_index(index)
        return Image(self, image_id, config, manifest, manifest_digest)

    def image(self, image_id: str) -> Image:
        entry = self.index()["images"].get(image_id)
        if entry is None:
            raise ImageNotFound(image_id)
        manifest = self.read_json(entry["manifest"])
        config = self.read_json(manifest["config"]["digest"])
        return Image(self, image_id, config, manifest, entry["manifest"])

    def images(self) -> list[Image]:
        return [self.image(i) for i in sorted(self.index()["images"])]

    def resolve(self, text: str) -> Image:
        """A name[:tag], name@digest, full ID or unique ID prefix → the image."""
        index = self.index()
        ref = None
        try:
            ref = refmod.parse(text)
        except refmod.ReferenceError:
            if not refmod.looks_like_id(text):
                raise
        if ref is not None:
            if ref.digest:
                pulled = f"{ref.repository}@{ref.digest}"
                for image_id, entry in index["images"].items():
                    if entry.get("manifest") == ref.digest or image_id == ref.digest or \
                            pulled in entry.get("repo_digests", ()):
                        return self.image(image_id)
            elif str(ref) in index["tags"]:
                return self.image(index["tags"][str(ref)])
        if refmod.looks_like_id(text):
            want = text if text.startswith("sha256:") else "sha256:" + text
            hits = [i for i in index["images"] if i.startswith(want)]
            if len(hits) == 1:
                return self.image(hits[0])
            if len(hits) > 1:
                raise PyrunError(f"image ID prefix {text} is ambiguous ({len(hits)} images)")
        raise ImageNotFound(text)

    def tag(self, image_id: str, name: str) -> str:
        ref = refmod.parse(name)
        if ref.digest:
            raise PyrunError(f"cannot tag with a digest reference: {name}")
        with self.locked():
            index = self.index()
            if image_id not in index["images"]:
                raise ImageNotFound(image_id)
            if index["tags"].get(str(ref)) != image_id:  # a rebuild: often already so
                index["tags"][str(ref)] = image_id
                self._save_index(index)
        return ref.familiar()

    def add_repo_digest(self, image_id: str, repo_digest: str) -> None:
        """Record "host/repo@sha256:..." as where the image came from (one per repository:
        a newer pull from it replaces the older one)."""
        repository = repo_digest.split("@", 1)[0]
        with self.locked():
            index = self.index()
            entry = index["images"][image_id]
            keep = [d for d in entry.get("repo_digests", []) if d.split("@")[0] != repository]
            for other in index["images"].values():  # a digest names one image
                if repo_digest in other.get("repo_digests", ()):
                    other["repo_digests"].remove(repo_digest)
            entry["repo_digests"] = keep + [repo_digest]
            self._save_index(index)

    def untag(self, name: str) -> str | None:
        ref = refmod.parse(name)
        with self.locked():
            index = self.index()
            image_id = index["tags"].pop(str(ref), None)
            self._save_index(index)
        return image_id

    def cache_get(self, key: str) -> Image | None:
        image_id = self.index()["cache"].get(key)
        if image_id and image_id in self.index()["images"]:
            img = self.image(image_id)
            if all(self.has_layer(d) for d in img.diff_ids):
                return img
        return None

    def cache_put(self, key: str, image_id: str) -> None:
        with self.locked():
            index = self.index()
            index["cache"][key] = image_id
            self._save_index(index)

    def add_sources(self, digests: list[str], repository: str) -> None:
        """Remember that `repository` ("host/path") holds these blobs: a push to another
        repository of that registry can mount them from there instead of uploading."""
        with self.locked():
            index = self.index()
            for d in digests:
                repos = index["sources"].setdefault(d, [])
                if repository not in repos:
                    repos.append(repository)
            self._save_index(index)

    def sources(self, digest: str) -> list[str]:
        return self.index()["sources"].get(digest, [])

    def ancestry(self, img: Image) -> list[Image]:
        """The image and its stored ancestors, newest first: the steps of a local build."""
        out = []
        cur = img
        while cur is not None and len(out) < 10000:
            out.append(cur)
            parent = cur.parent
            cur = self.image(parent) if parent and parent in self.index()["images"] else None
        return out

    def children(self, image_id: str) -> list[str]:
        return [i for i, e in self.index()["images"].items() if e.get("parent") == image_id]

    def remove_image(self, image_id: str, in_use=frozenset()) -> list[str]:
        """Drop an image (no tags may point at it) and its untagged parents that nothing
        else needs; then blobs and layers no image references. Returns the removed IDs."""
        removed = []
        with self.locked():
            index = self.index()
            cur = image_id
            while cur and cur in index["images"]:
                if cur in index["tags"].values() and cur != image_id:
                    break
                if cur in in_use or any(e.get("parent") == cur for i, e in
                                        index["images"].items() if i != cur):
                    if cur != image_id:
                        break
                parent = index["images"][cur].get("parent")
                del index["images"][cur]
                for t in [t for t, i in index["tags"].items() if i == cur]:
                    del index["tags"][t]
                for k in [k for k, i in index["cache"].items() if i == cur]:
                    del index["cache"][k]
                removed.append(cur)
                cur = parent
            self._save_index(index)
            self._gc(index)
        return removed

    def _gc(self, index: dict) -> None:
        """Under the lock: delete blobs and layer dirs that no image references."""
        keep_blobs, keep_layers = set(), set()
        for image_id, entry in index["images"].items():
            keep_blobs.update((image_id, entry["manifest"]))
            try:
                manifest = json.loads(self.read_blob(entry["manifest"]))
            except PyrunError:
                continue
            for layer in manifest.get("layers", []):
                keep_blobs.add(layer["digest"])
            config = json.loads(self.read_blob(manifest["config"]["digest"]))
            keep_layers.update(config.get("rootfs", {}).get("diff_ids", []))
        blobs = os.path.join(self.root, "blobs", "sha256")
        for name in os.listdir(blobs):
            if f"sha256:{name}" not in keep_blobs and f"sha256:{name}" not in keep_layers:
                os.unlink(os.path.join(blobs, name))
        layers = os.path.join(self.root, "layers")
        for name in os.listdir(layers):
            if f"sha256:{name}" not in keep_layers:
                _rmtree(os.path.join(layers, name))
                index["layers"].pop(f"sha256:{name}", None)
        for d in [d for d in index["sources"] if d not in keep_blobs | keep_layers]:
            del index["sources"][d]
        self._save_index(index)


class _Locked:
    """Store.locked() (a class, not contextlib's decorator, whose import a start avoids)."""

    def __init__(self, store: Store):
        self.store = store
        self.fd = -1

    def __enter__(self) -> None:
        self.store.ensure()
        self.fd = os.open(os.path.join(self.store.root, "lock"),
                          os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise
        self.store._index_cache = None

    def __exit__(self, *exc) -> None:
        self.store._index_cache = None
        os.close(self.fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _remove_stale(path: str) -> None:
    """A dead process's work file or directory; what it had mounted below (a bootstrap's
    /proc, say) is detached first, so that removing never reaches into a mounted tree."""
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
        return
    with open("/proc/self/mountinfo") as f:
        below = [line.split()[4] for line in f if line.split()[4].startswith(path + "/")]
    if below:
        from runtime.linux import syscalls as sc
        for m in sorted(below, key=len, reverse=True):
            sc.umount2(m, sc.MNT_DETACH)
    _rmtree(path)


def _rmtree(path: str) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def new_config(base: dict | None = None) -> dict:
    """A fresh image config (on top of a base image's, or for FROM scratch)."""
    if base is not None:
        cfg = json.loads(json.dumps(base))
    else:
        cfg = {"architecture": host_arch(), "os": "linux", "config": {},
               "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
    cfg.setdefault("config", {})
    cfg.setdefault("history", [])
    cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    return cfg


def host_arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)
