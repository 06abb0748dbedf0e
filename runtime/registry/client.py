"""A client of the OCI distribution API: pull and push images, with Docker's auth flows.

    pull(store, "localhost:5000/team/app:1")   -> Image
    push(store, "localhost:5000/team/app:1")   -> manifest digest

Registries on localhost and loopback addresses speak plain HTTP, others HTTPS unless listed
as insecure (in /etc/pyrun/config.json, as Docker's daemon.json lists them, or in
PYRUN_INSECURE_REGISTRIES). A 401 with `WWW-Authenticate: Bearer realm=...` is answered by
fetching a token (anonymously, or with the credentials `pyrun login` stored); `Basic` is
answered with the credentials. Every blob is checked against its digest before it enters
the store, so a corrupted or substituted layer is refused and nothing is named.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import re
import socket
import time
import urllib.parse

from runtime.errors import PyrunError
from runtime.image import reference
from runtime.image.store import Image, Store
from runtime.registry.progress import Progress

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
ACCEPT = ", ".join([MEDIA_OCI_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_MANIFEST,
                    MEDIA_DOCKER_LIST])
AUTH_FILE = os.path.expanduser("~/.config/pyrun/auth.json")


class RegistryError(PyrunError):
    pass


def registry_host(ref: reference.Reference) -> str:
    return "registry-1.docker.io" if ref.domain == "docker.io" else ref.domain


CONFIG_FILE = "/etc/pyrun/config.json"  # PYRUN_CONFIG names another


def _split_host(host: str) -> str:
    """The name or address of host[:port] ("[::1]:5000" -> "::1")."""
    if host.startswith("["):
        return host[1:host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def insecure_registries() -> list[str]:
    """Registries to speak plain HTTP to, as Docker's daemon.json lists them: host[:port]
    names and address ranges (10.0.0.0/8) under "insecure-registries" in pyrun's config
    file, and the comma-separated PYRUN_INSECURE_REGISTRIES."""
    path = os.environ.get("PYRUN_CONFIG", CONFIG_FILE)
    listed = []
    try:
        with open(path) as f:
            listed = json.load(f).get("insecure-registries", [])
    except FileNotFoundError:
        pass
    except (ValueError, AttributeError) as e:
        raise RegistryError(f"{path}: not a JSON object ({e})") from None
    if not isinstance(listed, list) or not all(isinstance(h, str) for h in listed):
        raise RegistryError(f"{path}: \"insecure-registries\" must be a list of host[:port] "
                            "names or address ranges")
    env = os.environ.get("PYRUN_INSECURE_REGISTRIES", "")
    return [h.strip() for h in listed + env.split(",") if h.strip()]


def _insecure(host: str) -> bool:
    """Loopback registries, and those listed (insecure_registries()), are plain HTTP."""
    name = _split_host(host)
    if name in ("localhost", "::1") or name.startswith("127."):
        return True
    listed = insecure_registries()
    if host in listed or name in listed:
        return True
    ranges = [h for h in listed if "/" in h]
    if ranges:
        import ipaddress
        try:
            addr = ipaddress.ip_address(name)
        except ValueError:
            return False  # a name: ranges hold addresses
        for r in ranges:
            try:
                if addr in ipaddress.ip_network(r, strict=False):
                    return True
            except ValueError:
                raise RegistryError(f"insecure registry {r!r}: not an address range") \
                    from None
    return False


# ---- credentials: Docker's config.json "auths" format --------------------------------------

def _load_auths() -> dict:
    try:
        with open(AUTH_FILE) as f:
            return json.load(f).get("auths", {})
    except (FileNotFoundError, ValueError):
        return {}


def login(host: str, username: str, password: str) -> None:
    auths = _load_auths()
    auths[host] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    _save_auths(auths)


def logout(host: str) -> bool:
    auths = _load_auths()
    found = auths.pop(host, None) is not None
    _save_auths(auths)
    return found


def _save_auths(auths: dict) -> None:
    os.makedirs(os.path.dirname(AUTH_FILE), 0o700, exist_ok=True)
    tmp = AUTH_FILE + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # readable by its owner
    with os.fdopen(fd, "w") as f:
        json.dump({"auths": auths}, f, indent=1)
    os.rename(tmp, AUTH_FILE)


def _credentials(host: str) -> tuple[str, str] | None:
    entry = _load_auths().get(host)
    if not entry:
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


# ---- the HTTP session ------------------------------------------------------------------------

class Session:
    """One registry and one repository: requests with the auth its challenges ask for."""

    def __init__(self, ref: reference.Reference, actions: str = "pull", also=()):
        self.ref = ref
        self.also = list(also)  # more token scopes (the sources of cross-repository mounts)
        self.host = registry_host(ref)
        self.scheme = "http" if _insecure(self.host) else "https"
        self.repo = ref.path
        self.actions = actions
        self.auth_header: str | None = None

    def _conn(self, host: str, scheme: str):
        cls = http.client.HTTPConnection if scheme == "http" else http.client.HTTPSConnection
        return cls(host, timeout=60)

    def request(self, method: str, path: str, headers=None, body=None, ok=(200,),
                stream=False, retries: int = 3):
        """Send; answer an auth challenge once; retry transient failures with backoff."""
        url = path if path.startswith("http") else f"{self.scheme}://{self.host}{path}"
        # A file body is sent again from where it started (after a challenge, on a retry).
        start = body.tell() if hasattr(body, "seek") else None
        for attempt in range(retries + 1):
            if start is not None:
                body.seek(start)
            try:
                resp, conn = self._send(method, url, headers, body)
                if resp.status == 401 and self._answer(resp.getheader("WWW-Authenticate") or ""):
                    resp.read()
                    conn.close()
                    if start is not None:
                        body.seek(start)
                    resp, conn = self._send(method, url, headers, body)
            except _Transient as e:
                if attempt < retries:
                    time.sleep(_backoff(attempt, None))
                    continue
                raise RegistryError(f"registry {self.host}: {e} ({retries + 1} tries)") \
                    from None
            if resp.status in (429, 500, 502, 503, 504) and attempt < retries:
                resp.read()
                conn.close()
                time.sleep(_backoff(attempt, resp.getheader("Retry-After")))
                continue
            if resp.status not in ok:
                text = resp.read().decode(errors="replace")
                conn.close()
                raise RegistryError(self._explain(method, url, resp.status, text))
            if stream:
                return resp, conn
            data = resp.read()
            conn.close()
            return resp, data
        raise RegistryError(f"{method} {url}: gave up after {retries} retries")

    def _send(self, method, url, headers, body):
        u = urllib.parse.urlsplit(url)
        conn = self._conn(u.netloc, u.scheme)
        h = dict(headers or {})
        if self.auth_header:
            h["Authorization"] = self.auth_header
        try:
            conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body,
                         headers=h)
            return conn.getresponse(), conn
        except (ConnectionRefusedError, socket.gaierror) as e:
            conn.close()  # nothing listens there, or no such host: no use trying again
            raise RegistryError(f"cannot reach registry {self.host}: {e.strerror or e}") \
                from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()  # reset, timed out, closed before answering: worth another try
            raise _Transient(f"connection lost ({_reason(e)})") from None

    def _answer(self, challenge: str) -> bool:
        """Set an Authorization header for a WWW-Authenticate challenge; False if we can't."""
        scheme, _, params = challenge.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        creds = _credentials(self.host) or _credentials(self.ref.domain)
        if scheme.lower() == "basic":
            if not creds:
                return False
            self.auth_header = "Basic " + base64.b64encode(":".join(creds).encode()).decode()
            return True
        if scheme.lower() != "bearer" or "realm" not in fields:
            return False
        scopes = [fields.get("scope") or f"repository:{self.repo}:{self.actions}"] + self.also
        query = {"service": fields.get("service", ""), "scope": scopes}
        url = fields["realm"] + "?" + urllib.parse.urlencode(query, doseq=True)
        u = urllib.parse.urlsplit(url)
        conn = self._conn(u.netloc, u.scheme)
        h = {}
        if creds:
            h["Authorization"] = "Basic " + base64.b64encode(":".join(creds).encode()).decode()
        conn.request("GET", u.path + "?" + u.query, headers=h)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            raise RegistryError(f"{self.host}: authentication failed ({resp.status})")
        token = json.loads(body)
        self.auth_header = "Bearer " + (token.get("token") or token.get("access_token", ""))
        return True

    def _explain(self, method, url, status, text) -> str:
        try:
            errors = json.loads(text).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except ValueError:
            detail = text.strip()[:200]
        what = {401: "unauthorized (pyrun login?)", 403: "denied", 404: "not found",
                429: "too many requests"}.get(status, f"HTTP {status}")
        return f"{self.ref.familiar()}: {what}" + (f" ({detail})" if detail else "") + \
            f" [{method} {urllib.parse.urlsplit(url).path}]"


