"""Execute a Dockerfile: each instruction a step, each step an image, a cache between runs.

Every step starts from the previous step's image. It is looked up in the build cache by
(parent image, what the step does[, the bytes it copies]); on a hit nothing runs. Otherwise:
RUN runs in a container of the current image (through pyrun-oci, the same runtime `pyrun
run` uses), COPY/ADD/WORKDIR change the files on an overlay of the current layers, and the
overlay's upper directory becomes the step's layer; the other instructions only change the
config. Each step's image is stored, so the next build finds it.

The whole build runs in a private mount namespace: every mount it makes disappears with the
process, however it ends.
"""

from __future__ import annotations

import hashlib
import os
import sys

from runtime import jsonfast as json
from runtime.builder.context import Context, ContextError, content_hash
from runtime.dockerfile import instructions as ins_mod
from runtime.dockerfile.parser import DockerfileSyntaxError, go_quote
from runtime.dockerfile.shell import Lex, ShellSyntaxError
from runtime.engine import bundle as bundlemod
from runtime.engine.config import RunSpec, etc_mounts, hosts_file, oci_config, resolv_file
from runtime.errors import PyrunError, StatusError
from runtime.image.store import Image, ImageNotFound, Store, new_config
from runtime.linux import rootfs as rfs
from runtime.oci import binary as oci_binary
from runtime.oci.state import OWNER_ANNOTATION, own_identity
from runtime.timestamps import rfc3339

DEFAULT_SHELL = ["/bin/sh", "-c"]
PROXY_ARGS = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}
OCI_ROOT = bundlemod.BUILD_OCI_ROOT


class BuildError(StatusError):
    """exit_code: a failed RUN's code, else 1."""


