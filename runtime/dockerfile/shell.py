"""Word splitting and variable expansion of Dockerfile arguments, as BuildKit's shell lexer.

Quotes (' and "), the escape token (\\ or `), $NAME, ${NAME}, ${NAME:-word}, ${NAME-word},
${NAME:+word}, ${NAME+word}, ${NAME:?word}, ${NAME?word}, positional and special parameters
(which are never set in a build). No command substitution: nothing is executed.

    Lex().process_word("${HOME:-/root}/x", {"HOME": ""})   -> "/root/x"
    Lex().process_words("a 'b c' $X", {"X": "d e"})        -> ["a", "b c", "d", "e"]
"""

from __future__ import annotations

from runtime.errors import PyrunError


class ShellSyntaxError(PyrunError):
    pass


_SPECIAL = set("@*#?-$!0")


class _Words:
    """Accumulates the split words alongside the joined result."""

    def __init__(self):
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lex:
    """escape: the escape token; raw_quotes keeps quote characters in the output, raw_escapes
    keeps escape tokens; skip_unset_env leaves $UNSET as written (used to find heredocs)."""

    def __init__(self, escape: str = "\\", raw_quotes=False, raw_escapes=False,
                 skip_unset_env=False):
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: dict[str, str]) -> str:
        return _Scan(self, word, env).run()[0]

    def process_words(self, word: str, env: dict[str, str]) -> list[str]:
        return _Scan(self, word, env).run()[1]


class _Scan:
    def __init__(self, lex: Lex, text: str, env: dict[str, str]):
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.stop_on("")
        except ShellSyntaxError as e:
            raise ShellSyntaxError(f"failed to process {self.text!r}: {e}") from None

    def stop_on(self, stop: str) -> tuple[str, list[str]]:
        result = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.get()
            if ch in "'\"$":
                tmp = {"'": self.single_quote, '"': self.double_quote,
                       "$": self.dollar}[ch]()
                result.append(tmp)
                if ch == "$":
                    words.add_string(tmp)
                else:
                    words.add_raw_string(tmp)
                continue
            ch = self.next()
            if ch == self.lex.escape:
                if self.lex.raw_escapes:
                    words.add_raw_char(ch)
                    result.append(ch)
                ch = self.next()
                if not ch:
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise ShellSyntaxError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        opening = self.next()
        out = [opening] if self.lex.raw_quotes else []
        while True:
            ch = self.next()
            if not ch:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        # Literal except $, and the escape token before " $ or itself.
        first = self.next()
        out = [first] if self.lex.raw_quotes else []
        while True:
            ch = self.peek()
            if not ch:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.lex.escape:
                nxt = self.peek()
                if not nxt:
                    continue  # an escape at the very end is dropped
                if nxt in ('"', "$", self.lex.escape):
                    if self.lex.raw_escapes:
                        out.append(ch)
                    ch = self.next()
            out.append(ch)

    def dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            if name not in self.env and self.lex.skip_unset_env:
                return "$" + name
            return self.env.get(name, "")
        self.next()  # the {
        ch = self.peek()
        if not ch:
            raise ShellSyntaxError("syntax error: missing '}'")
        if ch in "{}:":
            raise ShellSyntaxError("syntax error: bad substitution")
        name = self.name()
        if not name:
            raise ShellSyntaxError("syntax error: bad substitution")
        ch = self.next()
        is_set = name in self.env
        value = self.env.get(name, "")
        if ch == "}":
            if not is_set and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in "+-?" or not ch:
            if not ch:
                raise ShellSyntaxError("syntax error: missing '}'")
            if colon:
                raise ShellSyntaxError(f"unsupported modifier ({ch}) in substitution")
            raise ShellSyntaxError("missing ':' in substitution")
        try:
            word, _ = self.stop_on("}")
        except ShellSyntaxError:
            if not self.peek():
                raise ShellSyntaxError("syntax error: missing '}'") from None
            raise
        empty = not is_set or (colon and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if empty:  # "?"
            what = "empty" if colon and is_set else "unset"
            raise ShellSyntaxError(f"{name}: {word or f'is not allowed to be {what}'}")
        return value

    def name(self) -> str:
        ch = self.peek()
        if ch.isdigit():
            start = self.pos
            while self.peek().isdigit():
                self.next()
            return self.text[start:self.pos]
        if ch and ch in _SPECIAL:
            return self.next()
        start = self.pos
        while True:
            ch = self.peek()
            if not ch or not (ch.isalnum() or ch == "_"):
                break
            self.next()
        return self.text[start:self.pos]


def env_list_to_dict(env: list[str]) -> dict[str, str]:
    """["K=V", ...] → {K: V}; the first definition of a key wins (BuildKit's buildEnvs)."""
    out: dict[str, str] = {}
    for e in env:
        k, sep, v = e.partition("=")
        out.setdefault(k, v if sep else "")
    return out
