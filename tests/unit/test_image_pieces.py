"""Pure pieces of images and builds: references, instructions, context, output formats."""

import os

import pytest

from runtime.builder.context import Context, ContextError, content_hash
from runtime.cli.format import table
from runtime.units import human_duration, human_size
from runtime.dockerfile.instructions import build
from runtime.dockerfile.parser import DockerfileSyntaxError
from runtime.image import reference


@pytest.mark.parametrize("text,full,familiar", [
    ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
    ("custom-nginx:packaged", "docker.io/library/custom-nginx:packaged",
     "custom-nginx:packaged"),
    ("user/app:1.0", "docker.io/user/app:1.0", "user/app:1.0"),
    ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
    ("ghcr.io/o/r", "ghcr.io/o/r:latest", "ghcr.io/o/r:latest"),
    ("[fd00::1]:5000/a/b", "[fd00::1]:5000/a/b:latest", "[fd00::1]:5000/a/b:latest"),
    ("debian@sha256:" + "a" * 64, "docker.io/library/debian@sha256:" + "a" * 64,
     "debian@sha256:" + "a" * 64),
])
def test_references_normalise_like_docker(text, full, familiar):
    ref = reference.parse(text)
    assert str(ref) == full and ref.familiar() == familiar


@pytest.mark.parametrize("bad", ["", "UPPER", "a:b:c", "name:" + "x" * 200, "a@sha256:xyz",
                                 " spaced", "[fd00::g]:5000/a/b", "[::1]x/a"])
def test_bad_references(bad):
    with pytest.raises(reference.ReferenceError, match="invalid reference format"):
        reference.parse(bad)


# Docker's grammar as regular expressions (distribution/reference): the spec that the
# hand-written checks in reference.py must agree with, string for string.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
GRAMMAR = {
    "path_ok": rf"{_COMPONENT}(?:/{_COMPONENT})*",
    "tag_ok": r"[\w][\w.-]{0,127}",
    "digest_ok": r"sha256:[a-f0-9]{64}",
    "domain_ok": r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                 r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
                 r"|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?",
    "looks_like_id": r"(?:sha256:)?[a-f0-9]{1,64}",
}
ALPHABETS = {"path_ok": "ab9._-/A", "tag_ok": "aZ_9.-é:", "digest_ok": "sha256:0f",
             "domain_ok": "aZ9-.:1/[]fF", "looks_like_id": "af09sha256:g"}
EDGES = ["", "a", "a.b", "a..b", "a__b", "a___b", "a--b", "a-", "-a", "a/b", "a//b", "/a",
         "x" * 128, "x" * 129, "sha256:" + "a" * 64, "sha256:" + "A" * 64, "a" * 64,
         "a" * 65, "localhost:5000", "host:", "h.-a", "é", "_tag", ".tag", "a\n", "[::1]",
         "[fd00::1]:5000", "[]", "[::1]:", "[::1]x", "[::g]", "[::1", "::1", "[::1]]"]


@pytest.mark.parametrize("check", sorted(GRAMMAR))
def test_reference_checks_agree_with_dockers_grammar(check):
    import random
    import re
    rnd = random.Random(check)
    pattern = re.compile(GRAMMAR[check])
    alphabet = ALPHABETS[check]
    samples = EDGES + ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
                       for _ in range(20000)]
    samples += ["sha256:" + "".join(rnd.choice("0123456789abcdefg") for _ in range(64))
                for _ in range(200)]
    fn = getattr(reference, check)
    wrong = [t for t in samples if fn(t) != bool(pattern.fullmatch(t))]
    assert wrong == []


def test_ids_are_recognised():
    assert reference.looks_like_id("3199372aa3fc")
    assert reference.looks_like_id("sha256:" + "0" * 64)
    assert not reference.looks_like_id("nginx")


def test_unknown_instruction_names_file_and_line():
    with pytest.raises(DockerfileSyntaxError) as e:
        build("FROM busybox\n\n# comment\nRUNN echo hi\n")
    assert str(e.value) == "Dockerfile:4: unknown instruction: RUNN"


@pytest.mark.parametrize("text,message", [
    ("RUN echo\n", "Dockerfile:1: no build stage in current context: RUN before FROM"),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a\nCOPY x\n", "Dockerfile:2: COPY requires at least two arguments"),
    ("FROM a\nSHELL bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON"),
    ("FROM a\nCOPY --frm=x a b\n", "Dockerfile:2: unknown flag: --frm"),
    ("FROM a AS x\nFROM b AS x\n", "duplicate stage name 'x'"),
    ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
])
def test_instruction_errors(text, message):
    with pytest.raises(DockerfileSyntaxError, match=message.replace("(", r"\(")):
        build(text)


