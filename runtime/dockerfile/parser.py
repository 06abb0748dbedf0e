"""Dockerfile text → nodes with lines, as BuildKit's parser does it. No I/O.

Directives (# syntax=, # escape=), comments, line continuations (with comments and blank
lines inside them), JSON and shell forms, --flags, heredocs (RUN <<EOF), case-insensitive
instructions. Each Node keeps the instruction (lower case), its flags, its arguments, its
heredocs and its start and end line. `dump()` prints BuildKit's test format.

Unknown instructions parse (as BuildKit's do); runtime/dockerfile/instructions.py rejects
them with their line.
"""

from __future__ import annotations

import json
import re

from runtime.dockerfile.shell import Lex, ShellSyntaxError
from runtime.errors import PyrunError


class DockerfileSyntaxError(PyrunError):
    def __init__(self, message: str, line: int = 0, filename: str = "Dockerfile"):
        self.line = line
        self.filename = filename
        self.reason = message
        super().__init__(f"{filename}:{line}: {message}" if line else f"{filename}: {message}")


class Heredoc:
    __slots__ = ("name", "fd", "expand", "chomp", "content")

    def __init__(self, name: str, fd: int = 0, expand: bool = True, chomp: bool = False,
                 content: str = ""):
        self.name, self.fd, self.expand, self.chomp, self.content = name, fd, expand, chomp, content

    def __repr__(self):
        return f"Heredoc({self.name!r}, content={self.content!r})"


class Node:
    """One instruction: `args` are strings, or one Node for ONBUILD's nested instruction."""

    __slots__ = ("cmd", "flags", "args", "json", "heredocs", "original", "start_line",
                 "end_line", "comments")

    def __init__(self, cmd: str, flags=None, args=None, json_form=False, original=""):
        self.cmd = cmd
        self.flags: list[str] = flags or []
        self.args: list = args or []
        self.json = json_form
        self.heredocs: list[Heredoc] = []
        self.original = original
        self.start_line = 0
        self.end_line = 0
        self.comments: list[str] = []

    def dump(self) -> str:
        out = self.cmd.lower()
        if self.flags:
            out += " [" + " ".join(go_quote(f) for f in self.flags) + "]"
        for a in self.args:
            out += f" ({a.dump()})" if isinstance(a, Node) else " " + go_quote(a)
        return out.strip()

    def __repr__(self):
        return f"Node({self.dump()!r}, lines {self.start_line}-{self.end_line})"


class Result:
    def __init__(self, nodes, escape, warnings, directives):
        self.nodes: list[Node] = nodes
        self.escape: str = escape
        self.warnings: list[str] = warnings
        self.directives: dict[str, str] = directives

    def dump(self) -> str:
        return "".join(f"({n.dump()})\n" for n in self.nodes)


# ---- Go's strconv.Quote, for the dump format ---------------------------------------------------

_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
               "\v": r"\v", "\\": r"\\", '"': r"\""}


def go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch == " " or (ch.isprintable() and ord(ch) != 0x7F):
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# ---- line handling ----------------------------------------------------------------------------

_RE_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_RE_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_VALID_DIRECTIVES = {"escape", "syntax", "check"}
HEREDOC_INSTRUCTIONS = {"add", "copy", "run"}


class _Directives:
    def __init__(self):
        self.escape = "\\"
        self.continuation = self._continuation_re("\\")
        self.done = False
        self.seen: dict[str, str] = {}

    @staticmethod
    def _continuation_re(esc: str):
        e = re.escape(esc)
        # The escape token ends a line to continue it, unless it is itself escaped; alone on
        # a line it continues too.
        return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def possible(self, line: str) -> None:
        if self.done:
            return
        m = _RE_DIRECTIVE.match(line)
        if not m or m.group(1).lower() not in _VALID_DIRECTIVES:
            self.done = True
            return
        key = m.group(1).lower()
        if key in self.seen:
            raise ValueError(f"only one {key} parser directive can be used")
        self.seen[key] = m.group(2)
        if key == "escape":
            if m.group(2) not in ("`", "\\"):
                raise ValueError(f"invalid escape token '{m.group(2)}' does not match ` or \\")
            self.escape = m.group(2)
            self.continuation = self._continuation_re(self.escape)