class _Transient(Exception):
    """A connection lost mid-request (inside Session: retried)."""


def _reason(e: BaseException) -> str:
    if isinstance(e, http.client.IncompleteRead):
        return f"closed with {e.expected} bytes to come"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


MAX_WAIT = 10.0  # seconds: the longest pause between two tries, whatever Retry-After says


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before retry `attempt` (0, 1, ...): the server's Retry-After when it gives
    one in seconds, capped at MAX_WAIT; otherwise 0.2 s doubling each time."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), MAX_WAIT)
    return min(0.2 * 2 ** attempt, MAX_WAIT)


# ---- pull ------------------------------------------------------------------------------------

def _platform() -> tuple[str, str]:
    from runtime.image.store import host_arch
    return "linux", host_arch()


def parse_platform(text: str) -> tuple[str, ...]:
    """"os/arch" or "os/arch/variant" (--platform) -> a tuple of those parts."""
    parts = tuple(text.split("/"))
    if len(parts) not in (2, 3) or not all(parts):
        raise RegistryError(f"--platform: expected os/arch[/variant], got {text!r}")
    return parts


def pick_platform(manifests: list[dict], want: tuple[str, ...]) -> dict | None:
    """The entry of an index for os/arch[/variant]. Without a variant asked for, the
    first entry of that os and architecture is taken (as containerd's matcher does for a
    default platform), so linux/arm64 finds an image marked arm64/v8."""
    for m in manifests:
        p = m.get("platform", {})
        if (p.get("os"), p.get("architecture")) != want[:2]:
            continue
        if len(want) == 3 and p.get("variant") != want[2]:
            continue
        return m
    return None


