"""History across runs: one series per query × variant × phase (× labels), one point per run.

Each results folder contributes its summary.json (computed from the measurements when the
file is missing or from another schema), so history is a pure function of the folders given.
A point is the estimate of the series' budgeted percentile (p95 unless a budget names another)
with its 95 % interval, the budget, and the fingerprint of the plan captured for the group.
Steps are found with ``changepoint.detect_steps``; a plan change is a fingerprint that differs
from the previous run's.

A series is named by what was measured (query, variant, phase and the labels that say which
measurement it is, e.g. cache or prewarm mode), not by the database's state at the time: the
labels that record a state (``stats``: whether the tables had statistics; ``param_space``:
whether the sampler ran out of distinct parameter sets) can change from one night to the next —
autovacuum analyzes partitions on its own schedule — and are kept per run as the series' state,
with the runs where it changed, instead of splitting the series in two.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxbench.analysis.changepoint import ALPHA, MIN_EFFECT, Step, detect_steps
from ctxbench.analysis.lookup import plan_of
from ctxbench.analysis.summary import SUMMARY_SCHEMA_VERSION, build_summary
from ctxbench.errors import UsageError

DEFAULT_METRIC = "p95"
STATE_LABELS = ("stats", "stats_state", "param_space")  # a state of the run, not a series name


@dataclass
class RunPoint:
    run_id: str
    folder: Path
    started_at: str
    git_sha: str
    verdict: str
    complete: bool
    setup: dict[str, str] = field(default_factory=dict)  # what the run ran on (see run_setup)
    scenario_text: str | None = None  # meta.json's copy of the scenario, when kept

    @property
    def short_sha(self) -> str:
        return (self.git_sha or "")[:7] or "?"


# Server settings that name where the server runs, not how it behaves.
_PLACE_SETTINGS = {"port", "unix_socket_directories", "listen_addresses", "data_directory"}


def run_setup(summary: dict[str, Any]) -> dict[str, str]:
    """The conditions a step may come from, flattened: the code (git sha), the server version
    and its non-default settings, and the dataset's parameters and checksum."""
    run = summary.get("run") or {}
    server = run.get("server") or {}
    dataset = run.get("dataset") or {}
    out = {"code": str(run.get("git_sha") or "")[:12]}
    if server.get("server_version"):
        out["server version"] = str(server["server_version"])
    for k, v in sorted((server.get("settings") or {}).items()):
        if k not in _PLACE_SETTINGS:
            out[f"setting {k}"] = str(v)
    for k in ("scale", "seed", "months", "generator_version", "checksum"):
        if dataset.get(k) is not None:
            out[f"dataset {k}"] = str(dataset[k])
    return {k: v for k, v in out.items() if v}


def _scenario_lines(text: str | None) -> list[str]:
    lines = (ln.split("#", 1)[0].strip() for ln in (text or "").splitlines())
    return [ln for ln in lines if ln]


def setup_changes(before: RunPoint, after: RunPoint, limit: int = 6) -> list[str]:
    """What differs between two runs' setups: changed settings/versions/data, and the scenario
    lines removed (-) and added (+), e.g. ``-schema_variants = ["list_order_index"]``."""
    out = []
    for key in sorted(set(before.setup) | set(after.setup)):
        a, b = before.setup.get(key), after.setup.get(key)
        if a != b:
            out.append(f"{key} {a or '(default)'} → {b or '(default)'}")
    if before.scenario_text is not None and after.scenario_text is not None:
        out += [ln[0] + ln[2:] for ln in difflib.ndiff(_scenario_lines(before.scenario_text),
                                                        _scenario_lines(after.scenario_text))
                if ln[:1] in "-+"]
    return out[:limit] + ([f"… {len(out) - limit} more"] if len(out) > limit else [])


def _scenario_text(folder: Path) -> str | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    text = meta.get("scenario_text") if isinstance(meta, dict) else None
    return text if isinstance(text, str) else None


@dataclass
class Series:
    query: str
    variant: str
    phase: str
    labels: dict[str, str]
    metric: str
    values: list[float | None] = field(default_factory=list)  # one per run (None: not measured)
    lo: list[float | None] = field(default_factory=list)
    hi: list[float | None] = field(default_factory=list)
    budget: list[float | None] = field(default_factory=list)
    fingerprints: list[str | None] = field(default_factory=list)
    states: list[str | None] = field(default_factory=list)  # e.g. "stats=partial" per run
    steps: list[Step] = field(default_factory=list)
    plan_changes: list[int] = field(default_factory=list)  # run indexes with a new plan
    state_changes: list[int] = field(default_factory=list)  # run indexes with a new state

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "variant": self.variant, "phase": self.phase,
                "labels": self.labels, "metric": self.metric, "values": self.values,
                "lo": self.lo, "hi": self.hi, "budget": self.budget,
                "fingerprints": self.fingerprints, "states": self.states,
                "steps": [s.to_json() for s in self.steps], "plan_changes": self.plan_changes,
                "state_changes": self.state_changes}


