"""pyrun-oci: runc's command line, as containerd's shim and podman's conmon call it.

Parsed by hand, with Go's flag rules (options stop at the first positional argument, "--name
value" and "--name=value", one or two dashes), because click or argparse would cost more
than a third of the time runc takes for a whole `run` (see scripts/bench).
"""

from __future__ import annotations

import os
import sys

from runtime.errors import PyrunError

B, V, M = "bool", "value", "multi"

GLOBAL = {"root": V, "log": V, "log-format": V, "debug": B, "systemd-cgroup": B,
          "criu": V, "rootless": V, "help": B, "version": B}
ALIASES = {"r": "resources", "b": "bundle", "d": "detach", "t": "tty", "p": "process", "e": "env",
           "u": "user", "f": "force", "a": "all", "s": "signal", "h": "help", "v": "version"}
COMMANDS = {
    "create": {"bundle": V, "pid-file": V, "console-socket": V, "no-pivot": B,
               "no-new-keyring": B, "preserve-fds": V, "pidfd-socket": V},
    "run": {"bundle": V, "pid-file": V, "console-socket": V, "no-pivot": B,
            "no-new-keyring": B, "preserve-fds": V, "detach": B, "keep": B,
            "pidfd-socket": V},
    "start": {},
    "state": {},
    "kill": {"all": B},
    "delete": {"force": B},
    "list": {"format": V, "quiet": B, "q": B},
    "ps": {"format": V, "f": V},
    "exec": {"process": V, "detach": B, "pid-file": V, "tty": B, "console-socket": V,
             "env": M, "cwd": V, "user": V, "cap": M, "no-new-privs": B,
             "preserve-fds": V, "additional-gids": M, "process-label": V,
             "apparmor": V, "ignore-paused": B, "pidfd-socket": V, "cgroup": M},
    "pause": {},
    "resume": {},
    "events": {"stats": B, "interval": V},
    "update": {"resources": V, **{f: V for f in (
        "memory", "memory-reservation", "memory-swap", "kernel-memory", "kernel-memory-tcp",
        "cpu-shares", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime",
        "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight", "l3-cache-schema",
        "mem-bw-schema")}},
    "spec": {"bundle": V, "rootless": B},
    "features": {},
}
USAGE = """usage: pyrun-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND

A runc-compatible OCI runtime. Commands:
  create   --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] [--no-new-keyring] ID
  start    ID                        run the created container's process
  run      --bundle DIR [--detach] [--pid-file F] ID    create + start (+ wait)
  state    ID                        the runtime-spec state as JSON
  kill     [--all] ID [SIGNAL]       default SIGTERM
  delete   [--force] ID
  list     [--format table|json] [-q]
  ps       [--format table|json] ID [ps options]   (default: ps -ef)
  exec     [--process FILE | ID CMD...] [--detach] [--tty] [--pid-file F] ...
  pause    ID / resume ID            freeze / thaw the container's cgroup
  events   [--stats] [--interval 5s] ID   resource usage and OOM kills, as JSON lines
  update   [--resources FILE|-] [--memory N] [--cpu-quota N] ... ID   change its resources
  spec     [--bundle DIR] [--rootless]   write a default config.json
  features                           what this runtime supports, as JSON
"""


class UsageError(PyrunError):
    pass


def parse_options(argv: list[str], table: dict) -> tuple[dict, list[str]]:
    """Go flag semantics: options until the first positional or "--"."""
    opts: dict = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name, eq, value = a.lstrip("-").partition("=")
        name = name if name in table else ALIASES.get(name, name)
        kind = table.get(name)
        if kind is None:
            raise UsageError(f"flag provided but not defined: -{a.lstrip('-')}")
        if kind == B:
            opts[name] = (value.lower() in ("1", "true", "t")) if eq else True
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: {a}")
                value = argv[i]
            if kind == M:
                opts.setdefault(name, []).append(value)
            else:
                opts[name] = value
        i += 1
    return opts, argv[i:]


def _one_id(args: list[str], cmd: str) -> str:
    if len(args) != 1:
        raise UsageError(f'"{cmd}" requires exactly 1 argument (the container id)')
    return args[0]