def _get_manifest(s: Session, ref_str: str) -> tuple[dict, str, str]:
    resp, data = s.request("GET", f"/v2/{s.repo}/manifests/{ref_str}", {"Accept": ACCEPT})
    media = (resp.getheader("Content-Type") or "").split(";")[0]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    doc = json.loads(data)
    return doc, media or doc.get("mediaType", ""), digest


def _describe(p: dict) -> str:
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


def pull(store: Store, name: str, platform: tuple[str, ...] | None = None, out=None) -> Image:
    ref = reference.parse(name)
    s = Session(ref, "pull")
    doc, media, digest = _get_manifest(s, ref.digest or ref.tag)
    if ref.digest and digest != ref.digest:
        raise RegistryError(f"{name}: the registry sent a manifest with digest {digest}")
    top_digest = digest
    if media == MEDIA_DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryError(f"{name}: Docker schema 1 manifests are not supported (deprecated "
                            "since 2017); push the image again with a current client")
    if media in (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST) or "manifests" in doc:
        want = tuple(platform or _platform())
        choice = pick_platform(doc["manifests"], want)
        if choice is None:
            have = ", ".join(_describe(m.get("platform", {})) for m in doc["manifests"])
            raise RegistryError(f"{name}: no {'/'.join(want)} image (has: {have})")
        doc, media, digest = _get_manifest(s, choice["digest"])
    config_bytes = _blob(s, doc["config"]["digest"])
    config = json.loads(config_bytes)
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(doc["layers"]):
        raise RegistryError(f"{name}: the manifest has {len(doc['layers'])} layers, the "
                            f"config {len(diff_ids)}")
    from concurrent.futures import ThreadPoolExecutor
    progress = Progress(out) if out else None
    todo = []
    for layer, d in zip(doc["layers"], diff_ids):
        if store.has_layer(d):
            if progress:
                progress.done(layer["digest"], "Already exists")
        else:
            todo.append((layer, d))
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in pool.map(lambda ld: _fetch_layer(s, store, ld[0], ld[1], progress), todo):
                pass
    finally:
        if progress:
            progress.close()
    img = store.put_image(config)
    if not ref.digest:
        store.tag(img.id, str(ref))
    # As Docker: a pull by digest names no tag; either way the digest that was asked for
    # (an index's, for a multi-platform image) finds the image again.
    store.add_repo_digest(img.id, f"{ref.repository}@{top_digest}")
    # Blobs held as the registry has them (uncompressed layers, the config) can be mounted
    # from this repository when pushed to another one on the same registry.
    same = [layer["digest"] for layer, d in zip(doc["layers"], diff_ids)
            if layer["digest"] == d] + [doc["config"]["digest"]]
    store.add_sources(same, f"{s.host}/{s.repo}")
    return img