def _lines(text: str) -> list[str]:
    """Split keeping the newline, on "\\n" only (like Go's bufio scanner here)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return _trim_newline(line).lstrip().startswith("#")


def _process_line(d: _Directives, line: str, strip_left: bool) -> str:
    line = _trim_newline(line)
    if strip_left:
        line = line.lstrip()
    d.possible(line)
    return "" if line.startswith("#") else line


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub(r"\1", line), False
    return line, True


# ---- argument parsers (BuildKit's line parsers) -----------------------------------------------

def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace, keeping quotes (they are removed later, by expansion)."""
    words, word, quote, blank_ok = [], "", "", False
    phase = 0  # 0 spaces, 1 word, 2 quote
    i, n = 0, len(rest)
    while i <= n:
        ch = rest[i] if i < n else ""
        if phase == 0:
            if i == n:
                break
            if ch.isspace():
                i += 1
                continue
            phase = 1
        if phase in (1, 2) and i == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == 1:
            if ch.isspace():
                phase = 0
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                i += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, 2
            if ch == escape:
                if i + 1 == n:
                    i += 1
                    continue
                word += ch
                i += 1
                ch = rest[i]
            word += ch
            i += 1
            continue
        # phase 2: in a quote
        if ch == quote:
            phase = 1
        if ch == escape and quote != "'":
            if i + 1 == n:
                phase = 1
                i += 1
                continue
            word += ch
            i += 1
            ch = rest[i]
        word += ch
        i += 1
    return words


def _name_val(rest: str, key: str, escape: str) -> list[str]:
    """ENV and LABEL: `KEY name value` (old) or `KEY a=1 b="2 3"`; triples key, value, sep."""
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out = []
    for w in words:
        if "=" not in w:
            raise ValueError(f"Syntax error - can't find = in {go_quote(w)}. "
                             "Must be of the form: name=value")
        k, v = w.split("=", 1)
        out += [k, v, "="]
    return out


def _whitespace_list(rest: str) -> list[str]:
    return _RE_WHITESPACE.split(rest) if rest else []


class _NotStrings(ValueError):
    pass