def dispatch(argv: list[str]) -> int:
    g, rest = parse_options(argv, GLOBAL)
    if g.get("version"):
        print(version_text())
        return 0
    if not rest or g.get("help"):
        sys.stdout.write(USAGE)
        return 0 if g.get("help") else 1
    from runtime.oci import log
    log.configure(g.get("log"), g.get("log-format", "text"), g.get("debug", False))
    from runtime.oci.state import DEFAULT_ROOT
    root = g.get("root") or os.environ.get("PYRUN_OCI_ROOT") or DEFAULT_ROOT
    cmd, args = rest[0], rest[1:]
    if cmd not in COMMANDS:
        raise UsageError(f"no such command: {cmd}")
    if g.get("systemd-cgroup") and cmd in ("create", "run"):
        # Refused, not ignored: a node whose kubelet expects systemd to hold the pods'
        # cgroups would find them elsewhere (`features` says "systemd": false).
        raise PyrunError("--systemd-cgroup: pyrun-oci has no systemd cgroup driver; use "
                         "cgroupfs (containerd: SystemdCgroup = false)")
    if cmd in ("create", "run", "exec"):
        from runtime.linux import cgroups
        cgroups.start_warm_up()  # overlaps a kernel grace period with the imports below
    o, args = parse_options(args, dict(COMMANDS[cmd], help=B))
    if o.get("help"):  # `runc CMD -h` exits 0 with the command's usage
        lines = USAGE.splitlines()
        sys.stdout.write(next((ln for ln in lines if ln.strip().startswith(cmd + " ")),
                              next((ln for ln in lines if f"{cmd} ID" in ln), cmd)) + "\n")
        return 0
    log.trace(f"{cmd}: parsed")

    if cmd == "create":
        from runtime.oci.create import create
        create(root, _one_id(args, cmd), o.get("bundle") or ".", pid_file=o.get("pid-file"),
               console_socket=o.get("console-socket"), no_pivot=o.get("no-pivot", False),
               preserve_fds=int(o.get("preserve-fds", 0)),
               no_new_keyring=o.get("no-new-keyring", False))
        return 0
    if cmd == "run":
        from runtime.oci.create import run
        return run(root, _one_id(args, cmd), o.get("bundle") or ".",
                   detach=o.get("detach", False), pid_file=o.get("pid-file"),
                   console_socket=o.get("console-socket"), no_pivot=o.get("no-pivot", False),
                   preserve_fds=int(o.get("preserve-fds", 0)), keep=o.get("keep", False),
                   no_new_keyring=o.get("no-new-keyring", False))
    if cmd == "start":
        from runtime.oci.start import start
        start(root, _one_id(args, cmd))
        return 0
    if cmd == "state":
        from runtime.oci.query import state_json
        print(state_json(root, _one_id(args, cmd)))
        return 0
    if cmd == "kill":
        from runtime.oci.kill import kill, parse_signal
        if not 1 <= len(args) <= 2:
            raise UsageError('"kill" requires 1 or 2 arguments (ID [SIGNAL])')
        kill(root, args[0], parse_signal(args[1] if len(args) == 2 else "SIGTERM"),
             all_processes=o.get("all", False))
        return 0
    if cmd == "delete":
        from runtime.oci.delete import delete
        from runtime.errors import ContainerNotFound
        try:
            delete(root, _one_id(args, cmd), force=o.get("force", False))
        except ContainerNotFound:
            if not o.get("force"):
                raise
        return 0
    if cmd == "list":
        from runtime.oci.query import list_containers
        sys.stdout.write(list_containers(root, o.get("format", "table"),
                                         o.get("quiet", False) or o.get("q", False)))
        return 0
    if cmd == "ps":
        from runtime.oci.query import ps
        if not args:
            raise UsageError('"ps" requires the container id')
        sys.stdout.write(ps(root, args[0], o.get("format") or o.get("f") or "table",
                            args[1:]))
        return 0
    if cmd in ("pause", "resume"):
        from runtime.oci import pause as p
        getattr(p, cmd)(root, _one_id(args, cmd))
        return 0
    if cmd == "spec":
        from runtime.oci.query import write_spec
        write_spec(o.get("bundle") or ".", o.get("rootless", False))
        return 0
    if cmd == "features":
        import json
        from runtime.oci.query import features
        print(json.dumps(features(), indent=2))
        return 0
    if cmd == "exec":
        try:
            return _exec(root, o, args)
        except PyrunError as e:
            # runc's exit code when the process could not be started (a paused container,
            # a --pid-file in a missing directory): 255, told from the process's own codes.
            _report(str(e))
            return 255
    if cmd == "events":
        from runtime.oci.events import events, parse_interval
        interval = parse_interval(o.get("interval", "5s"))
        events(root, _one_id(args, cmd), only_stats=o.get("stats", False), interval=interval)
        return 0
    if cmd == "update":
        from runtime.oci.update import resources_from, update
        update(root, _one_id(args, cmd), resources_from(o, sys.stdin))
        return 0
    raise UsageError(f"no such command: {cmd}")  # pragma: no cover - table and code agree


