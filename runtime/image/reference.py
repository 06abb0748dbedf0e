"""Image references as Docker normalises them.

    parse("nginx")                 → docker.io/library/nginx:latest   (familiar: nginx:latest)
    parse("localhost:5000/a/b:v1") → localhost:5000/a/b:v1
    parse("debian@sha256:<hex>")   → a digest reference
Image IDs (the config digest, or any unique prefix of it) are resolved by the store, not here.
"""

from __future__ import annotations

import re

from runtime.errors import PyrunError

DEFAULT_DOMAIN = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_DOMAIN_RE = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                        r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$")


class ReferenceError(PyrunError):
    pass


class Reference:
    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain: str, path: str, tag: str | None, digest: str | None):
        self.domain, self.path, self.tag, self.digest = domain, path, tag, digest

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """What Docker shows: no docker.io/, no library/."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        return self.path[len("library/"):] if self.path.startswith("library/") else self.path

    def __str__(self):
        s = self.repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def familiar(self) -> str:
        s = self.familiar_repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def __eq__(self, other):
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return f"Reference({str(self)!r})"


def parse(text: str, default_tag: str = "latest") -> Reference:
    if not text or text != text.strip():
        raise ReferenceError(f"invalid reference format: {text!r}")
    name, digest = text, None
    if "@" in text:
        name, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ReferenceError(f"invalid reference format: bad digest in {text!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ReferenceError(f"invalid reference format: bad tag in {text!r}")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            raise ReferenceError(f"invalid reference format: bad registry in {text!r}")
    else:
        domain, path = DEFAULT_DOMAIN, name
        if "/" not in path:
            path = "library/" + path
    if not _PATH_RE.match(path):
        hint = " (repository names must be lowercase)" if path.lower() != path else ""
        raise ReferenceError(f"invalid reference format: {text!r}{hint}")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def looks_like_id(text: str) -> bool:
    t = text[len("sha256:"):] if text.startswith("sha256:") else text
    return bool(re.fullmatch(r"[a-f0-9]{1,64}", t))
