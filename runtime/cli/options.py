"""Command options declared once as data: click makes its command from them, and
runtime/cli/fast.py parses their plain spellings without importing click (scripts/bench
imports).

    Option(flags, dest, kind, help, type=None, default=None)

kind: "flag", "value" or "multiple" (repeatable). type: int, float, a tuple of choices, or
"file" (an existing file). parse() answers None wherever click should decide instead: help,
an unknown or malformed option, a missing or ill-typed value, an unusual spelling. So
everything parse() accepts it must read exactly as click would (tests/unit/test_cli_fast.py
holds it to that), and everything else gets click's own message.
"""

from __future__ import annotations

import os


class Option:
    __slots__ = ("flags", "dest", "kind", "help", "type", "default")

    def __init__(self, flags: tuple, dest: str, kind: str, help: str = "", type=None,
                 default=None):
        assert kind in ("flag", "value", "multiple"), kind
        self.flags, self.dest, self.kind, self.help = flags, dest, kind, help
        self.type, self.default = type, default


def defaults(options: list[Option]) -> dict:
    return {o.dest: (() if o.kind == "multiple" else False if o.kind == "flag" else o.default)
            for o in options}


def _convert(o: Option, value: str):
    """value as click would type it; raises ValueError where click would refuse it."""
    if o.type in (int, float):
        return o.type(value)
    if isinstance(o.type, tuple):
        if value not in o.type:
            raise ValueError(value)
        return value
    if o.type == "file" and not os.path.isfile(value):
        raise ValueError(value)
    return value


def parse(options: list[Option], args: list[str], *, interspersed: bool = True):
    """(options as a dict with lists for "multiple", the positional arguments), or None.

    interspersed=False stops at the first positional argument: the rest belongs to it (a
    command line to run in a container, as `docker run IMAGE CMD...`)."""
    by_flag = {flag: o for o in options for flag in o.flags}
    opts = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults(options).items()}
    positional = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            if not interspersed:
                positional += args[i:]
                break
            continue
        if arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            group = [flag]
        else:  # -x, or a cluster of flags such as -it
            flag, eq, value = arg, "", ""
            group = [f"-{ch}" for ch in arg[1:]] if len(arg) > 2 else [arg]
        found = [by_flag.get(f) for f in group]
        if None in found or (len(group) > 1 and any(o.kind != "flag" for o in found)):
            return None  # --help, --, -tNAME, -dp 80, a typo: click's to answer
        o = found[-1]
        if o.kind == "flag":
            if eq:
                return None
            for o in found:
                opts[o.dest] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        try:
            value = _convert(o, value)
        except ValueError:
            return None
        if o.kind == "multiple":
            opts[o.dest].append(value)
        else:
            opts[o.dest] = value
    return opts, positional


def click_options(options: list[Option]):
    """A decorator adding the options to a click command, in their declared order."""
    import click
    types = {int: click.INT, float: click.FLOAT,
             "file": click.Path(exists=True, dir_okay=False)}

    def decorate(f):
        for o in reversed(options):
            if o.kind == "flag":
                f = click.option(*o.flags, o.dest, is_flag=True, help=o.help)(f)
                continue
            kind = click.Choice(list(o.type)) if isinstance(o.type, tuple) else \
                types.get(o.type)
            f = click.option(*o.flags, o.dest, multiple=o.kind == "multiple", help=o.help,
                             type=kind, default=None if o.kind == "multiple" else o.default)(f)
        return f
    return decorate