PULL_POLICIES = ("always", "missing", "never")


def ensure(store: Store, name: str, policy: str = "missing", out=None,
           docker_hub: bool = True) -> bool:
    """What `run --pull` and `build --pull` do before using an image; True if it pulled.

    always: pull (a newer image under the name replaces the tag); missing: pull only when the
    name is not in the store (Docker Hub names too, unless docker_hub is False), after
    Docker's "Unable to find image" line; never: don't."""
    if policy not in PULL_POLICIES:
        raise RegistryError(f"--pull: expected always, missing or never, got {policy!r}")
    if policy == "never":
        return False
    try:
        ref = reference.parse(name)
    except reference.ReferenceError:
        return False  # not a name a registry could hold: the caller reports it
    if policy == "missing":
        from runtime.image.store import ImageNotFound
        try:
            store.resolve(name)
            return False
        except ImageNotFound:
            pass
        if ref.domain == reference.DEFAULT_DOMAIN and not docker_hub:
            return False
        if out:
            print(f"Unable to find image '{ref.familiar()}' locally", file=out)
    pull(store, name, out=out)
    return True


def _blob(s: Session, digest: str) -> bytes:
    _, data = s.request("GET", f"/v2/{s.repo}/blobs/{digest}", ok=(200,))
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise RegistryError(f"blob {digest}: content does not match its digest")
    return data


class _Blob:
    """A blob's body as a stream: hashed (unless the store hashes it anyway: an uncompressed
    layer, whose digest is its diff_id) and counted. A transfer cut short - the connection
    reset, or closed before Content-Length - is taken up where it stopped with a Range
    request, a bounded number of times (a registry that ignores Range sends it whole again,
    and what was had is skipped)."""

    def __init__(self, s: Session, digest: str, progress=None, hashed: bool = True,
                 retries: int = 3):
        self.s, self.digest, self.progress, self.retries = s, digest, progress, retries
        self.path = f"/v2/{s.repo}/blobs/{digest}"
        self.sha = hashlib.sha256() if hashed else None
        self.got = 0
        self.resp, self.conn = s.request("GET", self.path, stream=True)

    def read(self, n: int = -1) -> bytes:
        tries = 0
        while True:
            try:
                if tries:
                    self._resume()
                data = self.resp.read(n)
                if data or n == 0 or not self.resp.length:  # (length None: not announced)
                    break
                raise http.client.IncompleteRead(b"", self.resp.length)
            except (OSError, http.client.HTTPException) as e:
                if tries == self.retries:
                    raise RegistryError(f"blob {self.digest}: transfer cut short at "
                                        f"{self.got} bytes ({_reason(e)}; {tries + 1} tries)") \
                        from None
                time.sleep(_backoff(tries, None))
                tries += 1
        self.got += len(data)
        if self.sha is not None:
            self.sha.update(data)
        if self.progress and data:
            self.progress.advance(self.digest, len(data))
        return data

    def _resume(self) -> None:
        self.conn.close()
        resp, conn = self.s.request("GET", self.path, {"Range": f"bytes={self.got}-"},
                                    ok=(200, 206), stream=True)
        self.resp, self.conn = resp, conn
        skip = self.got if resp.status == 200 else 0
        if resp.status == 206:
            given = resp.getheader("Content-Range") or ""
            if not given.startswith(f"bytes {self.got}-"):
                raise RegistryError(f"blob {self.digest}: asked for bytes {self.got}- and "
                                    f"got {given or 'no Content-Range'}")
        while skip:
            chunk = resp.read(min(skip, 1 << 20))
            if not chunk:
                raise http.client.IncompleteRead(b"", skip)
            skip -= len(chunk)

    def close(self) -> None:
        self.conn.close()

    def check(self) -> None:
        while self.read(1 << 20):
            pass
        if self.sha is not None and "sha256:" + self.sha.hexdigest() != self.digest:
            raise RegistryError(f"layer {self.digest}: content does not match its digest")


def _fetch_layer(s: Session, store: Store, layer: dict, diff_id: str, progress) -> None:
    """Stream one layer into the store; its compressed digest and its diff_id both checked
    (once when they are the same). Its unpacked directory only becomes visible once both
    match."""
    digest = layer["digest"]
    if progress:
        progress.start(digest, "Downloading", layer.get("size"))
    body = _Blob(s, digest, progress, hashed=digest != diff_id)
    try:
        store.add_layer_tar(io.BufferedReader(_Raw(body), 1 << 20), verify=body.check,
                            expect=diff_id)
    finally:
        body.close()
    if progress:
        progress.done(digest, "Pull complete")


