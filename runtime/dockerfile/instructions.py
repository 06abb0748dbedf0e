"""Parsed nodes → typed instructions grouped in stages. Pure: no I/O, errors carry the line.

Variables are not expanded here: what a word means depends on the ENV and ARG values in
effect when the step runs, which the builder knows.
"""

from __future__ import annotations

from runtime.dockerfile.parser import DockerfileSyntaxError, Node, parse
from runtime.record import record

KNOWN = {"from", "run", "cmd", "entrypoint", "expose", "env", "arg", "label", "copy", "add",
         "workdir", "user", "volume", "stopsignal", "healthcheck", "shell", "onbuild",
         "maintainer"}
# Flags each instruction accepts (BuildKit's; unknown flags are errors).
FLAGS = {
    "from": {"platform"},
    "copy": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "add": {"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude"},
    "run": {"mount", "network", "security"},
    "healthcheck": {"interval", "timeout", "start-period", "start-interval", "retries"},
}


@record
class Instruction:
    kind: str            # lower-case instruction name
    args: list           # the node's arguments (strings; ONBUILD: the raw trigger text)
    flags: dict          # --name=value
    json: bool           # exec (JSON) form
    line: int
    end_line: int
    original: str        # the instruction as written (continuations joined)
    heredocs: list = list

    def flag(self, name: str, default=None):
        return self.flags.get(name, default)


@record
class Stage:
    base: str            # FROM's image reference (unexpanded), or "scratch"
    name: str | None     # AS name
    index: int
    line: int
    platform: str | None = None
    instructions: list = list


@record
class Dockerfile:
    stages: list
    meta_args: list      # ARG instructions before the first FROM
    escape: str
    filename: str = "Dockerfile"

    def stage(self, target: str | None) -> int:
        """Index of the stage to build: --target by name (or number), else the last."""
        if target is None:
            return len(self.stages) - 1
        for s in self.stages:
            if s.name == target.lower() or str(s.index) == target:
                return s.index
        raise DockerfileSyntaxError(f"target stage {target!r} could not be found", 0,
                                    self.filename)


def _flags(node: Node, filename: str) -> dict:
    out = {}
    allowed = FLAGS.get(node.cmd, set())
    for f in node.flags:
        name, eq, value = f[2:].partition("=")
        if name not in allowed:
            raise DockerfileSyntaxError(f"unknown flag: --{name}", node.start_line, filename)
        out[name] = value if eq else "true"
    return out


def to_instruction(node: Node, filename: str) -> Instruction:
    if node.cmd not in KNOWN:
        raise DockerfileSyntaxError(f"unknown instruction: {node.original.split()[0].upper()}",
                                    node.start_line, filename)
    args = node.args
    if node.cmd == "onbuild":
        if not args:
            raise DockerfileSyntaxError("ONBUILD requires at least one argument",
                                        node.start_line, filename)
        trigger = node.original.strip().split(None, 1)[1]
        sub = args[0]
        if sub.cmd in ("onbuild", "from", "maintainer"):
            raise DockerfileSyntaxError(f"{sub.cmd.upper()} isn't allowed as an ONBUILD trigger",
                                        node.start_line, filename)
        args = [trigger]
    return Instruction(kind=node.cmd, args=list(args), flags=_flags(node, filename),
                       json=node.json, line=node.start_line, end_line=node.end_line,
                       original=node.original.strip(), heredocs=list(node.heredocs))


_NEEDS_ARGS = {"from": 1, "run": 1, "copy": 2, "add": 2, "workdir": 1, "user": 1, "expose": 1,
               "env": 1, "label": 1, "arg": 1, "stopsignal": 1, "volume": 1, "shell": 1,
               "maintainer": 1, "healthcheck": 1, "entrypoint": 0, "cmd": 0}


def build(text: str, filename: str = "Dockerfile") -> Dockerfile:
    result = parse(text, filename)
    stages: list[Stage] = []
    meta_args: list[Instruction] = []
    for node in result.nodes:
        ins = to_instruction(node, filename)
        need = _NEEDS_ARGS.get(ins.kind, 0)
        if len(ins.args) < need and not (ins.kind in ("run", "copy", "add") and ins.heredocs):
            what = "at least two arguments" if need == 2 else "at least one argument"
            raise DockerfileSyntaxError(f"{ins.kind.upper()} requires {what}", ins.line,
                                        filename)
        if ins.kind == "shell" and not ins.json:
            raise DockerfileSyntaxError("SHELL requires the arguments to be in JSON form",
                                        ins.line, filename)
        if ins.kind == "from":
            words = ins.args
            name = None
            if len(words) == 3 and words[1].lower() == "as":
                name = words[2].lower()
            elif len(words) != 1:
                raise DockerfileSyntaxError("FROM requires either one or three arguments "
                                            "(FROM image [AS name])", ins.line, filename)
            stages.append(Stage(base=words[0], name=name, index=len(stages), line=ins.line,
                                platform=ins.flag("platform")))
            continue
        if not stages:
            if ins.kind != "arg":
                raise DockerfileSyntaxError(
                    f"no build stage in current context: {ins.kind.upper()} before FROM",
                    ins.line, filename)
            meta_args.append(ins)
            continue
        stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileSyntaxError("no build stage in current context (FROM is missing)", 0,
                                    filename)
    names = [s.name for s in stages if s.name]
    for n in names:
        if names.count(n) > 1:
            raise DockerfileSyntaxError(f"duplicate stage name {n!r}", 0, filename)
    return Dockerfile(stages=stages, meta_args=meta_args, escape=result.escape,
                      filename=filename)