@dataclass
class History:
    runs: list[RunPoint]
    series: list[Series]
    alpha: float = ALPHA
    min_effect: float = MIN_EFFECT

    def changes_at(self, i: int) -> list[str]:
        """What changed in run ``i`` since the run before it (nothing for the first run)."""
        return setup_changes(self.runs[i - 1], self.runs[i]) if 0 < i < len(self.runs) else []

    def change_points(self) -> list[tuple[Series, Step]]:
        """Every step, newest run first."""
        out = [(s, st) for s in self.series for st in s.steps]
        return sorted(out, key=lambda x: (-x[1].index, -abs(x[1].ratio - 1)))

    def to_json(self) -> dict[str, Any]:
        return {"runs": [{"run_id": r.run_id, "folder": str(r.folder), "started_at": r.started_at,
                          "git_sha": r.git_sha, "verdict": r.verdict, "complete": r.complete,
                          "changes": self.changes_at(i)}
                         for i, r in enumerate(self.runs)],
                "method": {"test": "binary segmentation, two-sample t-test on log estimates, "
                                   "Bonferroni-corrected", "alpha": self.alpha,
                           "min_effect": self.min_effect},
                "series": [s.to_json() for s in self.series]}


def is_results_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "meta.json").is_file() or (path / "summary.json").is_file())


def find_folders(paths: list[Path]) -> list[Path]:
    """Results folders among ``paths``; a folder that is not one itself contributes the results
    folders directly inside it (e.g. the parent the runs were written to)."""
    found: list[Path] = []
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such results folder")
        if is_results_folder(p):
            found.append(p)
            continue
        if not p.is_dir():
            raise UsageError(f"{p}: not a results folder (no meta.json or summary.json)")
        inner = sorted(c for c in p.iterdir() if is_results_folder(c))
        if not inner:
            raise UsageError(f"{p}: neither a results folder nor a folder of results folders")
        found.extend(inner)
    unique = list(dict.fromkeys(f.resolve() for f in found))
    return unique


def load_summary(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("schema_version") == SUMMARY_SCHEMA_VERSION:
                return data
        except (OSError, json.JSONDecodeError):
            pass
    return dict[str, Any](build_summary(folder))  # read as plain JSON, like the file


def _metric_for(summary: dict[str, Any], group: dict[str, Any]) -> tuple[str, float | None]:
    """The latency percentile a budget checks for this group, and its threshold."""
    for v in summary.get("verdicts") or []:
        if v.get("group") == group.get("key") and v.get("unit") == "ms" \
                and v.get("metric") in (group.get("latency_ms") or {}):
            return str(v["metric"]), v.get("threshold")
    return DEFAULT_METRIC, None


def _fingerprint(summary: dict[str, Any], g: dict[str, Any]) -> str | None:
    p = plan_of(summary, {"phase": g.get("phase"), "query": g.get("query"),
                          "variant": g.get("variant"), "labels": g.get("labels") or {}})
    return p.get("fingerprint") if p else None


def _changes(seq: list[str | None]) -> list[int]:
    """Run indexes whose value differs from the previous run that has one."""
    out, last = [], None
    for i, v in enumerate(seq):
        if v is None:
            continue
        if last is not None and v != last:
            out.append(i)
        last = v
    return out


def build_history(paths: list[Path | str], *, alpha: float = ALPHA,
                  min_effect: float = MIN_EFFECT) -> History:
    folders = find_folders([Path(p) for p in paths])
    loaded = []
    for folder in folders:
        s = load_summary(folder)
        run = s.get("run") or {}
        point = RunPoint(str(run.get("run_id") or folder.name), folder,
                         str(run.get("started_at") or ""), str(run.get("git_sha") or ""),
                         str((s.get("verdict") or {}).get("overall") or "?"),
                         bool(run.get("complete")), run_setup(s), _scenario_text(folder))
        loaded.append((point, s))
    loaded.sort(key=lambda x: (x[0].started_at, x[0].run_id))
    runs = [p for p, _ in loaded]
    series: dict[tuple[str, str, str, str], Series] = {}
    for i, (_, s) in enumerate(loaded):
        for g in s.get("groups") or []:
            all_labels = {str(k): str(v) for k, v in (g.get("labels") or {}).items()}
            labels = {k: v for k, v in all_labels.items() if k not in STATE_LABELS}
            state = ", ".join(f"{k}={v}" for k, v in sorted(all_labels.items())
                              if k in STATE_LABELS and v)
            key = (str(g.get("query")), str(g.get("variant") or "default"), str(g.get("phase")),
                   json.dumps(labels, sort_keys=True))
            metric, threshold = _metric_for(s, g)
            sr = series.get(key)
            if sr is None:
                sr = series[key] = Series(key[0], key[1], key[2], labels, metric)
            est = (g.get("latency_ms") or {}).get(sr.metric) or {}
            if len(sr.values) > i:  # one group per series and run (a phase runs once)
                continue
            for lst in (sr.values, sr.lo, sr.hi, sr.budget, sr.fingerprints, sr.states):
                lst.extend([None] * (i - len(lst)))
            sr.values.append(est.get("value"))
            sr.lo.append(est.get("lo"))
            sr.hi.append(est.get("hi"))
            sr.budget.append(threshold)
            sr.fingerprints.append(_fingerprint(s, g))
            sr.states.append(state or None)
    for sr in series.values():
        for lst in (sr.values, sr.lo, sr.hi, sr.budget, sr.fingerprints, sr.states):
            lst.extend([None] * (len(runs) - len(lst)))
        sr.steps = detect_steps(sr.values, lo=sr.lo, hi=sr.hi, alpha=alpha,
                                min_effect=min_effect)
        sr.plan_changes = _changes(sr.fingerprints)
        sr.state_changes = _changes(sr.states)
    return History(runs, list(series.values()), alpha, min_effect)
