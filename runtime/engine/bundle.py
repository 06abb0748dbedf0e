"""From an image to an OCI bundle: the layers stacked with overlayfs, a config.json.

Used by the builder's RUN steps today, and by `pyrun run` (the engine) next.
"""

from __future__ import annotations

import os

from runtime.errors import PyrunError
from runtime.linux import syscalls as sc

# Docker's default capability set for containers.
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# pyrun-oci's state root for build steps (RUN); every command reaps the orphans there.
BUILD_OCI_ROOT = "/run/pyrun-build"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def mount_overlay(lowers: list[str], target: str, upper: str | None = None,
                  work: str | None = None, volatile: bool = False) -> None:
    """Mount the layers (lowest first) at target; with upper/work it is writable.
    overlayfs wants the topmost lower first, and at least two lowers when read-only.
    volatile (a build step's scratch overlay): no sync reaches the upper filesystem, so the
    unmount does not wait for the step's writes to reach the disk; a crash loses the step,
    which is then simply run again."""
    lowers = list(reversed(lowers))
    if upper is None and len(lowers) < 2:
        empty = target + ".empty"
        os.makedirs(empty, exist_ok=True)
        lowers.append(empty)
    if not lowers:
        empty = target + ".empty"
        os.makedirs(empty, exist_ok=True)
        lowers = [empty]
    opts = "lowerdir=" + ":".join(lowers)
    if upper is not None:
        opts += f",upperdir={upper},workdir={work}"
    if len(opts) > 4000:
        raise PyrunError(f"too many layers for one overlay mount ({len(lowers)})")
    # No redirect_dir/index: an upper dir must mean the same thing once packed as a layer.
    tries = [opts + ",redirect_dir=off,index=off", opts]
    if volatile and upper is not None:
        tries.insert(0, tries[0] + ",volatile")  # kernel 5.10 and later
    for i, o in enumerate(tries):
        try:
            sc.mount("overlay", target, "overlay", 0, o)
            return
        except OSError:
            if i == len(tries) - 1:
                raise


def unmount(target: str) -> None:
    try:
        sc.umount2(target, sc.MNT_DETACH)
    except OSError:
        pass


def private_mount_namespace() -> None:
    """Move this process into a mount namespace of its own, so that every mount it makes
    disappears with it, even if it is killed."""
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)


def resolve_user(rootfs: str, user: str) -> tuple[int, int, list[int]]:
    """USER "name[:group]" or "uid[:gid]" → ids, read from the image's /etc/passwd, group."""
    if not user:
        return 0, 0, []
    name, _, group = user.partition(":")

    def table(path):
        rows = []
        try:
            with open(os.path.join(rootfs, path.lstrip("/")), errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) >= 4:
                        rows.append(parts)
        except OSError:
            pass
        return rows

    passwd = table("/etc/passwd")
    uid = gid = None
    if name.isdigit():
        uid = int(name)
        row = next((r for r in passwd if r[2] == name), None)
        gid = int(row[3]) if row else 0
    else:
        row = next((r for r in passwd if r[0] == name), None)
        if row is None:
            raise PyrunError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(row[2]), int(row[3])
    groups = table("/etc/group")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            row = next((r for r in groups if r[0] == group), None)
            if row is None:
                raise PyrunError(f"unable to find group {group}: no matching entries in group file")
            gid = int(row[2])
    extra = [int(r[2]) for r in groups if not name.isdigit() and name in r[3].split(",")]
    return uid, gid, extra


def oci_config(rootfs: str, args: list[str], env: list[str], cwd: str = "/", user: str = "",
               hostname: str = "pyrun", netns: str | None = None,
               cgroups_path: str | None = None,
               extra_mounts: list[dict] | None = None, terminal: bool = False,
               caps: list[str] | None = None, seccomp="default",
               no_new_privileges: bool = False) -> dict:
    """The config.json for running `args` on a prepared rootfs, with Docker's defaults.
    netns: the network namespace to join (made and wired by the caller), or None for the
    host's network. seccomp: "default" (pyrun's profile), a profile (Docker's format or
    OCI), or None for no filter."""
    uid, gid, extra = resolve_user(rootfs, user)
    if not any(e.startswith("PATH=") for e in env):
        env = [DEFAULT_PATH] + list(env)
    caps = DEFAULT_CAPS if caps is None else caps
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if netns is not None:
        namespaces.append({"type": "network", "path": netns})
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    ] + list(extra_mounts or [])
    linux = {"namespaces": namespaces, "cgroupsPath": cgroups_path,
             "resources": {"devices": [{"allow": False, "access": "rwm"}]},
             "maskedPaths": MASKED, "readonlyPaths": READONLY}
    if seccomp is not None:
        from runtime.engine import seccomp_profile
        profile = seccomp_profile.DEFAULT_PROFILE if seccomp == "default" else seccomp
        linux["seccomp"] = seccomp_profile.to_oci(profile, caps)
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": terminal, "user": {"uid": uid, "gid": gid,
                                                   "additionalGids": extra},
                    "args": list(args), "env": list(env), "cwd": cwd or "/",
                    "capabilities": {k: list(caps) for k in ("bounding", "effective",
                                                             "permitted")},
                    "noNewPrivileges": no_new_privileges},
        "root": {"path": rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }
