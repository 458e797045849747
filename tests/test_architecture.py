"""The import graph flows one way (README, "Architecture"): a package imports only packages of a
lower rank, or itself; nothing is imported by a name string outside cli/. Checked on the source
(every import, including those inside functions), so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ctxbench"

# rank: a package may import packages of a lower rank only (and itself)
RANKS: dict[str, int] = {
    "__init__": 0, "errors": 0,
    "bounds": 1, "config": 1, "signals": 1, "results": 1, "db": 1, "queries": 1,
    "cache": 2, "datagen": 2,
    "measure": 3,          # phases (a registry), timing, plan capture
    "scenario": 4,         # builds [phases] from measure's registry
    "analysis": 5,         # pure functions of data; reads the phase registry's names
    "load": 6, "vector": 6,  # drivers: measure, may decide online with analysis, never render
    "report": 7,           # one document model, sections in one list, the plot toolkit
    "runs": 8,             # composition: the run lifecycles
    "cli": 9, "__main__": 10,
}

# Edges still being moved out (issue 12); an entry that no longer exists fails the test, so the
# list only shrinks.
PENDING: set[tuple[str, str]] = set()

# Entry points that another program loads by path (Locust's ``-f``): composition, like runs/.
COMPOSITION_FILES = {"load/locustfile.py": "runs"}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return COMPOSITION_FILES.get(rel.as_posix(), rel.parts[0].removesuffix(".py"))


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported ctxbench package, line) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    module_parts = list(path.relative_to(SRC).with_suffix("").parts)
    if module_parts[-1] == "__init__":
        module_parts = module_parts[:-1]
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts if is_pkg else module_parts[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                full = ["ctxbench", *base, *(node.module.split(".") if node.module else [])]
                if not node.module:
                    names = [".".join([*full, a.name]) for a in node.names]
                else:
                    names = [".".join(full)]
            elif node.module:
                names = [node.module]
                if node.module == "ctxbench":
                    names = [f"ctxbench.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ctxbench" and len(parts) > 1:
                out.append((parts[1], node.lineno))
    return out


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        src = _package(path)
        for dst, line in _imports(path):
            if dst != src:
                edges.setdefault((src, dst), []).append(f"{path.relative_to(SRC)}:{line}")
    return edges


def test_every_package_has_a_rank() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")}
    assert packages - set(RANKS) == set(), "give the new package a rank in RANKS and the README"


def test_imports_flow_one_way() -> None:
    edges = _edges()
    upward = {(a, b): where for (a, b), where in edges.items()
              if b in RANKS and a in RANKS and RANKS[b] >= RANKS[a]}
    unexpected = {e: w for e, w in upward.items() if e not in PENDING}
    assert not unexpected, "imports against the rule (package -> package: where):\n" + "\n".join(
        f"{a} -> {b}: {', '.join(w)}" for (a, b), w in sorted(unexpected.items()))
    gone = PENDING - set(upward)
    assert not gone, f"fixed, remove from PENDING: {sorted(gone)}"


def test_no_import_by_name_string_outside_cli() -> None:
    found = []
    for path in SRC.rglob("*.py"):
        if _package(path) == "cli":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                first = node.args[0] if node.args else None
                target = first.value if isinstance(first, ast.Constant) else "?"
                # third-party packages may be located by name (optional extras, wheel binaries)
                if name in ("import_module", "__import__", "find_spec") and (
                        not isinstance(target, str) or target.startswith("ctxbench")):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not found, f"import by name string: {found}"


def test_the_rule_is_checked_on_real_edges() -> None:
    """The checker sees the graph (a checker that parses nothing would pass everything)."""
    edges = _edges()
    assert ("runs", "measure") in edges and ("report", "analysis") in edges
    assert ("analysis", "results") in edges and ("cli", "runs") in edges


def test_phases_are_defined_once_in_the_registry() -> None:
    """The scenario's [phases] tables, the allowed run names, the budget phase names and the CLI's
    list all come from ``measure.phases.REGISTRY``."""
    import dataclasses
    import json

    from typer.testing import CliRunner

    from ctxbench import scenario
    from ctxbench.cli import app
    from ctxbench.measure import phases

    tables = {f.name for f in dataclasses.fields(scenario.PhasesSpec)} - {"run"}
    assert tables == set(phases.NAMES) == set(scenario.PHASES)
    assert set(phases.MEASURED) <= set(scenario.MEASURED_PHASES)
    for phase in phases.REGISTRY:
        default = getattr(scenario.load_text('name = "x"\n', "x.toml").phases, phase.name)
        assert isinstance(default, phase.spec)
    listed = json.loads(CliRunner().invoke(app, ["phases", "--json"]).output)
    assert [r["name"] for r in listed] == list(phases.NAMES)
