"""The README's map, held by a test: which layer may import which, no import circles (lazy
imports inside functions count: they are circles all the same), no private name taken
from another module."""

from __future__ import annotations

import ast
import pathlib

from tests.conftest import PROJECT

PACKAGE = PROJECT / "runtime"

# What each layer may not import. linux/ is the kernel's mechanics, oci/ the runtime over it;
# neither knows the engine's world above (images, networks, containers, the CLI).
ABOVE_OCI = ("runtime.engine", "runtime.cli", "runtime.net", "runtime.image",
             "runtime.builder", "runtime.registry", "runtime.dockerfile", "runtime.api")
FORBIDDEN = {
    "runtime.linux": ("runtime.oci",) + ABOVE_OCI,
    "runtime.oci": ABOVE_OCI,
    "runtime.image": ("runtime.engine", "runtime.cli", "runtime.builder", "runtime.api"),
    "runtime.net": ("runtime.engine", "runtime.cli", "runtime.builder", "runtime.api"),
    # The engine is called by the CLI and the API alike, and knows neither.
    "runtime.engine": ("runtime.cli", "runtime.api"),
    "runtime.api": ("runtime.cli",),
}


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PROJECT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    base = PROJECT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists() or any(
        base.parent.glob(base.name + ".*.so"))


def imports_of(path: pathlib.Path) -> list[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for every import in the file,
    at any depth."""
    out = []
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                if is_module(sub):
                    out.append((sub, None, node.lineno))
                else:
                    out.append((base, a.name, node.lineno))
    return [i for i in out if i[0] == "runtime" or i[0].startswith("runtime.")]


def graph() -> dict[str, list[tuple[str, str | None, int]]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_lower_layers_never_import_upper_ones():
    wrong = []
    for mod, imports in graph().items():
        for layer, banned in FORBIDDEN.items():
            if mod == layer or mod.startswith(layer + "."):
                wrong += [f"{mod}:{line} imports {target}" for target, _, line in imports
                          if target.startswith(banned)]
    assert wrong == []


def test_no_import_circles():
    edges = {mod: {t for t, _, _ in imports if t != mod} for mod, imports in graph().items()}
    # A package's __init__ importing its own modules is no circle of design.
    for mod in edges:
        edges[mod] = {t for t in edges[mod] if not mod.startswith(t + ".")}
    cycles, state = [], {}

    def visit(mod, stack):
        state[mod] = "open"
        stack.append(mod)
        for t in sorted(edges.get(mod, ())):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack)
        stack.pop()
        state[mod] = "done"

    for mod in sorted(edges):
        if mod not in state:
            visit(mod, [])
    assert cycles == []


def test_no_private_name_is_taken_from_another_module():
    wrong = [f"{mod}:{line} takes {target}.{name}" for mod, imports in graph().items()
             for target, name, line in imports
             if name and name.startswith("_") and not name.startswith("__") and target != mod]
    assert wrong == []


def test_the_engine_reaches_the_oci_runtime_through_one_door():
    """runtime/engine/oci.py is the engine's only way to pyrun-oci's verbs (one state root,
    its failures turned into the engine's); the rest of the engine may use the runtime's
    helpers (state identity, signal names, the spec's names), not its verbs."""
    verbs = {"runtime.oci.create", "runtime.oci.start", "runtime.oci.delete",
             "runtime.oci.pause", "runtime.oci.update", "runtime.oci.exec", "runtime.oci.cli",
             "runtime.oci.kill"}
    wrong = [f"{mod}:{line} uses {target}{'.' + name if name else ''}"
             for mod, imports in graph().items()
             if mod.startswith("runtime.engine") and mod != "runtime.engine.oci"
             for target, name, line in imports
             if (target in verbs and name != "parse_signal") or
             (target == "runtime.oci" and name in ("binary", "create", "start", "delete",
                                                   "pause", "update", "exec"))
             or (f"{target}.{name}" in verbs)]
    assert wrong == []