class _Raw(io.RawIOBase):
    """A raw stream over any object with read(n), so it can be buffered."""

    def __init__(self, src):
        self.src = src

    def readable(self):
        return True

    def readinto(self, b):
        data = self.src.read(len(b))
        b[:len(data)] = data
        return len(data)


# ---- push ------------------------------------------------------------------------------------

CHUNK_DEFAULT = 0  # monolithic: one PUT per blob, as most clients do


def push(store: Store, name: str, out=None, chunk_size: int = CHUNK_DEFAULT) -> str:
    """Upload the image's blobs the registry lacks, then its manifest; the manifest digest.
    A blob this store knows another repository of the same registry holds is mounted from
    there (no upload) where the registry allows it; chunk_size > 0 uploads in PATCH chunks
    of that many bytes, 0 in one PUT."""
    ref = reference.parse(name)
    if ref.digest:
        raise RegistryError("push a tag, not a digest")
    img = store.resolve(name)
    host = registry_host(ref)
    here = f"{host}/{ref.path}"
    digests = list(img.diff_ids) + [img.id]
    mounts = {}
    for d in digests:
        other = next((r for r in store.sources(d) if r != here and r.startswith(host + "/")),
                     None)
        if other:
            mounts[d] = other[len(host) + 1:]
    s = Session(ref, "pull,push", also=[f"repository:{r}:pull" for r in set(mounts.values())])
    progress = Progress(out) if out else None
    try:
        for digest in digests:
            resp, _ = s.request("HEAD", f"/v2/{s.repo}/blobs/{digest}", ok=(200, 404))
            if resp.status == 200:
                if progress:
                    progress.done(digest, "Layer already exists")
                continue
            status = _upload(s, digest, store.blob_path(digest), mounts.get(digest), progress,
                             chunk_size)
            if progress:
                progress.done(digest, status)
    finally:
        if progress:
            progress.close()
    manifest = store.read_blob(img.manifest_digest)
    s.request("PUT", f"/v2/{s.repo}/manifests/{ref.tag}",
              {"Content-Type": MEDIA_OCI_MANIFEST}, body=manifest, ok=(201,))
    store.add_sources(digests, here)
    store.add_repo_digest(img.id, f"{ref.repository}@{img.manifest_digest}")
    return img.manifest_digest


def _upload(s: Session, digest: str, path: str, mount_from: str | None, progress,
            chunk_size: int) -> str:
    """One blob: mounted, or uploaded whole or in chunks. Returns what to show for it."""
    if mount_from:
        q = urllib.parse.urlencode({"mount": digest, "from": mount_from})
        resp, _ = s.request("POST", f"/v2/{s.repo}/blobs/uploads/?{q}", ok=(201, 202))
        if resp.status == 201:
            return f"Mounted from {mount_from}"
        # 202: the registry would not mount (no access to the source, say): an upload it is.
    else:
        resp, _ = s.request("POST", f"/v2/{s.repo}/blobs/uploads/", ok=(202,))
    location = resp.getheader("Location")
    size = os.path.getsize(path)
    if progress:
        progress.start(digest, "Pushing", size)
    with open(path, "rb") as f:
        if chunk_size > 0:
            offset = 0
            while offset < size:
                chunk = f.read(chunk_size)
                resp, _ = s.request("PATCH", location, {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    "Content-Length": str(len(chunk))}, body=chunk, ok=(202,))
                location = resp.getheader("Location") or location
                offset += len(chunk)
                if progress:
                    progress.advance(digest, len(chunk))
            body, length = b"", 0
        else:
            body, length = _Counting(f, digest, progress), size
        sep = "&" if "?" in location else "?"
        s.request("PUT", f"{location}{sep}digest={digest}",
                  {"Content-Type": "application/octet-stream",
                   "Content-Length": str(length)}, body=body, ok=(201,))
    return "Pushed"


class _Counting:
    """A file for http.client's body that reports each block it sends."""

    def __init__(self, f, digest: str, progress):
        self.f, self.digest, self.progress = f, digest, progress

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        if self.progress and data:
            self.progress.advance(self.digest, len(data))
        return data

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int) -> int:
        return self.f.seek(pos)
