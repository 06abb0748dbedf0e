"""The build context: a directory filtered by .dockerignore, and what COPY/ADD take from it."""

from __future__ import annotations

import hashlib
import os
import stat

from runtime.errors import PyrunError


class ContextError(PyrunError):
    pass


class Context:
    def __init__(self, root: str | None, dockerfile_name: str = "Dockerfile"):
        self.root = os.path.realpath(root) if root else None
        self.matcher = None  # only a context with a .dockerignore needs one (and `re`)
        if self.root:
            try:
                with open(os.path.join(self.root, ".dockerignore")) as f:
                    text = f.read()
            except FileNotFoundError:
                return
            from runtime.dockerfile import ignore
            patterns = ignore.read(text)
            if patterns:
                self.matcher = ignore.Matcher(patterns)

    def excluded(self, rel: str) -> bool:
        return self.matcher is not None and self.matcher.matches(rel)

    def select(self, source: str) -> list[str]:
        """A COPY source (maybe with wildcards) → the matching paths, relative to the root."""
        if self.root is None:
            raise ContextError("no build context (the Dockerfile came on stdin): COPY needs one")
        src = os.path.normpath(source.lstrip("/")) if source not in ("", ".", "/") else "."
        if src.startswith(".."):
            raise ContextError(f"COPY failed: forbidden path outside the build context: {source}")
        if any(c in src for c in "*?["):
            import fnmatch
            parent = os.path.dirname(src)
            hits = []
            base = os.path.join(self.root, parent)
            if os.path.isdir(base):
                for name in sorted(os.listdir(base)):
                    rel = os.path.join(parent, name) if parent else name
                    if fnmatch.fnmatchcase(rel, src) and not self.excluded(rel):
                        hits.append(rel)
            if not hits:
                raise ContextError(f"COPY failed: no source files were specified ({source} "
                                   "matches nothing)")
            return hits
        full = os.path.join(self.root, src)
        if src != "." and (not os.path.lexists(full) or self.excluded(src)):
            raise ContextError(f"COPY failed: file not found in build context or excluded by "
                               f".dockerignore: stat {source}: file does not exist")
        real = os.path.realpath(full)
        if real != self.root and not real.startswith(self.root + "/") and \
                not os.path.islink(full):
            raise ContextError(f"COPY failed: forbidden path outside the build context: {source}")
        return [src]

    def walk(self, rel: str):
        """(relative path, absolute path) of rel and, for a directory, everything below that
        .dockerignore does not exclude; directories before their contents."""
        full = os.path.join(self.root, rel) if rel != "." else self.root
        yield rel, full
        if os.path.isdir(full) and not os.path.islink(full):
            for name in sorted(os.listdir(full)):
                child = os.path.join(rel, name) if rel != "." else name
                if self.excluded(child) and not self._has_reincluded_below(child):
                    continue
                yield from self.walk(child)

    def _has_reincluded_below(self, rel: str) -> bool:
        return self.matcher.has_exclusions and any(
            p.exclusion and p.text.startswith(rel + "/") for p in self.matcher.patterns)


def content_hash(ctx: Context, sources: list[str]) -> str:
    """What COPY's cache key depends on: paths, types, modes, sizes and bytes (not mtimes,
    not the owner on the build host: COPY sets its own)."""
    h = hashlib.sha256()
    for src in sources:
        for rel, full in ctx.walk(src):
            if rel != src and ctx.excluded(rel):
                continue
            st = os.lstat(full)
            h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
            if stat.S_ISREG(st.st_mode):
                h.update(str(st.st_size).encode() + b"\0")
                with open(full, "rb") as f:
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        h.update(chunk)
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode())
            h.update(b"\n")
    return h.hexdigest()