def _parse_json(rest: str):
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(rest)  # trailing text is ignored, as Go does
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStrings("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str) -> tuple[list, bool]:
    if rest == "":
        return [], False
    value = _parse_json(rest)
    if value is not None:
        return value, True
    return [rest], False


def _maybe_json_list(rest: str) -> tuple[list, bool]:
    value = _parse_json(rest)
    if value is not None:
        return value, True
    return _whitespace_list(rest), False


def _health(rest: str) -> tuple[list, bool]:
    sep = 0
    while sep < len(rest) and not rest[sep].isspace():
        sep += 1
    if sep == 0:
        return [], False
    nxt = sep
    while nxt < len(rest) and rest[nxt].isspace():
        nxt += 1
    args, is_json = _maybe_json(rest[nxt:])
    return [rest[:sep]] + args, is_json


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading --name=value flags (BuildKit's extractBuilderFlags)."""
    words, word, quote, blank_ok = [], "", "", False
    phase = 0
    i, n = 0, len(line)
    while i <= n:
        ch = line[i] if i < n else ""
        if phase == 0:
            if i == n:
                break
            if ch.isspace():
                i += 1
                continue
            if ch != "-" or i + 1 == n or line[i + 1] != "-":
                return line[i:], words
            phase = 1
        if phase in (1, 2) and i == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == 1:
            if ch.isspace():
                phase = 0
                if word == "--":
                    return line[i:], words
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                i += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, 2
                i += 1
                continue
            if ch == "\\":
                if i + 1 == n:
                    i += 1
                    continue
                i += 1
                ch = line[i]
            word += ch
            i += 1
            continue
        if ch == quote:
            phase = 1
            i += 1
            continue
        if ch == "\\":
            if i + 1 == n:
                phase = 1
                i += 1
                continue
            i += 1
            ch = line[i]
        word += ch
        i += 1
    return "", words


def _node_from_line(line: str, d: _Directives) -> Node:
    stripped = line.strip()
    parts = _RE_WHITESPACE.split(stripped, maxsplit=1)
    cmd = parts[0].lower()
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
    rest = rest.strip()
    is_json = False
    if cmd in ("add", "copy", "volume"):
        args, is_json = _maybe_json_list(rest)
    elif cmd in ("cmd", "entrypoint", "run", "shell"):
        args, is_json = _maybe_json(rest)
    elif cmd in ("expose", "from"):
        args = _whitespace_list(rest)
    elif cmd in ("env", "label"):
        args = _name_val(rest, cmd.upper(), d.escape)
    elif cmd == "arg":
        args = _parse_words(rest, d.escape)
    elif cmd in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    elif cmd == "healthcheck":
        args, is_json = _health(rest)
    elif cmd == "onbuild":
        args = [_node_from_line(rest, d)] if rest else []
    else:
        args = []  # unknown: kept, rejected when instructions are built (with the line)
    return Node(cmd, flags, args, is_json, original=line)


def _can_contain_heredoc(node: Node) -> bool:
    if node.cmd == "onbuild" and node.args and isinstance(node.args[0], Node):
        node = node.args[0]
    return node.cmd in HEREDOC_INSTRUCTIONS and not node.json


def _heredocs_in(line: str) -> list[Heredoc]:
    raw = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = raw.process_words(line, {})
    except ShellSyntaxError:
        return []
    docs = []
    for w in words:
        m = _RE_HEREDOC.match(w)
        if not m or not m.group(3):
            continue
        plain = Lex("\\", skip_unset_env=True).process_words(m.group(3), {})
        if len(plain) != 1:
            continue
        quoted = Lex("\\", raw_quotes=True, skip_unset_env=True).process_words(m.group(3), {})
        count = lambda s: s.count("'") + s.count('"')  # noqa: E731
        docs.append(Heredoc(plain[0], int(m.group(1) or 0), count(plain[0]) == count(quoted[0]),
                            m.group(2) == "-"))
    return docs


def parse(text: str, filename: str = "Dockerfile") -> Result:
    d = _Directives()
    lines = _lines(text)
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    i = 0
    current = 0

    def fail(msg, line):
        raise DockerfileSyntaxError(msg, line, filename)

    while i < len(lines):
        raw = lines[i]
        i += 1
        if current == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        if _is_comment(raw):
            comments.append(_trim_newline(raw).lstrip()[1:].strip())
        try:
            processed = _process_line(d, raw, True)
        except ValueError as e:
            fail(str(e), current + 1)
        current += 1
        start = current
        line, end_of_line = _trim_continuation(processed, d)
        if end_of_line and line == "":
            continue
        empty_continuation = False
        while not end_of_line and i < len(lines):
            nxt = lines[i]
            i += 1
            try:
                processed = _process_line(d, nxt, False)
            except ValueError as e:
                fail(str(e), current + 1)
            current += 1
            if _is_comment(nxt):
                continue
            if not _trim_newline(processed).strip():
                empty_continuation = True
                continue
            cont, end_of_line = _trim_continuation(processed, d)
            line += cont
        if empty_continuation:
            warnings.append(f"{filename}:{start}: empty continuation line in: {line}")
        try:
            node = _node_from_line(line, d)
        except ValueError as e:
            fail(str(e), start)
        if _can_contain_heredoc(node):
            for doc in _heredocs_in(line):
                terminated = False
                while i < len(lines):
                    body = lines[i]
                    i += 1
                    current += 1
                    candidate = _trim_newline(body)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    doc.content += body
                if not terminated:
                    fail("unterminated heredoc", start)
                node.heredocs.append(doc)
        node.start_line, node.end_line = start, current
        node.comments = comments
        comments = []
        nodes.append(node)
    if not nodes:
        raise DockerfileSyntaxError("file with no instructions", 0, filename)
    return Result(nodes, d.escape, warnings, dict(d.seen))
