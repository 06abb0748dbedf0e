"""config.json (OCI runtime-spec, Linux) → typed, validated objects.

Pure: no I/O beyond reading the one file in ``load``. Every error names the JSON path of the
offending field ("process.args: must be a non-empty list of strings"), so a user can find it.
"""

from __future__ import annotations

import os

from runtime import jsonfast as json
from runtime.errors import ConfigError
from runtime.linux import syscalls as sc
from runtime.linux.names import CAPABILITY_NAMES, PROPAGATION_FLAGS
from runtime.record import record

OCI_VERSION = "1.0.2"

NAMESPACE_FLAGS = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
# The name of each namespace under /proc/PID/ns/.
NAMESPACE_PROC_NAMES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}
# The order in which namespaces are joined or made: the user namespace first, so the others are
# owned by it; mount late, because joining it changes what paths mean.
NAMESPACE_ORDER = ("user", "ipc", "uts", "network", "pid", "time", "cgroup", "mount")

# option → (flags to clear, flags to set); "rec" options are handled as MS_REC on top.
MOUNT_FLAGS = {
    "ro": (0, sc.MS_RDONLY), "rw": (sc.MS_RDONLY, 0),
    "nosuid": (0, sc.MS_NOSUID), "suid": (sc.MS_NOSUID, 0),
    "nodev": (0, sc.MS_NODEV), "dev": (sc.MS_NODEV, 0),
    "noexec": (0, sc.MS_NOEXEC), "exec": (sc.MS_NOEXEC, 0),
    "sync": (0, sc.MS_SYNCHRONOUS), "async": (sc.MS_SYNCHRONOUS, 0),
    "dirsync": (0, sc.MS_DIRSYNC),
    "remount": (0, sc.MS_REMOUNT),
    "mand": (0, sc.MS_MANDLOCK), "nomand": (sc.MS_MANDLOCK, 0),
    "atime": (sc.MS_NOATIME, 0), "noatime": (0, sc.MS_NOATIME),
    "diratime": (sc.MS_NODIRATIME, 0), "nodiratime": (0, sc.MS_NODIRATIME),
    "relatime": (0, sc.MS_RELATIME), "norelatime": (sc.MS_RELATIME, 0),
    "strictatime": (0, sc.MS_STRICTATIME), "nostrictatime": (sc.MS_STRICTATIME, 0),
    "lazytime": (0, sc.MS_LAZYTIME), "nolazytime": (sc.MS_LAZYTIME, 0),
    "nosymfollow": (0, sc.MS_NOSYMFOLLOW), "symfollow": (sc.MS_NOSYMFOLLOW, 0),
    "bind": (0, sc.MS_BIND), "rbind": (0, sc.MS_BIND | sc.MS_REC),
}
# Options that a runtime acts on itself, not the kernel (crun/runc extensions).
RUNTIME_OPTIONS = {"tmpcopyup", "copy-symlink", "idmap", "ridmap", "rro", "rrw"}

CAPABILITY_NUMBERS = {name: i for i, name in enumerate(CAPABILITY_NAMES)}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

# linux.seccomp's vocabulary (runtime-spec defs-linux.json). What each means to the kernel is
# runtime/linux/seccomp.py's business; here they are only names to check.
SECCOMP_ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                   "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                   "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
SECCOMP_OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                     "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
                  "SCMP_ARCH_AARCH64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
                  "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
                  "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
                  "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
                  "SCMP_ARCH_S390X", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB", "SCMP_ARCH_PARISC",
                  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64")
SECCOMP_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")

HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


@record
class Mount:
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] = list
    flags: int = 0           # mount(2) flags from options
    clear_flags: int = 0     # flags an option explicitly turned off (for remounts)
    propagation: list[int] = list  # applied after the mount, in order
    data: str = ""           # options the kernel's filesystem takes as its data string

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)


@record
class Namespace:
    type: str
    path: str | None = None


@record
class IdMapping:
    container_id: int
    host_id: int
    size: int


@record
class Device:
    path: str
    type: str
    major: int
    minor: int
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@record
class Hook:
    path: str
    args: list[str] = list
    env: list[str] = list
    timeout: int | None = None


@record
class Capabilities:
    bounding: list[int] = list
    effective: list[int] = list
    inheritable: list[int] = list
    permitted: list[int] = list
    ambient: list[int] = list


