"""From an image to a process's root and OCI bundle: the layers stacked with overlayfs, the
/etc files bound over the image's, the image's users resolved, config.json (engine/config.py's)
written. Containers (engine/containers.py) and the builder's RUN steps both go through Bundle,
so the layout and the order of making and undoing are decided once."""

from __future__ import annotations

import os

from runtime import paths
from runtime.engine.config import ETC_FILES
from runtime.errors import PyrunError
from runtime.linux import syscalls as sc

# pyrun-oci's state root for build steps (RUN); every command reaps the orphans there.
BUILD_OCI_ROOT = paths.BUILD_OCI_ROOT


class Bundle:
    """One process's root on the host, laid out alike for a container (kept until rm) and a
    build's RUN step (gone with the step):

        init/          mount points and empty /etc files: a lower layer of their own, so
                       they never end up in the writable layer (Docker's "init layer")
        upper/ work/   the writable layer
        rootfs/        the image's layers, init/ and upper/, overlaid while it runs
        hosts hostname resolv.conf    bound over the process's own (config.etc_mounts)
        bundle/        config.json, for pyrun-oci

    make() → write_etc() → mount() → write_config(); unmount() undoes the mount at any
    point, and again. The network namespace is the caller's: a container's endpoints
    (engine/networking.py) and a step's one attachment differ."""

    def __init__(self, directory: str, layers: list[str] = (), volatile: bool = False):
        self.dir = directory
        self.layers = list(layers)  # the image's layer dirs, lowest first
        # a build step's, and a --rm container's (as podman's and CRI-O's): see
        # mount_overlay
        self.volatile = volatile

    def path(self, *parts) -> str:
        return os.path.join(self.dir, *parts)

    @property
    def rootfs(self) -> str:
        return self.path("rootfs")

    def make(self) -> None:
        for d in ("upper", "work", "rootfs", "bundle", "init/etc", "init/proc", "init/sys",
                  "init/dev"):
            os.makedirs(self.path(d), exist_ok=True)
        for f in ETC_FILES:
            open(self.path("init", "etc", f), "a").close()

    def write_etc(self, hostname: str, hosts: str, resolv: str) -> None:
        for name, text in (("hosts", hosts), ("hostname", hostname + "\n"),
                           ("resolv.conf", resolv)):
            with open(self.path(name), "w") as f:
                f.write(text)

    def mount(self) -> None:
        mount_overlay(self.layers + [self.path("init")], self.rootfs, self.path("upper"),
                      self.path("work"), volatile=self.volatile)

    def write_config(self, config: dict) -> str:
        """config.json into bundle/; the bundle's directory."""
        from runtime import jsonfast as json
        with open(self.path("bundle", "config.json"), "w") as f:
            f.write(json.dumps(config))
        return self.path("bundle")

    def mount_shm(self, size: int) -> None:
        """A /dev/shm of its own on the host (shm/), for --ipc shareable: others bind it."""
        os.makedirs(self.path("shm"), exist_ok=True)
        sc.mount("shm", self.path("shm"), "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                 f"mode=1777,size={size // 1024}k")

    def unmount(self) -> None:
        unmount(self.rootfs)
        if os.path.isdir(self.path("shm")):
            unmount(self.path("shm"))


def host_resolv() -> str:
    """The host's /etc/resolv.conf ("" when it has none)."""
    try:
        with open("/etc/resolv.conf") as f:
            return f.read()
    except OSError:
        return ""


def mount_overlay(lowers: list[str], target: str, upper: str | None = None,
                  work: str | None = None, volatile: bool = False) -> None:
    """Mount the layers (lowest first) at target; with upper/work it is writable.
    overlayfs wants the topmost lower first, and at least two lowers when read-only.
    volatile (a build step's scratch overlay, a --rm container's writable layer): no sync
    reaches the upper filesystem. The unmount does not wait for the writes to reach the
    disk: without it, the last unmount of an overlay syncs the whole filesystem under
    upper/ (the store's), every container's and build's dirty files with it. A crash loses
    what was written, which neither keeps past its end anyway."""
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
        # A volatile mount leaves work/work/incompat/volatile, and overlayfs refuses to
        # mount those dirs again while it is there (an unclean end may have lost writes).
        # Ours was clean: its unmount came before (a restart); after a crash, refresh
        # removes a --rm container before any command could start it.
        left = os.path.join(work, "work", "incompat", "volatile")
        if os.path.isdir(left):
            try:
                os.unlink(os.path.join(left, "dirty"))  # its one file
            except FileNotFoundError:
                pass
            os.rmdir(left)
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


def resolve_user(rootfs: str, user: str, group_add=()) -> tuple[int, int, list[int]]:
    """USER "name[:group]" or "uid[:gid]" → ids, read from the image's /etc/passwd, group;
    group_add's names or gids (--group-add) join the supplementary groups."""
    if not user and not group_add:
        return 0, 0, []
    name, _, group = (user or "0").partition(":")

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
    for g in group_add:
        if not g.isdigit():
            row = next((r for r in groups if r[0] == g), None)
            if row is None:
                raise PyrunError(f"Unable to find group {g}: no matching entries in group file")
        found = int(g) if g.isdigit() else int(row[2])
        if found not in extra:
            extra.append(found)
    return uid, gid, extra