def version_text() -> str:
    """runc -v's lines, for pyrun-oci."""
    from runtime import __version__
    lines = [f"pyrun-oci version {__version__}", "commit: none", "spec: 1.0.2",
             f"python: {sys.version.split()[0]}"]
    try:
        from runtime import _seccomp
        v = _seccomp.lib.seccomp_version()
        lines.append(f"libseccomp: {v.major}.{v.minor}.{v.micro}")
    except ImportError:
        pass
    return "\n".join(lines)


def _exec(root: str, o: dict, args: list[str]) -> int:
    import json

    from runtime.oci.exec import exec_process, process_from_args
    from runtime.oci.spec import parse_process
    from runtime.oci.state import State
    if not args:
        raise UsageError('"exec" requires the container id')
    cid, cmd = args[0], args[1:]
    if o.get("process"):
        try:
            with open(o["process"], "rb") as f:
                proc = parse_process(json.load(f))
        except OSError as e:
            raise PyrunError(f"--process {o['process']}: {e.strerror}") from None
        except ValueError as e:
            raise PyrunError(f"--process {o['process']}: not valid JSON: {e}") from None
    else:
        if not cmd:
            raise UsageError('"exec" needs a command, or --process FILE')
        proc = process_from_args(State.load(root, cid), cmd, env=o.get("env", []),
                                 cwd=o.get("cwd"), user=o.get("user"),
                                 tty=o.get("tty", False), caps=o.get("cap", []),
                                 no_new_privs=o.get("no-new-privs"),
                                 additional_gids=o.get("additional-gids", []))
    return exec_process(root, cid, proc, detach=o.get("detach", False),
                        pid_file=o.get("pid-file"), console_socket=o.get("console-socket"),
                        preserve_fds=int(o.get("preserve-fds", 0)),
                        sub_cgroups=parse_sub_cgroups(o.get("cgroup", [])),
                        ignore_paused=o.get("ignore-paused", False))


def parse_sub_cgroups(values: list[str]) -> dict[str, str]:
    """exec --cgroup: "PATH" (every controller) or "CTRL[,CTRL]:PATH", repeatable; PATH is
    under the container's own cgroup."""
    out: dict[str, str] = {}
    for v in values:
        ctrls, _, path = v.rpartition(":")
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise UsageError(f"--cgroup {v}: a path under the container's cgroup, as "
                             "[CONTROLLER[,CONTROLLER]:]PATH")
        for c in ctrls.split(",") if ctrls else [""]:
            out[c] = path
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = dispatch(argv)
    except PyrunError as e:
        _report(str(e))
        code = 1
    except OSError as e:
        _report(str(e) if e.strerror and e.strerror in str(e) else f"{e.strerror}: {e}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    try:
        sys.stdout.flush()
    except OSError:
        pass  # stdout closed or unwritable: the exit code still tells
    return code


def _report(msg: str) -> None:
    from runtime.oci import log
    try:
        log.error(msg)
    except OSError:
        pass  # the log went away meanwhile: stderr still says it
    if log._path:  # containerd reads the log; a person at a terminal reads stderr
        log.to_stderr(f"pyrun-oci: {msg}")


def launch() -> None:
    """The `pyrun-oci` command (native/pyrun_launch.c runs this). Skips the interpreter's
    teardown (module cleanup, a last GC): nothing is left to flush, and every command, a
    container start included, ends sooner."""
    import os
    sys.argv[0] = "pyrun-oci"  # not "-c"
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
