"""Golden tests from ../shared/conformance: BuildKit's parser cases and shell-expansion cases,
moby/patternmatcher's .dockerignore cases."""

import json
import subprocess
import sys

import pytest

from runtime.dockerfile import ignore
from runtime.dockerfile.parser import DockerfileSyntaxError, parse
from runtime.dockerfile.shell import Lex, ShellSyntaxError
from tests.conftest import CONFORMANCE, PROJECT, conformance_dir


def _cases(sub: str):
    d = CONFORMANCE / "dockerfile-parser" / sub
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else ["(conformance data absent)"]


@pytest.mark.parametrize("case", _cases("testfiles"))
def test_parser_golden(case):
    d = conformance_dir("dockerfile-parser") / "testfiles" / case
    text = (d / "Dockerfile").read_text(encoding="utf-8")
    assert parse(text).dump() == (d / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", _cases("testfiles-negative"))
def test_parser_rejects(case):
    d = conformance_dir("dockerfile-parser") / "testfiles-negative" / case
    with pytest.raises(DockerfileSyntaxError):
        parse((d / "Dockerfile").read_text(encoding="utf-8"))


def test_parser_reports_start_and_end_lines():
    d = conformance_dir("dockerfile-parser") / "testfile-line"
    nodes = parse((d / "Dockerfile").read_text()).nodes
    assert [(n.start_line, n.end_line) for n in nodes] == [(5, 5), (11, 12), (17, 31)]


def test_module_entry_prints_the_dump():
    d = conformance_dir("dockerfile-parser") / "testfiles" / "json"
    p = subprocess.run([sys.executable, "-m", "runtime.dockerfile", str(d / "Dockerfile")],
                       capture_output=True, text=True, cwd=PROJECT)
    assert p.returncode == 0 and p.stdout == (d / "result").read_text()


ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_cases():
    f = CONFORMANCE / "dockerfile-parser" / "envVarTest"
    if not f.is_file():
        return [("(conformance data absent)", "", "")]
    out = []
    for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("|")
        if len(parts) != 3 or parts[0].strip() == "W":
            continue
        out.append((f"line {n}", parts[1].strip(), parts[2].strip()))
    return out


@pytest.mark.parametrize("where,source,expected", _env_var_cases())
def test_word_expansion_golden(where, source, expected):
    conformance_dir("dockerfile-parser")
    lex = Lex("\\")
    if expected == "error":
        with pytest.raises(ShellSyntaxError):
            lex.process_word(source, ENV)
    else:
        assert lex.process_word(source, ENV) == expected, where


def _ignore():
    f = CONFORMANCE / "dockerignore" / "dockerignore-cases.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _ignore_cases(key):
    data = _ignore()
    return data[key] if data else [{"absent": True}]


@pytest.mark.parametrize("case", _ignore_cases("matches") + _ignore_cases("matches_unix_only"))
def test_dockerignore_matches(case):
    conformance_dir("dockerignore")
    m = ignore.Matcher([case["pattern"]])
    assert m.matches(case["text"]) == case["match"], case


@pytest.mark.parametrize("case", _ignore_cases("multi_pattern_matches"))
def test_dockerignore_exclusions_reinclude(case):
    conformance_dir("dockerignore")
    assert ignore.Matcher(case["patterns"]).matches(case["text"]) == case["match"], case


@pytest.mark.parametrize("case", _ignore_cases("glob_match"))
def test_dockerignore_glob(case):
    conformance_dir("dockerignore")
    if case["bad_pattern"]:
        with pytest.raises(ignore.BadPattern):
            ignore.matches(case["text"], [case["pattern"]])
    else:
        assert ignore.matches(case["text"], [case["pattern"]]) == case["match"], case


@pytest.mark.parametrize("case", _ignore_cases("misc"))
def test_dockerignore_misc(case):
    conformance_dir("dockerignore")
    if case.get("error"):
        with pytest.raises(ignore.BadPattern):
            ignore.matches(case["text"], case["patterns"])
    else:
        assert ignore.matches(case["text"], case["patterns"]) == case["match"], case


@pytest.mark.parametrize("case", _ignore_cases("readall"))
def test_dockerignore_readall(case):
    conformance_dir("dockerignore")
    assert ignore.read(case["content"]) == case["expected"]