class _Stage:
    """What a stage carries from step to step."""

    def __init__(self, image: Image | None, config: dict):
        self.image = image
        self.config = config
        self.args: dict[str, str] = {}
        self.cmd_set = False  # CMD set in this stage (ENTRYPOINT clears an inherited one)

    @property
    def env(self) -> dict[str, str]:
        out = {}
        for e in self.config["config"].get("Env") or []:
            k, _, v = e.partition("=")
            out[k] = v
        return out

    def expansion_env(self) -> dict[str, str]:
        return {**self.args, **self.env}

    @property
    def shell(self) -> list[str]:
        return list(self.config["config"].get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.config["config"].get("WorkingDir") or "/"


class Builder:
    def __init__(self, store: Store, dockerfile_text: str, context_dir: str | None, *,
                 dockerfile_name: str = "Dockerfile", tags=(), build_args=None, target=None,
                 no_cache=False, quiet=False, out=None, network="bridge", pull="missing"):
        self.store = store.ensure()
        self.text = dockerfile_text
        self.context = Context(context_dir)
        self.filename = dockerfile_name
        self.tags = list(tags)
        self.build_args = dict(build_args or {})
        self.target = target
        self.no_cache = no_cache
        self.quiet = quiet
        self.network = network
        self.pull = pull  # FROM images: "always" (build --pull) or "missing"
        if network not in ("bridge", "host", "none"):
            raise BuildError(f"--network {network}: use bridge (the default), host or none")
        self.out = out or sys.stdout
        self._work = None
        self.stage_images: dict[str, Image | None] = {}
        self.used_args: set[str] = set()

    # ---- output ---------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def fail(self, ins, message: str, code: int = 1):
        where = f"{self.filename}:{ins.line}: " if ins is not None else ""
        err = BuildError(where + message)
        err.exit_code = code
        raise err

    # ---- the build ------------------------------------------------------------------------
    def build(self) -> Image:
        df = ins_mod.build(self.text, self.filename)
        target = df.stage(self.target)
        stages = df.stages[:target + 1]
        total = sum(1 + len(s.instructions) for s in stages)
        meta = self._meta_args(df)
        bundlemod.private_mount_namespace()
        try:
            n = 0
            image = None
            for stage in stages:
                n += 1
                base = self._expand_word(stage.base, meta, None)
                self.say(f"Step {n}/{total} : FROM {stage.base}"
                         + (f" AS {stage.name}" if stage.name else ""))
                st = self._from(base, stage)
                for ins in self._onbuild_triggers(st):
                    self.say(f" # Executing {len(st.config['config'].get('OnBuild') or [])} "
                             f"build trigger: {ins.original}")
                    self._step(st, ins)
                st.config["config"].pop("OnBuild", None)
                st.args.update({k: v for k, v in meta.items() if k in self._declared_meta})
                for ins in stage.instructions:
                    n += 1
                    self.say(f"Step {n}/{total} : {_display(ins)}")
                    self._step(st, ins)
                image = st.image
                self.stage_images[str(stage.index)] = image
                if stage.name:
                    self.stage_images[stage.name] = image
            if image is None:
                raise BuildError("the build produced no image (FROM scratch with no steps)")
            unused = set(self.build_args) - self.used_args - PROXY_ARGS
            if unused:
                self.say(f"[Warning] One or more build-args {sorted(unused)} were not consumed")
            self.say(f"Successfully built {image.short_id}")
            for t in self.tags:
                self.say(f"Successfully tagged {self.store.tag(image.id, t)}")
            if self.quiet:
                print(image.id, file=self.out)
            return image
        finally:
            if self._work is not None:
                import shutil  # only a build that ran a step has a work dir to remove
                shutil.rmtree(self._work, ignore_errors=True)

    @property
    def work(self) -> str:
        """Scratch space for this build's steps, made on the first cache miss."""
        if self._work is None:
            self._work = self.store.tmpdir("build-")
        return self._work

    def _meta_args(self, df) -> dict[str, str]:
        """ARGs before the first FROM: usable in FROM lines (and re-declared in stages)."""
        values: dict[str, str] = {}
        self._declared_meta = set()
        for ins in df.meta_args:
            for word in ins.args:
                name, eq, default = word.partition("=")
                if name in self.build_args:
                    values[name] = self.build_args[name]
                    self.used_args.add(name)
                elif eq:
                    values[name] = self._expand_word(default, values, ins)
                self._declared_meta.add(name)
        return values

    def _pull(self, base: str) -> bool:
        """Pull a FROM image by the build's policy; True if it did. The registry client is
        imported only here: a build from images at hand never needs it. A Docker Hub name
        is fetched only with `build --pull`: a build is often run where no registry is
        reachable, and its FROM error should say what is missing, not why the Hub is out of
        reach."""
        from runtime.registry import client
        return client.ensure(self.store, base, self.pull, out=None if self.quiet else self.out,
                             docker_hub=self.pull == "always")

    def _from(self, base: str, stage) -> _Stage:
        if base == "scratch":
            self.say(" ---> scratch")
            return _Stage(None, new_config())
        image = self.stage_images.get(base.lower())
        if image is None and base.lower() in self.stage_images:
            return _Stage(None, new_config())
        if image is None:
            if self.pull == "always":
                self._pull(base)
            try:
                image = self.store.resolve(base)
            except ImageNotFound:
                if not (self.pull == "missing" and self._pull(base)):
                    hint = (f" (no registry here: `pyrun image bootstrap {base}` makes "
                            "Debian images)" if base.startswith("debian") else "")
                    raise BuildError(f"{self.filename}:{stage.line}: FROM {base}: image not "
                                     f"found locally{hint}") from None
                image = self.store.resolve(base)
        self.say(f" ---> {image.short_id}")
        cfg = json.loads(json.dumps(image.config))
        return _Stage(image, cfg)

    def _onbuild_triggers(self, st: _Stage):
        out = []
        for trigger in st.config["config"].get("OnBuild") or []:
            df = ins_mod.build("FROM scratch\n" + trigger, f"{self.filename} (ONBUILD)")
            out += df.stages[0].instructions
        return out

    # ---- one step -------------------------------------------------------------------------
    def _step(self, st: _Stage, ins) -> None:
        try:
            getattr(self, "_do_" + ins.kind)(st, ins)
        except (ShellSyntaxError, ContextError, DockerfileSyntaxError) as e:
            self.fail(ins, str(e))

    def _cached(self, st: _Stage, created_by: str, extra: str = "") -> bool:
        """Use the cache if it has this step; True on a hit."""
        parent = st.image.id if st.image else "scratch"
        key = hashlib.sha256(json.dumps([parent, created_by, extra]).encode()).hexdigest()
        self._key = key
        if self.no_cache:
            return False
        hit = self.store.cache_get(key)
        if hit is None:
            return False
        self.say(" ---> Using cache")
        self.say(f" ---> {hit.short_id}")
        st.image = hit
        st.config = json.loads(json.dumps(hit.config))
        return True

    def _commit(self, st: _Stage, created_by: str, diff_id: str | None = None) -> None:
        cfg = json.loads(json.dumps(st.config))
        cfg["created"] = rfc3339()
        entry = {"created": cfg["created"], "created_by": created_by}
        if diff_id is None:
            entry["empty_layer"] = True
        else:
            cfg["rootfs"]["diff_ids"].append(diff_id)
        cfg["history"].append(entry)
        img = self.store.put_image(cfg, parent=st.image.id if st.image else None)
        self.store.cache_put(self._key, img.id)
        st.image = img
        st.config = json.loads(json.dumps(img.config))
        self.say(f" ---> {img.short_id}")

    def _metadata(self, st: _Stage, text: str, change) -> None:
        created_by = f"/bin/sh -c #(nop)  {text}"
        if self._cached(st, created_by):
            return
        change(st.config["config"])
        self._commit(st, created_by)

    # ---- expansion --------------------------------------------------------------------------
    def _expand_word(self, word: str, env: dict, ins) -> str:
        return Lex("\\").process_word(word, env)

    def _expand(self, st: _Stage, word: str) -> str:
        return Lex("\\").process_word(word, st.expansion_env())

    # ---- instructions -------------------------------------------------------------------
    def _do_env(self, st: _Stage, ins) -> None:
        env = st.expansion_env()
        pairs = []
        for i in range(0, len(ins.args), 3):
            key, value = ins.args[i], ins.args[i + 1]
            pairs.append((self._expand_word(key, env, ins), self._expand_word(value, env, ins)))

        def change(c):
            cur = [e for e in c.get("Env") or []]
            for k, v in pairs:
                cur = [e for e in cur if e.partition("=")[0] != k] + [f"{k}={v}"]
            c["Env"] = cur
        self._metadata(st, "ENV " + " ".join(f"{k}={v}" for k, v in pairs), change)

    def _do_arg(self, st: _Stage, ins) -> None:
        for word in ins.args:
            name, eq, default = word.partition("=")
            if name in self.build_args:
                st.args[name] = self.build_args[name]
                self.used_args.add(name)
            elif name in getattr(self, "_declared_meta", ()) and name not in st.args and not eq:
                pass  # a re-declared meta ARG keeps the value given before FROM
            elif eq:
                st.args[name] = self._expand(st, default)
            else:
                st.args.setdefault(name, "")
        self._metadata(st, "ARG " + " ".join(ins.args), lambda c: None)

    def _do_label(self, st: _Stage, ins) -> None:
        env = st.expansion_env()
        pairs = [(self._expand_word(ins.args[i], env, ins),
                  self._expand_word(ins.args[i + 1], env, ins)) for i in range(0, len(ins.args), 3)]

        def change(c):
            labels = dict(c.get("Labels") or {})
            labels.update(pairs)
            c["Labels"] = labels
        self._metadata(st, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs), change)

    def _do_maintainer(self, st: _Stage, ins) -> None:
        st.config["author"] = ins.args[0]  # top-level, so set before the commit copies it
        self._metadata(st, f"MAINTAINER {ins.args[0]}", lambda c: None)

    def _do_expose(self, st: _Stage, ins) -> None:
        ports = []
        for word in ins.args:
            for p in self._expand(st, word).split():
                port, _, proto = p.partition("/")
                proto = (proto or "tcp").lower()
                if not port.replace("-", "").isdigit() or proto not in ("tcp", "udp", "sctp"):
                    self.fail(ins, f"EXPOSE: invalid port {p!r}")
                ports.append(f"{port}/{proto}")

        def change(c):
            exposed = dict(c.get("ExposedPorts") or {})
            exposed.update({p: {} for p in ports})
            c["ExposedPorts"] = exposed
        self._metadata(st, "EXPOSE " + " ".join(ins.args), change)

    def _command(self, st: _Stage, ins) -> list[str]:
        if ins.json:
            return list(ins.args)
        return st.shell + [ins.args[0]] if ins.args else []

    def _do_cmd(self, st: _Stage, ins) -> None:
        cmd = self._command(st, ins)
        st.cmd_set = True
        self._metadata(st, f"CMD {_go_list(cmd)}", lambda c: c.__setitem__("Cmd", cmd))

    def _do_entrypoint(self, st: _Stage, ins) -> None:
        ep = self._command(st, ins)

        def change(c):
            c["Entrypoint"] = ep or None
            if not st.cmd_set:
                c["Cmd"] = None  # an inherited CMD does not survive a new ENTRYPOINT
        self._metadata(st, f"ENTRYPOINT {_go_list(ep)}", change)

    def _do_user(self, st: _Stage, ins) -> None:
        user = self._expand(st, ins.args[0])
        self._metadata(st, f"USER {user}", lambda c: c.__setitem__("User", user))

    def _do_volume(self, st: _Stage, ins) -> None:
        vols = [self._expand(st, v) for v in ins.args]

        def change(c):
            v = dict(c.get("Volumes") or {})
            v.update({p: {} for p in vols})
            c["Volumes"] = v
        self._metadata(st, f"VOLUME {_go_list(vols)}", change)

    def _do_stopsignal(self, st: _Stage, ins) -> None:
        sig = self._expand(st, ins.args[0])
        self._metadata(st, f"STOPSIGNAL {sig}", lambda c: c.__setitem__("StopSignal", sig))

    def _do_shell(self, st: _Stage, ins) -> None:
        sh = list(ins.args)
        self._metadata(st, f"SHELL {_go_list(sh)}", lambda c: c.__setitem__("Shell", sh))

    def _do_onbuild(self, st: _Stage, ins) -> None:
        trigger = ins.args[0]

        def change(c):
            c["OnBuild"] = list(c.get("OnBuild") or []) + [trigger]
        self._metadata(st, f"ONBUILD {trigger}", change)

    def _do_healthcheck(self, st: _Stage, ins) -> None:
        kind = ins.args[0].upper()
        if kind == "NONE":
            test = ["NONE"]
        elif kind == "CMD":
            rest = ins.args[1:]
            test = (["CMD"] + rest) if ins.json else ["CMD-SHELL", rest[0] if rest else ""]
        else:
            self.fail(ins, f"HEALTHCHECK: unknown type {ins.args[0]!r} (CMD or NONE)")
        hc = {"Test": test}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                          ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
            if flag in ins.flags:
                hc[key] = _duration_ns(ins.flags[flag], ins, self)
        if "retries" in ins.flags:
            hc["Retries"] = int(ins.flags["retries"])
        self._metadata(st, f"HEALTHCHECK &{{{_go_list(test)} ...}}",
                       lambda c: c.__setitem__("Healthcheck", hc))

    def _do_workdir(self, st: _Stage, ins) -> None:
        path = self._expand(st, ins.args[0])
        path = os.path.normpath(os.path.join(st.workdir, path))
        created_by = f"/bin/sh -c #(nop) WORKDIR {path}"
        if self._cached(st, created_by):
            return
        st.config["config"]["WorkingDir"] = path

        def change(root_fd):
            os.close(rfs.mkdir_all_in_root(root_fd, path))
        self._commit(st, created_by, self._change_files(st, change))

    def _do_run(self, st: _Stage, ins) -> None:
        if ins.heredocs and not ins.json and ins.args and ins.args[0].strip().startswith("<<"):
            cmd = st.shell + [ins.heredocs[0].content]
        else:
            cmd = self._command(st, ins)
        arg_env = [f"{k}={v}" for k, v in sorted(st.args.items())]
        created_by = " ".join(cmd)
        if arg_env:
            created_by = f"|{len(arg_env)} {' '.join(arg_env)} {created_by}"
        if self._cached(st, created_by):
            return
        cid = "pyrun-build-" + os.urandom(16).hex()
        self.say(f" ---> Running in {cid[len('pyrun-build-'):][:12]}")
        # The same layout and order as a container's (engine/bundle.py), in a scratch
        # directory of the build's, on a volatile overlay.
        b = bundlemod.Bundle(os.path.join(self.work, os.urandom(6).hex()),
                             st.image.layer_dirs if st.image else [], volatile=True)
        b.make()
        b.mount()
        try:
            with self._network(cid) as network:
                env_list = list(st.config["config"].get("Env") or [])
                env = env_list + [e for e in arg_env if e.partition("=")[0] not in st.env]
                hostname = cid[len("pyrun-build-"):][:12]
                b.write_etc(hostname, hosts_file(hostname),
                            resolv_file(bundlemod.host_resolv(),
                                        "host" if network == "host" else "bridge"))
                uid, gid, extra = bundlemod.resolve_user(
                    b.rootfs, st.config["config"].get("User", ""))
                bundle = b.write_config(oci_config(RunSpec(
                    rootfs=b.rootfs, args=cmd, env=env, cwd=st.workdir, uid=uid, gid=gid,
                    additional_gids=extra, hostname=hostname,
                    network=network, cgroups_path=f"/pyrun-build/{cid}",
                    mounts=etc_mounts(b.dir, readonly=True),
                    # The step dies with the build: killed, the build leaves a step that
                    # the next pyrun command removes (oci.delete.reap_orphans).
                    annotations={OWNER_ANNOTATION: "{}:{}".format(*own_identity())})))
                self.out.flush()
                import subprocess
                p = subprocess.run([oci_binary(), "--root", OCI_ROOT, "run", "--bundle",
                                    bundle, cid], stdin=subprocess.DEVNULL,
                                   stdout=self.out if not self.quiet else subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT if not self.quiet
                                   else subprocess.DEVNULL)
        finally:
            b.unmount()
        self.say(f"Removing intermediate container {cid[len('pyrun-build-'):][:12]}")
        if p.returncode != 0:
            code = p.returncode
            self.fail(ins, f"The command '{' '.join(cmd)}' returned a non-zero code: {code}",
                      code)
        self._commit(st, created_by, self._layer_of(b.path("upper")))

    def _do_copy(self, st: _Stage, ins, add: bool = False) -> None:
        words = [self._expand(st, w) for w in ins.args]
        kind = "ADD" if add else "COPY"
        if ins.heredocs:
            dest = words[-1]
            sources = [("heredoc", h.name, h.content) for h in ins.heredocs]
            digest = hashlib.sha256("".join(h.content for h in ins.heredocs).encode()).hexdigest()
        else:
            if len(words) < 2:
                self.fail(ins, f"{kind} requires at least two arguments")
            dest = words[-1]
            src_words = words[:-1]
            from_ref = ins.flag("from")
            if from_ref is not None:
                sources, digest = self._sources_from_image(st, ins, from_ref, src_words)
            else:
                sources, digest = self._sources_from_context(src_words, add)
        if not dest.startswith("/"):
            dest = os.path.join(st.workdir, dest) + ("/" if dest.endswith("/") else "")
        chown = self._expand(st, ins.flag("chown")) if ins.flag("chown") else ""
        chmod = ins.flag("chmod")
        created_by = (f"/bin/sh -c #(nop) {kind} {'multi' if len(sources) > 1 else 'file'}:"
                      f"{digest} in {dest} ")
        extra = f"chown={chown} chmod={chmod}"
        if self._cached(st, created_by, extra):
            return

        def change(root_fd):
            uid, gid = self._owner(st, chown, root_fd)
            mode = int(chmod, 8) if chmod else None
            self._copy_into(root_fd, sources, dest, uid, gid, mode, add)
        try:
            self._commit(st, created_by, self._change_files(st, change))
        finally:
            for m in getattr(self, "_source_mounts", []):
                bundlemod.unmount(m)
            self._source_mounts = []

    def _do_add(self, st: _Stage, ins) -> None:
        self._do_copy(st, ins, add=True)

    def _network(self, cid: str):
        """RUN's network as RunSpec's: the default bridge (NAT out: the namespace's path),
        the host's with --network host, or with --network none one of its own that the
        runtime makes (loopback only)."""
        import contextlib
        if self.network in ("host", "none"):
            return contextlib.nullcontext("host" if self.network == "host" else "new")
        from runtime.net.network import Attached

        @contextlib.contextmanager
        def bridged():
            with Attached(cid[len("pyrun-build-"):]) as a:
                yield a.path
        return bridged()

    # ---- file changes ---------------------------------------------------------------------
    def _new_workdir(self) -> str:
        d = os.path.join(self.work, os.urandom(6).hex())
        for sub in ("merged", "upper", "work"):
            os.makedirs(os.path.join(d, sub))
        return d

    def _change_files(self, st: _Stage, change) -> str | None:
        layers = st.image.layer_dirs if st.image else []
        step = self._new_workdir()
        merged, upper, work = (os.path.join(step, d) for d in ("merged", "upper", "work"))
        bundlemod.mount_overlay(layers, merged, upper, work, volatile=True)
        try:
            root_fd = os.open(merged, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                change(root_fd)
            finally:
                os.close(root_fd)
        finally:
            bundlemod.unmount(merged)
        return self._layer_of(upper)

    def _layer_of(self, upper: str) -> str | None:
        if not os.listdir(upper):
            return None  # nothing changed: an empty_layer history entry
        diff_id, _ = self.store.add_layer_dir(upper, move=True)
        return diff_id

    def _sources_from_context(self, src_words, add):
        sources, hashed = [], []
        for w in src_words:
            if add and w.startswith(("http://", "https://")):
                sources.append(("url", w, None))
                hashed.append(w)
                continue
            for rel in self.context.select(w):
                sources.append(("context", rel, None))
                hashed.append(rel)
        digest = content_hash(self.context, [s[1] for s in sources if s[0] == "context"])
        if any(s[0] == "url" for s in sources):
            digest = hashlib.sha256((digest + " ".join(hashed)).encode()).hexdigest()
        return sources, digest

    def _sources_from_image(self, st, ins, ref, src_words):
        image = self.stage_images.get(ref.lower())
        if image is None:
            try:
                image = self.store.resolve(ref)
            except ImageNotFound:
                self.fail(ins, f"COPY --from={ref}: no stage or image by that name")
        step = self._new_workdir()
        merged = os.path.join(step, "merged")
        bundlemod.mount_overlay(image.layer_dirs, merged)
        self._source_mounts = getattr(self, "_source_mounts", []) + [merged]
        sources = []
        for w in src_words:
            path = os.path.join(merged, w.lstrip("/"))
            if not os.path.lexists(path):
                self.fail(ins, f"COPY --from={ref}: {w}: no such file in that image")
            sources.append(("abs", path, w))
        return sources, hashlib.sha256(f"{image.id} {src_words}".encode()).hexdigest()

    def _owner(self, st: _Stage, chown: str, root_fd: int) -> tuple[int, int]:
        if not chown:
            return 0, 0
        root = os.readlink(f"/proc/self/fd/{root_fd}")
        uid, gid, _ = bundlemod.resolve_user(root, chown)
        return uid, gid

    def _copy_into(self, root_fd: int, sources, dest: str, uid: int, gid: int, mode, add: bool):
        dest_is_dir = dest.endswith("/") or len(sources) > 1
        for kind, name, payload in sources:
            if kind == "heredoc":
                target = dest if not dest_is_dir else os.path.join(dest, name)
                self._write_file(root_fd, target, payload.encode(), uid, gid, mode or 0o644)
                continue
            if kind == "url":
                import urllib.request
                fname = os.path.basename(name.split("?")[0]) or "download"
                with urllib.request.urlopen(name, timeout=60) as r:
                    data = r.read()
                target = os.path.join(dest, fname) if dest_is_dir else dest
                self._write_file(root_fd, target, data, uid, gid, mode or 0o600)
                continue
            src = os.path.join(self.context.root, name) if kind == "context" else name
            rel_src = name if kind == "context" else None
            if add and os.path.isfile(src) and _is_archive(src):
                dir_fd = rfs.mkdir_all_in_root(root_fd, dest)
                try:
                    from runtime.image import layer as layermod
                    with open(src, "rb") as f:
                        layermod.unpack(f, os.readlink(f"/proc/self/fd/{dir_fd}"))
                finally:
                    os.close(dir_fd)
                continue
            if os.path.isdir(src) and not os.path.islink(src):
                self._copy_tree(root_fd, src, dest, rel_src, uid, gid, mode)
            else:
                exists_dir = _is_dir_in_root(root_fd, dest)
                target = os.path.join(dest, os.path.basename(src)) if (dest_is_dir or exists_dir) \
                    else dest
                self._copy_entry(root_fd, src, target, uid, gid, mode)

    def _copy_tree(self, root_fd, src, dest, rel_src, uid, gid, mode):
        os.close(rfs.mkdir_all_in_root(root_fd, dest))
        for dirpath, dirnames, filenames in os.walk(src):
            rel_dir = os.path.relpath(dirpath, src)
            keep = []
            for d in sorted(dirnames):
                rel = os.path.normpath(os.path.join(rel_dir, d))
                ctx_rel = os.path.join(rel_src, rel) if rel_src not in (None, ".") else rel
                if rel_src is not None and self.context.excluded(ctx_rel):
                    continue
                full = os.path.join(dirpath, d)
                if os.path.islink(full):
                    self._copy_entry(root_fd, full, os.path.join(dest, rel), uid, gid, mode)
                    continue
                keep.append(d)
                fd = rfs.mkdir_all_in_root(root_fd, os.path.join(dest, rel))
                try:
                    os.chown(f"/proc/self/fd/{fd}", uid, gid)
                    os.chmod(f"/proc/self/fd/{fd}", mode if mode is not None else
                             os.stat(full).st_mode & 0o7777)
                finally:
                    os.close(fd)
            dirnames[:] = keep
            for fname in sorted(filenames):
                rel = os.path.normpath(os.path.join(rel_dir, fname))
                ctx_rel = os.path.join(rel_src, rel) if rel_src not in (None, ".") else rel
                if rel_src is not None and self.context.excluded(ctx_rel):
                    continue
                self._copy_entry(root_fd, os.path.join(dirpath, fname),
                                 os.path.join(dest, rel), uid, gid, mode)

    def _copy_entry(self, root_fd, src, target, uid, gid, mode):
        parent, name = os.path.split(target.rstrip("/"))
        pfd = rfs.mkdir_all_in_root(root_fd, parent)
        try:
            try:
                os.unlink(name, dir_fd=pfd)
            except (FileNotFoundError, IsADirectoryError):
                pass
            st = os.lstat(src)
            if os.path.islink(src):
                os.symlink(os.readlink(src), name, dir_fd=pfd)
                os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
                return
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                with open(src, "rb") as f:
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        os.write(fd, chunk)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode if mode is not None else st.st_mode & 0o7777)
            finally:
                os.close(fd)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=pfd,
                     follow_symlinks=False)
        finally:
            os.close(pfd)

    def _write_file(self, root_fd, target, data: bytes, uid, gid, mode):
        parent, name = os.path.split(target)
        pfd = rfs.mkdir_all_in_root(root_fd, parent)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                os.write(fd, data)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        finally:
            os.close(pfd)


# ---- helpers -------------------------------------------------------------------------------

def _display(ins) -> str:
    """The step line: the instruction as written, continuations joined."""
    return " ".join(ins.original.split()) if "\n" not in ins.original else ins.original


def _go_list(items) -> str:
    return "[" + " ".join(go_quote(i) for i in items) + "]"


def _duration_ns(text: str, ins, builder) -> int:
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
             "h": 3_600_000_000_000}
    import re
    total = 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        builder.fail(ins, f"HEALTHCHECK: bad duration {text!r}")
    for num, unit in parts:
        total += int(float(num) * units[unit])
    return total


def _is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def _is_dir_in_root(root_fd: int, path: str) -> bool:
    try:
        fd = rfs.open_in_root(root_fd, path)
    except OSError:
        return False
    try:
        import stat
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
