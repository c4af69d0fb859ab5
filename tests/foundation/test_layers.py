"""The house rules of the import graph: core <- stages <- flows, the CLI entry point on top, no cycles.

Read statically (every ``import`` statement, also those inside functions), so a lazy import that breaks
a rule is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAGES = ("crawler", "annotate", "iser_model", "kg_loader")
PACKAGES = ("ddikg", *STAGES, "flows")
TOP_LEVEL_NAMES = (*STAGES, "flows", "benchmarks")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts if parts[0] == "ddikg" else ["ddikg", *parts])


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from ddikg import labels` imports ddikg.labels; `from x import func` imports x.
            out += [f"{node.module}.{a.name}" for a in node.names]
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the ddikg modules (or top-level stage names) it imports."""
    files = [p for top in PACKAGES for p in (REPO / top).rglob("*.py") if not p.is_symlink()
             and not any(part in {"ddikg"} for part in p.relative_to(REPO).parts[1:])]
    graph: dict[str, set[str]] = defaultdict(set)
    for f in files:
        graph[_module_name(f)] |= {i for i in _imports(f) if i.split(".")[0] in ("ddikg", *TOP_LEVEL_NAMES)}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in (*STAGES, "flows"):
        return parts[1]
    return "cli" if module.startswith("ddikg.cli") and not module.startswith("ddikg.cliutil") else "core"


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module an imported dotted name belongs to (``ddikg.jsonl.write_jsonl`` -> ``ddikg.jsonl``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def test_imports_use_the_ddikg_names():
    bad = [(m, i) for m, imps in _graph().items() for i in imps if i.split(".")[0] in TOP_LEVEL_NAMES]
    assert not bad, f"import the stages as ddikg.<stage>, not by their folder names: {bad}"
    # Module names in strings (package resources, `python -m`, Scrapy settings) resolve only in a checkout.
    stages = "|".join(TOP_LEVEL_NAMES[:-1])
    named = re.compile(rf"""files\(["'](?:{stages})[\w.]*["']\)|["'](?:{stages})\.[a-z_]""")
    bad = [(str(p.relative_to(REPO)), m.group(0)) for top in PACKAGES for p in (REPO / top).rglob("*.py")
           if not p.is_symlink() for m in named.finditer(p.read_text("utf-8"))]
    assert not bad, f"name the stages' modules as ddikg.<stage> in strings too: {bad}"


@pytest.mark.parametrize("layer,forbidden", [
    ("core", {*STAGES, "flows", "cli"}),   # the core depends on no stage
    ("crawler", {"flows", "cli"}), ("annotate", {"flows", "cli"}), ("iser_model", {"flows", "cli"}),
    ("kg_loader", {"flows", "cli"}),       # stages never reach up into the orchestration
    ("flows", {"cli"}),                    # the flows never import the entry point back
])
def test_arrows_run_one_way(layer, forbidden):
    graph = _graph()
    modules = set(graph)
    bad = [(m, i) for m, imps in graph.items() if _layer(m) == layer
           for i in imps if (t := _resolve(i, modules)) and _layer(t) in forbidden]
    assert not bad, f"{layer} imports a layer above it: {bad}"


def test_only_the_flows_cli_imports_cli_helpers_in_flows():
    graph = _graph()
    bad = [(m, i) for m, imps in graph.items() if _layer(m) == "flows" and m != "ddikg.flows.cli"
           for i in imps if i.startswith(("ddikg.cliutil", "ddikg.flows.cli"))]
    assert not bad, f"Prefect flows and tasks must not depend on CLI code: {bad}"


def test_no_import_cycles():
    graph = _graph()
    modules = set(graph)
    edges = {m: {t for i in imps if (t := _resolve(i, modules)) and t != m} for m, imps in graph.items()}
    # A package's __init__ imported as a parent is not an edge back; only named modules count.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_layer_rules_see_the_code():
    # Guards the test itself: the graph must cover every stage and know real edges.
    graph = _graph()
    assert {_layer(m) for m in graph} >= {"core", "cli", *STAGES, "flows"}
    assert "ddikg.contracts" in graph["ddikg.jsonl"] or any(i.startswith("ddikg.contracts") for i in graph["ddikg.flows.build_kg"])
