"""Finding plans to show or diff: a plan JSON file, or (results folder, phase, query, variant)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxbench.errors import UsageError
from ctxbench.results.explain import summarize_plan, summary_of


@dataclass
class PlanRef:
    title: str
    summary: dict[str, Any]
    path: Path
    phase: str | None = None
    query: str | None = None
    variant: str | None = None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def _title(phase: str | None, query: str | None, variant: str | None, path: Path) -> str:
    if query:
        return f"{query}[{variant or 'default'}] · {phase}"
    return path.name


def load_plan_file(path: Path | str) -> PlanRef:
    """A ctxbench plan file (plans/*.json) or raw EXPLAIN (FORMAT JSON) output."""
    path = Path(path)
    data = _read_json(path)
    if isinstance(data, dict) and ("plan" in data or "summary" in data):
        try:
            summary = summary_of(data)
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from exc
        if summary is None:
            raise UsageError(f"{path}: no plan was captured ({data.get('error') or 'empty'})")
        return PlanRef(_title(data.get("phase"), data.get("query"), data.get("variant"), path),
                       summary, path, data.get("phase"), data.get("query"), data.get("variant"))
    try:
        summary = summarize_plan(data)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    return PlanRef(path.name, summary, path)


def _phase_matches(pattern: str | None, phase: str | None) -> bool:
    return pattern is None or phase == pattern or (phase or "").startswith(pattern + ".")


def select_plans(results_dir: Path | str, *, query: str | None = None, phase: str | None = None,
                 variant: str | None = None) -> list[PlanRef]:
    folder = Path(results_dir) / "plans"
    if not Path(results_dir).is_dir():
        raise UsageError(f"{results_dir}: no such results folder or plan file")
    if not folder.is_dir():
        raise UsageError(f"{results_dir}: no plans/ folder (not a ctxbench results folder, or no "
                         "plans were captured)")
    out = []
    for path in sorted(folder.glob("*.json")):
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("role"):
            continue  # tail plans ('tail-N') are read by file name, not selected by group
        if query is not None and data.get("query") != query:
            continue
        if variant is not None and (data.get("variant") or "default") != variant:
            continue
        if not _phase_matches(phase, data.get("phase")):
            continue
        summary = summary_of(data)
        if summary is None:
            continue
        out.append(PlanRef(_title(data.get("phase"), data.get("query"), data.get("variant"), path),
                           summary, path, data.get("phase"), data.get("query"),
                           data.get("variant") or "default"))
    return out


def available(results_dir: Path | str) -> list[str]:
    folder = Path(results_dir) / "plans"
    names = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = _read_json(path)
        if isinstance(data, dict) and data.get("query"):
            names.append(f"{data.get('query')}[{data.get('variant') or 'default'}] "
                         f"phase {data.get('phase')}")
    return names


def one_plan(results_dir: Path | str, *, query: str | None, phase: str | None,
             variant: str | None = None) -> PlanRef:
    """Exactly one plan, or a UsageError that lists what is there."""
    if not query or not phase:
        raise UsageError(f"{results_dir} is a results folder: give --query and --phase to pick "
                         "a plan")
    found = select_plans(results_dir, query=query, phase=phase, variant=variant)
    exact = [p for p in found if p.phase == phase]
    found = exact or found
    if len(found) == 1:
        return found[0]
    have = available(results_dir)
    if not found:
        listing = "; ".join(have[:20]) or "none"
        raise UsageError(f"{results_dir}: no plan for query {query!r} phase {phase!r}"
                         + (f" variant {variant!r}" if variant else "")
                         + f"; available: {listing}")
    listing = "; ".join(p.title for p in found)
    raise UsageError(f"{results_dir}: {len(found)} plans match ({listing}); narrow it with "
                     "--variant or an exact phase")
