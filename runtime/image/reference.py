"""Image references as Docker normalises them.

    parse("nginx")                 → docker.io/library/nginx:latest   (familiar: nginx:latest)
    parse("localhost:5000/a/b:v1") → localhost:5000/a/b:v1
    parse("debian@sha256:<hex>")   → a digest reference
Image IDs (the config digest, or any unique prefix of it) are resolved by the store, not here.
"""

from __future__ import annotations

from runtime.errors import PyrunError

DEFAULT_DOMAIN = "docker.io"

# Docker's grammar (distribution/reference), checked by hand rather than with `re`, whose
# import would be on every `pyrun run`, which resolves a reference first thing.
# tests/unit/test_image_pieces.py holds these checks to the regular expressions:
#   path component  [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*, components joined by "/"
#   tag             [\w][\w.-]{0,127}
#   digest          sha256:[a-f0-9]{64}
#   domain          labels [a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])? joined by ".", (:[0-9]+)?
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")


def _component_ok(c: str) -> bool:
    if not c or c[0] not in _LOWER_ALNUM or c[-1] not in _LOWER_ALNUM:
        return False
    sep = ""
    for ch in c:
        if ch in _LOWER_ALNUM:
            if sep and sep not in (".", "_", "__") and sep.strip("-"):
                return False
            sep = ""
        elif ch in "._-":
            sep += ch
        else:
            return False
    return True


def path_ok(path: str) -> bool:
    return all(_component_ok(c) for c in path.split("/"))


def _word(ch: str) -> bool:  # what \w matches in a str pattern
    return ch.isalnum() or ch == "_"


def tag_ok(tag: str) -> bool:
    return 0 < len(tag) <= 128 and _word(tag[0]) and all(_word(ch) or ch in ".-" for ch in tag)


def digest_ok(digest: str) -> bool:
    return len(digest) == 71 and digest.startswith("sha256:") and \
        all(ch in _HEX for ch in digest[7:])


def domain_ok(domain: str) -> bool:
    if domain.startswith("["):  # an IPv6 address: "[fd00::1]" or "[fd00::1]:5000"
        end = domain.find("]")
        address, port = domain[1:end], domain[end + 1:]
        return end > 1 and all(ch in _HEX or ch in "ABCDEF:" for ch in address) and \
            (not port or (port[0] == ":" and len(port) > 1
                          and all(ch in _DIGITS for ch in port[1:])))
    host, colon, port = domain.partition(":")
    if colon and not (port and all(ch in _DIGITS for ch in port)):
        return False
    for label in host.split("."):
        if not label or label[0] not in _ASCII_ALNUM or label[-1] not in _ASCII_ALNUM or \
                not all(ch in _ASCII_ALNUM or ch == "-" for ch in label):
            return False
    return True


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
        if not digest_ok(digest):
            raise ReferenceError(f"invalid reference format: bad digest in {text!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not tag_ok(tag):
            raise ReferenceError(f"invalid reference format: bad tag in {text!r}")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
        if not domain_ok(domain):
            raise ReferenceError(f"invalid reference format: bad registry in {text!r}")
    else:
        domain, path = DEFAULT_DOMAIN, name
        if "/" not in path:
            path = "library/" + path
    if not path_ok(path):
        hint = " (repository names must be lowercase)" if path.lower() != path else ""
        raise ReferenceError(f"invalid reference format: {text!r}{hint}")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def looks_like_id(text: str) -> bool:
    t = text[len("sha256:"):] if text.startswith("sha256:") else text
    return 0 < len(t) <= 64 and all(ch in _HEX for ch in t)