def test_stages_meta_args_and_target():
    df = build("ARG BASE=busybox\nFROM $BASE AS one\nRUN a\nFROM one\nCOPY --from=one /x /y\n")
    assert [s.name for s in df.stages] == ["one", None]
    assert df.meta_args[0].args == ["BASE=busybox"]
    assert df.stage("one") == 0 and df.stage(None) == 1 and df.stage("1") == 1
    copy = df.stages[1].instructions[0]
    assert copy.flags == {"from": "one"} and copy.args == ["/x", "/y"] and copy.line == 5
    with pytest.raises(DockerfileSyntaxError, match="target stage 'nope'"):
        df.stage("nope")


def test_heredoc_run_keeps_its_body():
    df = build("FROM a\nRUN <<EOF\necho one\necho two\nEOF\nCMD x\n")
    run, cmd = df.stages[0].instructions
    assert run.heredocs[0].content == "echo one\necho two\n"
    assert (run.line, run.end_line, cmd.line) == (2, 5, 6)


def make_context(tmp_path, files: dict, ignore: str = ""):
    for name, body in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body)
    if ignore:
        (tmp_path / ".dockerignore").write_text(ignore)
    return Context(str(tmp_path))


def test_context_selects_with_wildcards_and_ignores(tmp_path):
    ctx = make_context(tmp_path, {"a.txt": "1", "b.txt": "2", "c.md": "3", "dir/x.txt": "4",
                                  "dir/secret.key": "5"}, "*.md\ndir/*.key\n")
    assert ctx.select("*.txt") == ["a.txt", "b.txt"]
    assert [r for r, _ in ctx.walk("dir") if not ctx.excluded(r)] == ["dir", "dir/x.txt"]
    with pytest.raises(ContextError, match="excluded by .dockerignore"):
        ctx.select("c.md")
    with pytest.raises(ContextError, match="outside the build context"):
        ctx.select("../etc/passwd")
    with pytest.raises(ContextError, match="matches nothing"):
        ctx.select("*.zip")


def test_content_hash_follows_bytes_and_modes_not_mtimes(tmp_path):
    ctx = make_context(tmp_path, {"f": "one"})
    h1 = content_hash(ctx, ["f"])
    os.utime(tmp_path / "f", (1, 1))
    assert content_hash(ctx, ["f"]) == h1
    (tmp_path / "f").chmod(0o700)
    h2 = content_hash(ctx, ["f"])
    assert h2 != h1
    (tmp_path / "f").write_text("two")
    assert content_hash(ctx, ["f"]) not in (h1, h2)


@pytest.mark.parametrize("size,text", [(0, "0B"), (999, "999B"), (1000, "1kB"),
                                       (85_234_567, "85.2MB"), (1_980_000, "1.98MB")])
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("secs,text", [(0, "Less than a second"), (1, "1 second"),
                                       (8, "8 seconds"), (70, "About a minute"),
                                       (300, "5 minutes"), (3600, "About an hour"),
                                       (7200, "2 hours"), (3 * 86400, "3 days"),
                                       (15 * 86400, "2 weeks")])
def test_human_duration(secs, text):
    assert human_duration(secs) == text


def test_table_pads_columns():
    assert table([["A", "BB"], ["ccc", "d"]]) == "A     BB\nccc   d\n"


def test_work_dirs_of_dead_processes_are_swept(tmp_path):
    import subprocess
    from runtime.image.store import Store
    store = Store(str(tmp_path / "store")).ensure()
    dead = subprocess.Popen(["true"])
    dead.wait()
    tmp = tmp_path / "store" / "tmp"
    (tmp / f"layer-{dead.pid}-abc" / "dir").mkdir(parents=True)  # a pull killed mid-layer
    (tmp / f"blob-{dead.pid}-xyz").write_text("half a blob")
    (tmp / f"layer-{os.getpid()}-mine").mkdir()  # this process's own: still in use
    (tmp / "someone-elses").mkdir()  # no pid in the name: not ours to judge
    made = store.tmpdir("layer-")
    assert sorted(os.listdir(tmp)) == sorted(
        [os.path.basename(made), f"layer-{os.getpid()}-mine", "someone-elses"])
    assert os.path.basename(made).startswith(f"layer-{os.getpid()}-")


def test_old_trash_of_removed_containers_is_swept(tmp_path, monkeypatch):
    """remove_files() renames a container's directory to the trash and deletes it in the
    background; what a crash left there goes at the next command, once a minute old."""
    import time

    from runtime.engine import containers as cmod
    from runtime.engine import repair
    from runtime.image.store import Store
    store = Store(str(tmp_path))
    trash = tmp_path / "containers" / (cmod.TRASH + "ab" * 32)
    (trash / "upper" / "etc").mkdir(parents=True)
    (trash / "container.json").write_text("{}")
    assert cmod.all_ids(store) == []  # trash is no container
    repair.refresh(store)
    assert trash.exists()  # young: a background deletion may be at it
    real = time.time
    monkeypatch.setattr(repair.time, "time", lambda: real() + 61)
    repair.refresh(store)
    assert not trash.exists()
