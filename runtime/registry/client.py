"""A client of the OCI distribution API: pull and push images, with Docker's auth flows.

    pull(store, "localhost:5000/team/app:1")   -> Image
    push(store, "localhost:5000/team/app:1")   -> manifest digest

Registries on localhost and loopback addresses speak plain HTTP, others HTTPS (unless listed
in PYRUN_INSECURE_REGISTRIES). A 401 with `WWW-Authenticate: Bearer realm=...` is answered by
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
import time
import urllib.parse

from runtime.errors import PyrunError
from runtime.image import reference
from runtime.image.store import Image, Store

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


def _insecure(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    listed = [h.strip() for h in os.environ.get("PYRUN_INSECURE_REGISTRIES", "").split(",")]
    return (name in ("localhost", "::1") or name.startswith("127.") or host in listed
            or name in listed)


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

    def __init__(self, ref: reference.Reference, actions: str = "pull"):
        self.ref = ref
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
        for attempt in range(retries + 1):
            resp, conn = self._send(method, url, headers, body)
            if resp.status == 401 and self._answer(resp.getheader("WWW-Authenticate") or ""):
                resp.read()
                conn.close()
                resp, conn = self._send(method, url, headers, body)
            if resp.status in (429, 500, 502, 503, 504) and attempt < retries:
                resp.read()
                conn.close()
                time.sleep(0.2 * 2 ** attempt)
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
        except OSError as e:
            conn.close()
            raise RegistryError(f"cannot reach registry {self.host}: {e.strerror or e}") \
                from None

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
        query = {"service": fields.get("service", ""),
                 "scope": fields.get("scope") or f"repository:{self.repo}:{self.actions}"}
        url = fields["realm"] + "?" + urllib.parse.urlencode(query)
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


# ---- pull ------------------------------------------------------------------------------------

def _platform() -> tuple[str, str]:
    from runtime.image.store import _arch
    return "linux", _arch()


def _get_manifest(s: Session, ref_str: str) -> tuple[dict, str, str]:
    resp, data = s.request("GET", f"/v2/{s.repo}/manifests/{ref_str}", {"Accept": ACCEPT})
    media = (resp.getheader("Content-Type") or "").split(";")[0]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    doc = json.loads(data)
    return doc, media or doc.get("mediaType", ""), digest


def pull(store: Store, name: str, platform: tuple[str, str] | None = None, out=None) -> Image:
    ref = reference.parse(name)
    s = Session(ref, "pull")
    doc, media, digest = _get_manifest(s, ref.digest or ref.tag)
    if ref.digest and digest != ref.digest:
        raise RegistryError(f"{name}: the registry sent a manifest with digest {digest}")
    if media == MEDIA_DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryError(f"{name}: Docker schema 1 manifests are not supported (deprecated "
                            "since 2017); push the image again with a current client")
    if media in (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST) or "manifests" in doc:
        want_os, want_arch = platform or _platform()
        choice = next((m for m in doc["manifests"]
                       if m.get("platform", {}).get("os") == want_os
                       and m.get("platform", {}).get("architecture") == want_arch), None)
        if choice is None:
            have = ", ".join(f"{m.get('platform', {}).get('os')}/"
                             f"{m.get('platform', {}).get('architecture')}"
                             for m in doc["manifests"])
            raise RegistryError(f"{name}: no {want_os}/{want_arch} image (has: {have})")
        doc, media, digest = _get_manifest(s, choice["digest"])
    config_bytes = _blob(s, doc["config"]["digest"])
    config = json.loads(config_bytes)
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(doc["layers"]):
        raise RegistryError(f"{name}: the manifest has {len(doc['layers'])} layers, the "
                            f"config {len(diff_ids)}")
    from concurrent.futures import ThreadPoolExecutor
    todo = [(layer, d) for layer, d in zip(doc["layers"], diff_ids) if not store.has_layer(d)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for r in pool.map(lambda ld: _fetch_layer(s, store, ld[0], ld[1], out), todo):
            pass
    img = store.put_image(config)
    store.tag(img.id, str(ref) if not ref.digest else str(reference.parse(
        f"{ref.repository}:{ref.tag or 'latest'}")))
    return img


def _blob(s: Session, digest: str) -> bytes:
    _, data = s.request("GET", f"/v2/{s.repo}/blobs/{digest}", ok=(200,))
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise RegistryError(f"blob {digest}: content does not match its digest")
    return data


class _Verified:
    """Reads a blob response, hashing it; checks the digest at the end."""

    def __init__(self, resp, digest: str):
        self.resp, self.digest = resp, digest
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.resp.read(n)
        self.sha.update(data)
        return data

    def check(self) -> None:
        while self.read(1 << 20):
            pass
        if "sha256:" + self.sha.hexdigest() != self.digest:
            raise RegistryError(f"layer {self.digest}: content does not match its digest")


def _fetch_layer(s: Session, store: Store, layer: dict, diff_id: str, out) -> None:
    """Stream one layer into the store; its compressed digest and its diff_id both checked.
    Its unpacked directory only becomes visible once both match."""
    resp, conn = s.request("GET", f"/v2/{s.repo}/blobs/{layer['digest']}", stream=True)
    try:
        body = _Verified(resp, layer["digest"])
        got = store.add_layer_tar(io.BufferedReader(_Raw(body)), verify=body.check,
                                  expect=diff_id)
        if out:
            print(f"{layer['digest'][7:19]}: pulled ({layer.get('size', 0)} bytes)", file=out)
        return got
    finally:
        conn.close()


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

def push(store: Store, name: str, out=None) -> str:
    ref = reference.parse(name)
    if ref.digest:
        raise RegistryError("push a tag, not a digest")
    img = store.resolve(name)
    s = Session(ref, "pull,push")
    blobs = [(d, store.blob_path(d), "application/vnd.oci.image.layer.v1.tar")
             for d in img.diff_ids]
    blobs.append((img.id, store.blob_path(img.id), "config"))
    for digest, path, _ in blobs:
        resp, _ = s.request("HEAD", f"/v2/{s.repo}/blobs/{digest}", ok=(200, 404))
        if resp.status == 200:
            if out:
                print(f"{digest[7:19]}: already exists", file=out)
            continue
        resp, _ = s.request("POST", f"/v2/{s.repo}/blobs/uploads/", ok=(202,))
        location = resp.getheader("Location")
        sep = "&" if "?" in location else "?"
        with open(path, "rb") as f:
            size = os.path.getsize(path)
            s.request("PUT", f"{location}{sep}digest={digest}",
                      {"Content-Type": "application/octet-stream",
                       "Content-Length": str(size)}, body=f, ok=(201,))
        if out:
            print(f"{digest[7:19]}: pushed", file=out)
    manifest = store.read_blob(img.manifest_digest)
    s.request("PUT", f"/v2/{s.repo}/manifests/{ref.tag}",
              {"Content-Type": MEDIA_OCI_MANIFEST}, body=manifest, ok=(201,))
    return img.manifest_digest
