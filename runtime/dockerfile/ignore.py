""".dockerignore: reading the file and matching paths, with moby/patternmatcher's semantics.

`*` and `?` never cross "/", `**` crosses any number of directories, a leading "/" is
dropped, and a later `!pattern` re-includes what an earlier pattern excluded. A path also
matches when one of its parent directories does.
"""

from __future__ import annotations

import posixpath
import re

from runtime.errors import PyrunError


class BadPattern(PyrunError):
    pass


def clean(path: str) -> str:
    """Go's filepath.Clean: normpath, but "//x" is "/x" too."""
    out = posixpath.normpath(path)
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def read(text: str) -> list[str]:
    """The patterns of a .dockerignore file: comments and blanks dropped, paths cleaned,
    leading "/" removed, "!" kept."""
    out = []
    for i, line in enumerate(text.split("\n")):
        if i == 0:
            line = line.lstrip("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


_ESCAPE = set(".+()|{}$")  # regexp specials with no meaning in a glob (Go's shouldEscape)


def _check_glob(p: str) -> None:
    """Reject what Go's filepath.Match calls a bad pattern: a trailing escape, an unclosed
    class, a class element that starts with "-" or "]"."""
    def bad():
        return BadPattern(f"syntax error in pattern: {p}")

    n = len(p)

    def element(i: int) -> tuple[str, int]:
        if i >= n or p[i] in "-]":
            raise bad()
        if p[i] == "\\":
            i += 1
            if i >= n:
                raise bad()
        ch = p[i]
        i += 1
        if i >= n:
            raise bad()
        return ch, i

    i = 0
    while i < n:
        ch = p[i]
        if ch == "\\":
            if i + 1 >= n:
                raise bad()
            i += 2
            continue
        if ch == "[":
            i += 1
            if i < n and p[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and p[i] == "]" and ranges:
                    i += 1
                    break
                _, i = element(i)
                if p[i] == "-":
                    _, i = element(i + 1)
                ranges += 1
            continue
        i += 1


class Pattern:
    __slots__ = ("text", "exclusion", "kind", "regex")

    def __init__(self, text: str, exclusion: bool):
        self.text = text
        self.exclusion = exclusion
        self.kind, self.regex = self._compile(text)

    @staticmethod
    def _compile(p: str):
        kind = "exact"
        reg = "^"
        i, n = 0, len(p)
        first = True
        while i < n:
            ch = p[i]
            i += 1
            if ch == "*":
                if i < n and p[i] == "*":
                    i += 1
                    if i < n and p[i] == "/":
                        i += 1
                    if i >= n:
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            reg += ".*"
                            kind = "regexp"
                    else:
                        reg += "(.*/)?"
                        kind = "regexp"
                    if first:
                        kind = "suffix"
                else:
                    reg += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                reg += "[^/]"
                kind = "regexp"
            elif ch in _ESCAPE:
                reg += "\\" + ch
            elif ch == "\\":
                if i < n:
                    reg += "\\" + p[i]
                    i += 1
                    kind = "regexp"
                else:
                    reg += "\\\\"
            elif ch in "[]":
                reg += ch
                kind = "regexp"
            else:
                reg += re.escape(ch) if ch in "\\" else ch
            first = False
        if kind != "regexp":
            return kind, None
        try:
            return "regexp", re.compile(reg + "$", re.S)
        except re.error:
            raise BadPattern(f"syntax error in pattern: {p}") from None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        return self.regex.match(path) is not None


class Matcher:
    def __init__(self, patterns: list[str]):
        self.patterns: list[Pattern] = []
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            p = clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise BadPattern('illegal exclusion pattern: "!"')
                p = p[1:]
            _check_glob(p)
            self.patterns.append(Pattern(p, exclusion))

    def matches(self, path: str) -> bool:
        """Is this path (or one of its parents) excluded from the context?"""
        matched = False
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/")
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path)
            if not hit and parent != ".":
                for i in range(len(parents)):
                    if pat.match("/".join(parents[:i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)


def matches(path: str, patterns: list[str]) -> bool:
    """moby's Matches(file, patterns): the path cleaned, "." never matches."""
    m = Matcher(patterns)
    path = clean(path)
    if path == ".":
        return False
    return m.matches(path)