@record
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] = list


@record
class Process:
    args: list[str]
    env: list[str] = list
    cwd: str = "/"
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    user: User = User
    capabilities: Capabilities | None = None
    rlimits: list[tuple[int, int, int]] = list  # (resource, soft, hard)
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    selinux_label: str | None = None
    oom_score_adj: int | None = None


@record
class SeccompArg:
    index: int
    value: int
    op: str
    value_two: int = 0


@record
class SeccompRule:
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[SeccompArg] = list


@record
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] = list
    flags: list[str] = list
    listener_path: str | None = None
    listener_metadata: str = ""
    syscalls: list[SeccompRule] = list

    @property
    def notifies(self) -> bool:
        return self.default_action == "SCMP_ACT_NOTIFY" or any(
            r.action == "SCMP_ACT_NOTIFY" for r in self.syscalls)


@record
class Linux:
    namespaces: list[Namespace] = list
    uid_mappings: list[IdMapping] = list
    gid_mappings: list[IdMapping] = list
    devices: list[Device] = list
    cgroups_path: str | None = None
    resources: dict = dict
    rootfs_propagation: str | None = None
    masked_paths: list[str] = list
    readonly_paths: list[str] = list
    sysctl: dict[str, str] = dict
    mount_label: str | None = None
    seccomp: Seccomp | None = None

    def namespace(self, kind: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == kind:
                return ns
        return None


@record
class Spec:
    oci_version: str
    root_path: str
    root_readonly: bool
    process: Process | None
    mounts: list[Mount]
    linux: Linux
    hostname: str | None = None
    domainname: str | None = None
    hooks: dict[str, list[Hook]] = dict
    annotations: dict[str, str] = dict


# ---- helpers ---------------------------------------------------------------------------------

def _want(obj, typ, where: str, what: str):
    if not isinstance(obj, typ) or (typ is int and isinstance(obj, bool)):
        raise ConfigError(f"{where}: must be {what}")
    return obj


def _str_list(obj, where: str) -> list[str]:
    if obj is None:
        return []
    if not isinstance(obj, list) or not all(isinstance(x, str) for x in obj):
        raise ConfigError(f"{where}: must be a list of strings")
    return list(obj)


def _int(obj, where: str, default=None):
    if obj is None:
        return default
    return _want(obj, int, where, "an integer")


def parse_mount_options(options: list[str]) -> tuple[int, int, list[int], str]:
    """Split a mount's options into (flags, cleared flags, propagation steps, data string)."""
    flags = clear = 0
    propagation: list[int] = []
    data: list[str] = []
    for opt in options:
        if opt in MOUNT_FLAGS:
            off, on = MOUNT_FLAGS[opt]
            flags = (flags & ~off) | on
            clear = (clear | off) & ~on
        elif opt in PROPAGATION_FLAGS:
            propagation.append(PROPAGATION_FLAGS[opt])
        elif opt in RUNTIME_OPTIONS:
            continue
        else:
            data.append(opt)
    return flags, clear, propagation, ",".join(data)


def parse_capability(name: str, where: str) -> int:
    if not isinstance(name, str) or name.upper() not in CAPABILITY_NUMBERS:
        raise ConfigError(f"{where}: unknown capability {name!r}")
    return CAPABILITY_NUMBERS[name.upper()]


def _parse_mount(raw, where: str) -> Mount:
    _want(raw, dict, where, "an object")
    dest = raw.get("destination")
    if not isinstance(dest, str) or not dest.startswith("/"):
        raise ConfigError(f"{where}.destination: must be an absolute path, got {dest!r}")
    options = _str_list(raw.get("options"), f"{where}.options")
    mtype = raw.get("type")
    flags, clear, propagation, data = parse_mount_options(options)
    if mtype == "bind":  # runc and crun treat type "bind" as a bind mount even without option
        flags |= sc.MS_BIND
    return Mount(destination=os.path.normpath(dest), type=mtype, source=raw.get("source"),
                 options=options, flags=flags, clear_flags=clear, propagation=propagation,
                 data=data)


def _parse_id_mappings(raw, where: str) -> list[IdMapping]:
    out = []
    for i, m in enumerate(raw or []):
        w = f"{where}[{i}]"
        _want(m, dict, w, "an object")
        out.append(IdMapping(_int(m.get("containerID"), f"{w}.containerID", 0),
                             _int(m.get("hostID"), f"{w}.hostID", 0),
                             _int(m.get("size"), f"{w}.size", 0)))
    return out


def _parse_process(raw) -> Process:
    _want(raw, dict, "process", "an object")
    args = raw.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise ConfigError("process.args: must be a non-empty list of strings")
    cwd = raw.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ConfigError(f"process.cwd: must be an absolute path, got {cwd!r}")
    u = raw.get("user") or {}
    _want(u, dict, "process.user", "an object")
    umask = _int(u.get("umask"), "process.user.umask")
    user = User(uid=_int(u.get("uid"), "process.user.uid", 0),
                gid=_int(u.get("gid"), "process.user.gid", 0), umask=umask,
                additional_gids=[_int(g, "process.user.additionalGids")
                                 for g in u.get("additionalGids") or []])
    caps = None
    if raw.get("capabilities") is not None:
        c = _want(raw["capabilities"], dict, "process.capabilities", "an object")
        caps = Capabilities(**{
            k: [parse_capability(n, f"process.capabilities.{k}")
                for n in _str_list(c.get(k), f"process.capabilities.{k}")]
            for k in ("bounding", "effective", "inheritable", "permitted", "ambient")})
    rlimits = []
    for i, r in enumerate(raw.get("rlimits") or []):
        w = f"process.rlimits[{i}]"
        _want(r, dict, w, "an object")
        name = r.get("type")
        if name not in RLIMITS:
            raise ConfigError(f"{w}.type: unknown rlimit {name!r}")
        rlimits.append((RLIMITS[name], _int(r.get("soft"), f"{w}.soft", 0),
                        _int(r.get("hard"), f"{w}.hard", 0)))
    size = raw.get("consoleSize")
    console_size = None
    if isinstance(size, dict):
        console_size = (_int(size.get("height"), "process.consoleSize.height", 0),
                        _int(size.get("width"), "process.consoleSize.width", 0))
    env = _str_list(raw.get("env"), "process.env")
    return Process(args=list(args), env=env, cwd=os.path.normpath(cwd),
                   terminal=bool(raw.get("terminal", False)), console_size=console_size,
                   user=user, capabilities=caps, rlimits=rlimits,
                   no_new_privileges=bool(raw.get("noNewPrivileges", False)),
                   apparmor_profile=raw.get("apparmorProfile") or None,
                   selinux_label=raw.get("selinuxLabel") or None,
                   oom_score_adj=_int(raw.get("oomScoreAdj"), "process.oomScoreAdj"))


def _uint(obj, where: str, bits: int, default=None):
    v = _int(obj, where, default)
    if v is not None and not 0 <= v < 1 << bits:
        raise ConfigError(f"{where}: must be an unsigned {bits}-bit integer, got {v}")
    return v


def _one_of(obj, names, where: str, what: str) -> str:
    if obj not in names:
        raise ConfigError(f"{where}: unknown {what} {obj!r}")
    return obj


def parse_seccomp(raw, where: str = "linux.seccomp") -> Seccomp:
    """linux.seccomp: names checked against the runtime-spec's lists; whether the kernel and
    libseccomp support each is checked when the filter is compiled."""
    _want(raw, dict, where, "an object")
    default = _one_of(raw.get("defaultAction"), SECCOMP_ACTIONS, f"{where}.defaultAction",
                      "action")
    rules = []
    for i, r in enumerate(raw.get("syscalls") or []):
        w = f"{where}.syscalls[{i}]"
        _want(r, dict, w, "an object")
        names = _str_list(r.get("names"), f"{w}.names")
        if not names:
            raise ConfigError(f"{w}.names: must list at least one syscall")
        args = []
        for j, a in enumerate(r.get("args") or []):
            wa = f"{w}.args[{j}]"
            _want(a, dict, wa, "an object")
            index = _uint(a.get("index"), f"{wa}.index", 32)
            if index is None or index > 5:
                raise ConfigError(f"{wa}.index: must be a syscall argument index 0-5")
            value = _uint(a.get("value"), f"{wa}.value", 64)
            if value is None:
                raise ConfigError(f"{wa}.value: missing")
            args.append(SeccompArg(index=index, value=value,
                                   op=_one_of(a.get("op"), SECCOMP_OPERATORS, f"{wa}.op",
                                              "operator"),
                                   value_two=_uint(a.get("valueTwo"), f"{wa}.valueTwo", 64, 0)))
        rules.append(SeccompRule(
            names=names, args=args,
            action=_one_of(r.get("action"), SECCOMP_ACTIONS, f"{w}.action", "action"),
            errno_ret=_uint(r.get("errnoRet"), f"{w}.errnoRet", 16)))
    arches = _str_list(raw.get("architectures"), f"{where}.architectures")
    for i, a in enumerate(arches):
        _one_of(a, SECCOMP_ARCHES, f"{where}.architectures[{i}]", "architecture")
    flags = _str_list(raw.get("flags"), f"{where}.flags")
    for i, f in enumerate(flags):
        _one_of(f, SECCOMP_FLAGS, f"{where}.flags[{i}]", "flag")
    listener = raw.get("listenerPath") or None
    if listener is not None and (not isinstance(listener, str) or not listener.startswith("/")):
        raise ConfigError(f"{where}.listenerPath: must be an absolute path")
    metadata = raw.get("listenerMetadata") or ""
    _want(metadata, str, f"{where}.listenerMetadata", "a string")
    sec = Seccomp(default_action=default,
                  default_errno_ret=_uint(raw.get("defaultErrnoRet"),
                                          f"{where}.defaultErrnoRet", 16),
                  architectures=arches, flags=flags, listener_path=listener,
                  listener_metadata=metadata, syscalls=rules)
    if sec.notifies and listener is None:
        raise ConfigError(f"{where}.listenerPath: SCMP_ACT_NOTIFY needs a listener socket "
                          "to hand the notifications to")
    if sec.default_errno_ret is not None and default not in ("SCMP_ACT_ERRNO",
                                                              "SCMP_ACT_TRACE"):
        raise ConfigError(f"{where}.defaultErrnoRet: only meaningful with defaultAction "
                          f"SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {default}")
    return sec


def _parse_linux(raw) -> Linux:
    raw = raw or {}
    _want(raw, dict, "linux", "an object")
    namespaces, seen = [], {}
    for i, ns in enumerate(raw.get("namespaces") or []):
        w = f"linux.namespaces[{i}]"
        _want(ns, dict, w, "an object")
        kind = ns.get("type")
        if kind not in NAMESPACE_FLAGS:
            raise ConfigError(f"{w}.type: unknown namespace type {kind!r}")
        path = ns.get("path") or None
        if path is not None and not path.startswith("/"):
            raise ConfigError(f"{w}.path: must be an absolute path")
        if kind in seen:
            # The same entry twice (a caller adding what the config had) is harmless; two
            # different paths for one kind cannot both be joined.
            if seen[kind] != path:
                raise ConfigError(f"{w}: namespace {kind!r} listed twice, with different "
                                  "paths")
            continue
        seen[kind] = path
        namespaces.append(Namespace(kind, path))
    devices = []
    for i, d in enumerate(raw.get("devices") or []):
        w = f"linux.devices[{i}]"
        _want(d, dict, w, "an object")
        path, dtype = d.get("path"), d.get("type")
        if not isinstance(path, str) or not path.startswith("/dev/"):
            raise ConfigError(f"{w}.path: must be a path under /dev, got {path!r}")
        if dtype not in ("c", "b", "u", "p"):
            raise ConfigError(f"{w}.type: must be one of c, b, u, p, got {dtype!r}")
        devices.append(Device(path=os.path.normpath(path), type=dtype,
                              major=_int(d.get("major"), f"{w}.major", 0),
                              minor=_int(d.get("minor"), f"{w}.minor", 0),
                              file_mode=_int(d.get("fileMode"), f"{w}.fileMode"),
                              uid=_int(d.get("uid"), f"{w}.uid"),
                              gid=_int(d.get("gid"), f"{w}.gid")))
    prop = raw.get("rootfsPropagation") or None
    if prop is not None and prop not in PROPAGATION_FLAGS:
        raise ConfigError(f"linux.rootfsPropagation: unknown propagation {prop!r}")
    sysctl = raw.get("sysctl") or {}
    _want(sysctl, dict, "linux.sysctl", "an object")
    resources = raw.get("resources") or {}
    _want(resources, dict, "linux.resources", "an object")
    linux = Linux(namespaces=namespaces,
                  uid_mappings=_parse_id_mappings(raw.get("uidMappings"), "linux.uidMappings"),
                  gid_mappings=_parse_id_mappings(raw.get("gidMappings"), "linux.gidMappings"),
                  devices=devices, cgroups_path=raw.get("cgroupsPath") or None,
                  resources=resources, rootfs_propagation=prop,
                  masked_paths=_str_list(raw.get("maskedPaths"), "linux.maskedPaths"),
                  readonly_paths=_str_list(raw.get("readonlyPaths"), "linux.readonlyPaths"),
                  sysctl={str(k): str(v) for k, v in sysctl.items()},
                  mount_label=raw.get("mountLabel") or None,
                  seccomp=None if raw.get("seccomp") is None else parse_seccomp(raw["seccomp"]))
    user_ns = linux.namespace("user")
    if (linux.uid_mappings or linux.gid_mappings) and user_ns is None:
        raise ConfigError("linux.uidMappings: id mappings need a user namespace")
    if user_ns is not None and user_ns.path is None and not linux.uid_mappings:
        raise ConfigError("linux.uidMappings: a new user namespace needs uid mappings")
    return linux


def parse_hooks(raw) -> dict[str, list[Hook]]:
    hooks: dict[str, list[Hook]] = {}
    if not raw:
        return hooks
    _want(raw, dict, "hooks", "an object")
    for name, entries in raw.items():
        if name not in HOOK_NAMES:
            raise ConfigError(f"hooks.{name}: unknown hook kind")
        lst = []
        for i, h in enumerate(entries or []):
            w = f"hooks.{name}[{i}]"
            _want(h, dict, w, "an object")
            path = h.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigError(f"{w}.path: must be an absolute path")
            timeout = _int(h.get("timeout"), f"{w}.timeout")
            if timeout is not None and timeout <= 0:
                raise ConfigError(f"{w}.timeout: must be greater than zero")
            lst.append(Hook(path=path, args=_str_list(h.get("args"), f"{w}.args"),
                            env=_str_list(h.get("env"), f"{w}.env"), timeout=timeout))
        hooks[name] = lst
    return hooks


def parse(raw: dict, need_process: bool = True) -> Spec:
    """Validate a decoded config.json and return the typed Spec."""
    _want(raw, dict, "config.json", "a JSON object")
    version = raw.get("ociVersion")
    if not isinstance(version, str) or version.split(".")[0] not in ("0", "1"):
        raise ConfigError(f"ociVersion: unsupported version {version!r} (want 1.x)")
    root = raw.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
        raise ConfigError("root.path: must name the root filesystem")
    process = None
    if raw.get("process") is not None:
        process = _parse_process(raw["process"])
    elif need_process:
        raise ConfigError("process: missing (the container needs a process to run)")
    mounts = [_parse_mount(m, f"mounts[{i}]") for i, m in enumerate(raw.get("mounts") or [])]
    annotations = raw.get("annotations") or {}
    _want(annotations, dict, "annotations", "an object")
    hostname = raw.get("hostname") or None
    linux = _parse_linux(raw.get("linux"))
    if linux.rootfs_propagation in ("shared", "rshared") and any(
            m.destination == "/proc" and m.is_bind for m in mounts):
        # The bind would share the host's /proc peer group: the masks and read-only binds
        # laid over the container's /proc would land on the host's (runc does not check).
        raise ConfigError("linux.rootfsPropagation: shared propagation with a bind at /proc "
                          "would put the container's masks on the host's /proc")
    if hostname and linux.namespace("uts") is None:
        raise ConfigError("hostname: setting a hostname needs a uts namespace")
    return Spec(oci_version=version, root_path=root["path"],
                root_readonly=bool(root.get("readonly", False)), process=process,
                mounts=mounts, linux=linux, hostname=hostname,
                domainname=raw.get("domainname") or None, hooks=parse_hooks(raw.get("hooks")),
                annotations={str(k): str(v) for k, v in annotations.items()})


def load(bundle: str) -> tuple[Spec, dict]:
    """Read BUNDLE/config.json; returns the Spec and the raw document."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle!r} an OCI bundle?)") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    return parse(raw), raw


def parse_process(raw: dict) -> Process:
    """A process.json as given to `exec --process`."""
    return _parse_process(raw)
