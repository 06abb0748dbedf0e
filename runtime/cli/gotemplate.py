"""The part of Go's text/template that `docker inspect --format` users write.

Actions: {{.A.B}}, {{$v.A}}, {{json .Config}}, {{index .Config.Labels "k"}},
{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}, {{range $k, $v := .X}}, {{if}},
{{with}}, {{else}}, pipes ({{.Name | upper}}), parentheses, {{- and -}} trimming; functions:
Docker's (json, join, split, lower, upper, title, truncate, pad) and Go's (index, len, printf,
print, println, eq, ne, lt, le, gt, ge, and, or, not). Values print as Go's fmt prints the
decoded JSON (maps as map[k:v], lists as [a b], a missing map key as <no value>).
Parse errors and unknown functions raise TemplateError before anything is printed.
"""

from __future__ import annotations

from runtime.errors import PyrunError


class TemplateError(PyrunError):
    pass


class _Missing:
    """A map key that is not there: Go prints "<no value>" and treats it as false."""

    def __str__(self) -> str:
        return "<no value>"


MISSING = _Missing()


# ---- lexing: text and actions -------------------------------------------------------------

def _split(src: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", inner)], with {{- and -}} trimming applied."""
    out: list[tuple[str, str]] = []
    i = 0
    while True:
        j = src.find("{{", i)
        if j < 0:
            out.append(("text", src[i:]))
            return out
        text = src[i:j]
        k = src.find("}}", j + 2)
        if k < 0:
            raise TemplateError(f"template: unclosed action in {src!r}")
        inner = src[j + 2:k]
        if inner.startswith("- "):
            text = text.rstrip()
            inner = inner[2:]
        trim_after = inner.endswith(" -")
        if trim_after:
            inner = inner[:-2]
        out.append(("text", text))
        out.append(("action", inner.strip()))
        i = k + 2
        if trim_after:
            while i < len(src) and src[i] in " \t\r\n":
                i += 1


def _tokens(action: str) -> list[str]:
    toks: list[str] = []
    i, n = 0, len(action)
    while i < n:
        c = action[i]
        if c.isspace():
            i += 1
        elif c in "()|,":
            toks.append(c)
            i += 1
        elif c == ":" and action.startswith(":=", i):
            toks.append(":=")
            i += 2
        elif c == "=":
            toks.append("=")
            i += 1
        elif c in "\"`":
            end = i + 1
            while end < n and action[end] != c:
                end += 2 if action[end] == "\\" and c == '"' else 1
            if end >= n:
                raise TemplateError(f"template: unterminated string in {{{{{action}}}}}")
            toks.append(action[i:end + 1])
            i = end + 1
        else:
            end = i
            while end < n and not action[end].isspace() and action[end] not in "()|,\"`":
                if action.startswith(":=", end):
                    break
                end += 1
            toks.append(action[i:end])
            i = end
    return toks


# ---- parsing ------------------------------------------------------------------------------

class _Parser:
    def __init__(self, toks: list[str], src: str):
        self.toks, self.i, self.src = toks, 0, src

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        t = self.peek()
        if t is None:
            raise TemplateError(f"template: unexpected end of {{{{{self.src}}}}}")
        self.i += 1
        return t

    def pipeline(self) -> list:
        cmds = [self.command()]
        while self.peek() == "|":
            self.take()
            cmds.append(self.command())
        return cmds

    def command(self) -> list:
        args = []
        while self.peek() not in (None, "|", ")"):
            args.append(self.operand())
        if not args:
            raise TemplateError(f"template: missing value in {{{{{self.src}}}}}")
        return args

    def operand(self):
        t = self.take()
        if t == "(":
            inner = self.pipeline()
            if self.take() != ")":
                raise TemplateError(f"template: unclosed parenthesis in {{{{{self.src}}}}}")
            node = ("pipe", inner)
            if self.peek() and self.peek().startswith(".") and self.peek() != ".":
                node = ("fields", node, self.take()[1:].split("."))
            return node
        if t[0] in "\"`":
            return ("const", _unquote(t))
        if t == ".":
            return ("dot",)
        if t.startswith("."):
            return ("fields", ("dot",), t[1:].split("."))
        if t.startswith("$"):
            name, _, rest = t.partition(".")
            node = ("var", name)
            return ("fields", node, rest.split(".")) if rest else node
        if t in ("true", "false"):
            return ("const", t == "true")
        if t == "nil":
            return ("const", None)
        if t[0].isdigit() or (t[0] == "-" and t[1:2].isdigit()):
            try:
                return ("const", float(t) if "." in t or "e" in t else int(t, 0))
            except ValueError:
                raise TemplateError(f"template: bad number {t!r}") from None
        if t.isidentifier():
            if t not in FUNCS:
                raise TemplateError(f'template: function "{t}" not defined')
            return ("func", t)
        raise TemplateError(f"template: unexpected {t!r} in {{{{{self.src}}}}}")


def _unquote(t: str) -> str:
    if t[0] == "`":
        return t[1:-1]
    import json
    try:
        return json.loads(t)
    except ValueError:
        raise TemplateError(f"template: bad string {t}") from None


def _action(inner: str):
    """An action's node: ("pipe", decl, cmds) or a control word."""
    toks = _tokens(inner)
    if not toks:
        raise TemplateError("template: empty action {{}}")
    word = toks[0]
    if word in ("end", "else") and len(toks) == 1:
        return (word,)
    if word in ("range", "if", "with", "else"):
        rest = toks[1:]
        if word == "else":  # {{else if ...}} / {{else with ...}}
            if not rest or rest[0] not in ("if", "with"):
                raise TemplateError(f"template: unexpected {{{{{inner}}}}}")
            return ("else_" + rest[0],) + _decl_pipe(rest[1:], inner)
        return (word,) + _decl_pipe(rest, inner)
    if word in ("define", "template", "block", "break", "continue"):
        raise TemplateError(f'template: "{word}" is not supported here')
    return ("pipe",) + _decl_pipe(toks, inner)


def _decl_pipe(toks: list[str], src: str):
    decl: list[str] = []
    if ":=" in toks or "=" in toks:
        op = ":=" if ":=" in toks else "="
        k = toks.index(op)
        decl = [t for t in toks[:k] if t != ","]
        if not decl or not all(v.startswith("$") for v in decl) or len(decl) > 2:
            raise TemplateError(f"template: bad variable declaration in {{{{{src}}}}}")
        toks = toks[k + 1:]
    p = _Parser(toks, src)
    cmds = p.pipeline()
    if p.peek() is not None:
        raise TemplateError(f"template: unexpected {p.peek()!r} in {{{{{src}}}}}")
    return decl, cmds


def parse(src: str) -> list:
    """The template as a tree: text strings and (kind, decl, cmds, body, else_body) nodes."""
    root: list = []
    stack: list[tuple[list, tuple | None]] = [(root, None)]
    for kind, value in _split(src):
        body = stack[-1][0]
        if kind == "text":
            if value:
                body.append(value)
            continue
        node = _action(value)
        if node[0] in ("range", "if", "with"):
            block = {"kind": node[0], "decl": node[1], "cmds": node[2], "body": [],
                     "else": []}
            body.append(block)
            stack.append((block["body"], block))
        elif node[0] in ("else", "else_if", "else_with"):
            block = stack[-1][1]
            if block is None or stack[-1][0] is block["else"]:
                raise TemplateError("template: unexpected {{else}}")
            stack.pop()
            if node[0] == "else":
                stack.append((block["else"], block))
            else:  # else if: a nested block that shares the outer {{end}}
                inner = {"kind": node[0][5:], "decl": node[1], "cmds": node[2], "body": [],
                         "else": [], "chained": True}
                block["else"].append(inner)
                stack.append((inner["body"], inner))
        elif node[0] == "end":
            if stack[-1][1] is None:
                raise TemplateError("template: unexpected {{end}}")
            stack.pop()  # an {{else if}}'s block took its outer block's place on the stack
        else:
            body.append({"kind": "pipe", "decl": node[1], "cmds": node[2]})
    if len(stack) > 1:
        raise TemplateError(f"template: unexpected EOF: {{{{{stack[-1][1]['kind']}}}}} "
                            "has no {{end}}")
    return root


# ---- execution ----------------------------------------------------------------------------

def _truth(v) -> bool:
    """Go's truth: false, 0, nil, and empty strings, lists and maps are false."""
    if v is None or v is MISSING or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return bool(v)
    return True


def text(v) -> str:
    """Go's %v of a decoded JSON value."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, list):
        return "[" + " ".join(text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{text(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def _field(v, name: str):
    if isinstance(v, dict):
        return v.get(name, MISSING)
    if v is None or v is MISSING:
        raise TemplateError(f"template: nil pointer evaluating .{name}")
    raise TemplateError(f"template: can't evaluate field {name} in type "
                        f"{type(v).__name__}")


def _json(v) -> str:
    import json
    return json.dumps(None if v is MISSING else v, separators=(",", ":"), ensure_ascii=False)


def _index(v, *keys):
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, MISSING)
        elif isinstance(v, (list, str)) and isinstance(k, int):
            if not 0 <= k < len(v):
                raise TemplateError(f"template: index out of range: {k}")
            v = v[k]
        else:
            raise TemplateError(f"template: can't index {text(v)} with {text(k)}")
    return v


def _printf(fmt: str, *args) -> str:
    out, i, a = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            verb = fmt[i + 1]
            i += 2
            if verb == "%":
                out.append("%")
                continue
            arg = args[a] if a < len(args) else MISSING
            a += 1
            out.append(_json(arg) if verb == "q" else text(arg))
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _truncate(s, n):
    s = text(s)
    return s[:int(n)]


def _and(*v):
    for x in v:
        if not _truth(x):
            return x
    return v[-1]


def _or(*v):
    for x in v:
        if _truth(x):
            return x
    return v[-1]


FUNCS = {
    "json": _json,
    "join": lambda v, sep: sep.join(text(x) for x in (v or [])),
    "split": lambda s, sep: text(s).split(sep),
    "lower": lambda s: text(s).lower(),
    "upper": lambda s: text(s).upper(),
    "title": lambda s: text(s).title(),
    "truncate": _truncate,
    "pad": lambda s, left, right: " " * int(left) + text(s) + " " * int(right),
    "index": _index,
    "len": lambda v: len(v) if isinstance(v, (str, list, dict)) else 0,
    "printf": _printf,
    "print": lambda *v: "".join(text(x) for x in v),
    "println": lambda *v: " ".join(text(x) for x in v) + "\n",
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": _and,
    "or": _or,
    "not": lambda v: not _truth(v),
}


class _Run:
    def __init__(self, data):
        self.scopes: list[dict] = [{"$": data}]

    def var(self, name: str):
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise TemplateError(f"template: undefined variable: {name}")

    def operand(self, node, dot):
        kind = node[0]
        if kind == "dot":
            return dot
        if kind == "const":
            return node[1]
        if kind == "var":
            return self.var(node[1])
        if kind == "pipe":
            return self.pipeline(node[1], dot)
        if kind == "fields":
            v = self.operand(node[1], dot)
            for name in node[2]:
                v = _field(v, name)
            return v
        raise TemplateError(f'template: "{node[1]}" is a function, not a value')

    def command(self, args: list, dot, piped):
        head = args[0]
        if head[0] == "func":
            values = [self.operand(a, dot) for a in args[1:]]
            if piped is not _NOTHING:
                values.append(piped)
            try:
                return FUNCS[head[1]](*values)
            except TypeError:
                raise TemplateError(f"template: wrong number of arguments for {head[1]}") \
                    from None
            except (ValueError, AttributeError) as e:
                raise TemplateError(f"template: {head[1]}: {e}") from None
        if len(args) > 1 or piped is not _NOTHING:
            raise TemplateError("template: can't give arguments to a non-function")
        return self.operand(head, dot)

    def pipeline(self, cmds: list, dot):
        v = _NOTHING
        for args in cmds:
            v = self.command(args, dot, v)
        return v

    def run(self, nodes: list, dot, out: list) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
                continue
            kind = node["kind"]
            v = self.pipeline(node["cmds"], dot)
            if kind == "pipe":
                if node["decl"]:
                    self.scopes[-1][node["decl"][0]] = v
                else:
                    out.append(text(v))
            elif kind == "if":
                self.run(node["body"] if _truth(v) else node["else"], dot, out)
            elif kind == "with":
                if _truth(v):
                    self.scoped(node["body"], v, out, dict(zip(node["decl"], [v])))
                else:
                    self.run(node["else"], dot, out)
            else:
                self.range(node, v, dot, out)

    def range(self, node, v, dot, out) -> None:
        if isinstance(v, dict):
            items = [(k, v[k]) for k in sorted(v)]
        elif isinstance(v, list):
            items = list(enumerate(v))
        elif v is None or v is MISSING:
            items = []
        elif isinstance(v, int) and not isinstance(v, bool):
            items = [(i, i) for i in range(v)]
        else:
            raise TemplateError(f"template: range can't iterate over {text(v)}")
        if not items:
            self.run(node["else"], dot, out)
        decl = node["decl"]
        for k, x in items:
            names = {decl[0]: x} if len(decl) == 1 else dict(zip(decl, (k, x)))
            self.scoped(node["body"], x, out, names)

    def scoped(self, body, dot, out, names: dict) -> None:
        self.scopes.append(names)
        try:
            self.run(body, dot, out)
        finally:
            self.scopes.pop()


_NOTHING = object()


def render(src: str, data) -> str:
    """src executed over data (a decoded JSON value)."""
    return execute(parse(src), data)


def execute(tree: list, data) -> str:
    out: list[str] = []
    _Run(data).run(tree, data, out)
    return "".join(out)
