"""runtime/builder without root: a Dockerfile of metadata instructions (nothing to mount or
run) built into a store in a temporary directory: the image's config, its history, the
build cache, build args, and errors that name the Dockerfile's line. RUN, COPY and the
layers are tests/integration/test_build.py's."""

from __future__ import annotations

import io

import pytest

from runtime.builder.builder import Builder, BuildError
from runtime.engine import bundle
from runtime.image.store import Store

DOCKERFILE = """\
FROM scratch
ARG VERSION=1.0
ENV APP_VERSION=$VERSION MODE=prod
LABEL org.example.tier="front end"
EXPOSE 80/udp 8080
USER 1000:1000
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=2 CMD ["/bin/check"]
ENTRYPOINT ["/bin/app"]
CMD ["--serve"]
"""


@pytest.fixture
def store(tmp_path, monkeypatch):
    # a metadata build mounts nothing: no mount namespace of its own needed (nor root)
    monkeypatch.setattr(bundle, "private_mount_namespace", lambda: None)
    return Store(str(tmp_path / "store")).ensure()


def build(store, text=DOCKERFILE, **kw):
    out = io.StringIO()
    image = Builder(store, text, None, out=out, **kw).build()
    return image, out.getvalue()


def test_metadata_becomes_the_image_config(store):
    image, out = build(store, tags=["app:1"], build_args={"VERSION": "2.5"})
    cfg = image.config["config"]
    assert cfg["Env"] == ["APP_VERSION=2.5", "MODE=prod"]
    assert cfg["Labels"] == {"org.example.tier": "front end"}
    assert cfg["ExposedPorts"] == {"80/udp": {}, "8080/tcp": {}}
    assert (cfg["User"], cfg["StopSignal"]) == ("1000:1000", "SIGQUIT")
    assert cfg["Healthcheck"] == {"Test": ["CMD", "/bin/check"], "Interval": 5 * 10**9,
                                  "Retries": 2}
    assert (cfg["Entrypoint"], cfg["Cmd"]) == (["/bin/app"], ["--serve"])
    assert image.diff_ids == []  # metadata makes no layers
    assert [h.get("empty_layer") for h in image.config["history"]] == [True] * 9
    assert out.splitlines()[0] == "Step 1/10 : FROM scratch"
    assert out.splitlines()[-1] == "Successfully tagged app:1"
    assert store.resolve("app:1").id == image.id


def test_an_unchanged_build_comes_from_the_cache_and_an_arg_changes_it(store):
    first, _ = build(store)
    again, out = build(store)
    assert again.id == first.id and out.count(" ---> Using cache") == 9
    other, out = build(store, build_args={"VERSION": "3"})
    assert other.id != first.id and "APP_VERSION=3" in other.config["config"]["Env"]
    nocache, out = build(store, no_cache=True)
    assert "Using cache" not in out


def test_unused_build_args_are_warned_about(store):
    _, out = build(store, build_args={"NOPE": "1"})
    assert "[Warning] One or more build-args ['NOPE'] were not consumed" in out


@pytest.mark.parametrize("text, message", [
    ("FROM scratch\nHEALTHCHECK BOGUS x\n", "Dockerfile:2: HEALTHCHECK: unknown type"),
    ("FROM scratch\n", "the build produced no image"),
    ("FROM scratch\nCMD x\n", None),
])
def test_errors_name_the_line(store, text, message):
    if message is None:
        build(store, text)  # a shell-form CMD on scratch is fine until run
        return
    with pytest.raises(BuildError, match=message):
        build(store, text)


def test_a_bad_network_is_refused_at_once(store):
    with pytest.raises(BuildError, match="--network bogus"):
        Builder(store, DOCKERFILE, None, network="bogus")
