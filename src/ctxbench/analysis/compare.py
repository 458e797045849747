"""Compare two runs group by group: did B get faster or slower than A?

Per group present in both runs — same (query, variant, phase, labels) — each side is the
group's *evidence* (one value per distinct parameter set, failed executions censored at +∞:
see ``GroupData.evidence``). The test statistic is the **ratio of medians B/A** with a 95 %
bootstrap interval (each run resampled on its own), and the **Mann–Whitney U** two-sided
p-value (no normality assumption; latencies are skewed; the censored failures rank last).
Because one comparison tests many groups at once, the p-values are **Holm-adjusted** across
the groups (family-wise error ≤ alpha: with two runs of the same build, the chance that *any*
group is called changed is at most alpha). A change is reported only when it is both
significant and large enough, as asv does:

- *slower*: adjusted p < alpha and the whole ratio interval is above 1 + threshold,
- *faster*: adjusted p < alpha and the whole ratio interval is below 1 / (1 + threshold) (the
  mirror image, so swapping A and B swaps the verdicts),
- otherwise *no significant change*; with fewer than ``MIN_SAMPLES`` per side,
  *insufficient data*.

Groups present in one run only are listed, plan shapes that differ are explained, and the
metadata that makes runs incomparable (dataset checksum, server version, settings, machine)
is reported as warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

from ctxbench.analysis.data import GroupData, GroupKey, group_measurements
from ctxbench.analysis.plans import explain_changes, short_change
from ctxbench.analysis.stats import (
    CI_LEVEL,
    N_RESAMPLES,
    bootstrap_distribution,
    interval,
    percentile,
    seed_for,
)
from ctxbench.analysis.summary import params_caution, read_plans, rounded
from ctxbench.errors import UsageError
from ctxbench.results.model import RunMeta
from ctxbench.results.store import ResultsDir

COMPARE_SCHEMA_VERSION = 1
SLOWER, FASTER, SAME, UNKNOWN = "slower", "faster", "no significant change", "insufficient data"
MIN_SAMPLES = 5


def parse_threshold(text: str | float) -> float:
    """'5%' → 0.05, '0.05' → 0.05; must be in [0, 10)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"--threshold: {text!r} is not a number or percentage "
                         "(e.g. 5% or 0.05)") from None
    if not 0.0 <= value < 10.0:
        raise UsageError(f"--threshold: {text!r} is out of range (0% to 1000%)")
    return value


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return [float(v) for v in out]


def _side(x: np.ndarray, which: str, key: GroupKey, n_resamples: int) -> tuple[float, np.ndarray]:
    boot = bootstrap_distribution(x, (0.5,), seed=seed_for("compare", which, key.text()),
                                  n_resamples=n_resamples, with_mean=False)
    return percentile(x, 0.5), boot[:, 0]


def _evidence(g: GroupData) -> np.ndarray:
    values, censored = g.evidence()
    return np.concatenate([values, np.full(censored, np.inf)])


def compare_group(key: GroupKey, a: GroupData, b: GroupData, *, threshold: float, alpha: float,
                  n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """One group's statistics and raw p-value; ``decide_rows`` gives the verdicts once every
    group's p-value is known (the correction needs them all)."""
    xa, xb = _evidence(a), _evidence(b)
    row: dict[str, Any] = {
        "key": key.text(), "query": key.query, "variant": key.variant, "phase": key.phase,
        "labels": key.label_dict, "n_a": int(xa.size), "n_b": int(xb.size),
        "errors_a": a.n_errors, "errors_b": b.n_errors,
        "median_a": percentile(xa, 0.5) if xa.size else None,
        "median_b": percentile(xb, 0.5) if xb.size else None,
        "p95_a": percentile(xa, 0.95) if xa.size else None,
        "p95_b": percentile(xb, 0.95) if xb.size else None,
        "ratio": None, "ratio_lo": None, "ratio_hi": None, "p_value": None,
    }
    if xa.size < MIN_SAMPLES or xb.size < MIN_SAMPLES:
        row.update(verdict=UNKNOWN, reason=f"needs ≥ {MIN_SAMPLES} samples on each side")
        return row
    ma, boot_a = _side(xa, "a", key, n_resamples)
    mb, boot_b = _side(xb, "b", key, n_resamples)
    m = min(boot_a.size, boot_b.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot_b[:m] / boot_a[:m]
    ratios = ratios[np.isfinite(ratios)]
    lo, hi = (interval(ratios[:, None], CI_LEVEL) if ratios.size else (None, None))
    row["ratio"] = mb / ma if 0 < ma < np.inf and mb < np.inf else None
    row["ratio_lo"] = float(lo[0]) if lo is not None else None
    row["ratio_hi"] = float(hi[0]) if hi is not None else None
    row["p_raw"] = float(mannwhitneyu(xa, xb, alternative="two-sided").pvalue)
    return row


def decide_row(row: dict[str, Any], *, threshold: float, alpha: float) -> dict[str, Any]:
    """The verdict of one group from its (adjusted) ``p_value`` and ratio interval."""
    if "verdict" in row:
        return row
    p = row["p_value"]
    up, down = 1.0 + threshold, 1.0 / (1.0 + threshold)
    if row["ratio_lo"] is None:
        row.update(verdict=UNKNOWN, reason="median of A is 0 or a median is a failure")
    elif p < alpha and row["ratio_lo"] > up:
        row.update(verdict=SLOWER, reason=f"p={p:.2g} < {alpha:g}, ratio CI above {up:.3g}")
    elif p < alpha and row["ratio_hi"] < down:
        row.update(verdict=FASTER, reason=f"p={p:.2g} < {alpha:g}, ratio CI below {down:.3g}")
    elif p >= alpha:
        row.update(verdict=SAME, reason=f"p={p:.2g} ≥ {alpha:g}")
    else:
        row.update(verdict=SAME, reason=f"significant (p={p:.2g}) but the ratio CI reaches "
                                        f"within ±{threshold:.0%} of 1")
    return row


def decide_rows(rows: list[dict[str, Any]], *, threshold: float, alpha: float
                ) -> list[dict[str, Any]]:
    """Holm-adjust the raw p-values of the groups that have one, then decide each group."""
    tested = [r for r in rows if r.get("p_raw") is not None]
    for r, adjusted in zip(tested, holm([r["p_raw"] for r in tested]), strict=True):
        r["p_value"] = adjusted
    return [decide_row(r, threshold=threshold, alpha=alpha) for r in rows]


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = data
    return out


def metadata_diff(a: RunMeta | None, b: RunMeta | None) -> tuple[list[str], list[dict[str, Any]]]:
    """(warnings that make the comparison doubtful, every differing metadata key)."""
    if a is None or b is None:
        return ["a run has no meta.json: versions, settings and dataset cannot be checked"], []
    fa = _flat({"dataset": a.dataset, "server": a.server, "machine": a.machine,
                "backend": a.backend, "scenario": a.scenario_name, "git_sha": a.git_sha,
                "ctxbench_version": a.ctxbench_version})
    fb = _flat({"dataset": b.dataset, "server": b.server, "machine": b.machine,
                "backend": b.backend, "scenario": b.scenario_name, "git_sha": b.git_sha,
                "ctxbench_version": b.ctxbench_version})
    differing = [k for k in sorted(set(fa) | set(fb))
                 if fa.get(k) != fb.get(k) and not k.startswith("dataset.load.")]
    diffs = [{"key": k, "a": fa.get(k), "b": fb.get(k)} for k in differing]
    keys = set(differing)
    warnings = []
    if "dataset.checksum" in keys:
        warnings.append(f"different datasets (checksum {fa.get('dataset.checksum')} vs "
                        f"{fb.get('dataset.checksum')}): latencies are not directly comparable")
    for k in sorted(keys):
        if k == "server.server_version" or k.startswith("server.extensions."):
            warnings.append(f"{k} differs: {fa.get(k)} → {fb.get(k)}")
    settings = sorted(k for k in keys if k.startswith("server.settings."))
    if settings:
        shown = ", ".join(f"{k.removeprefix('server.settings.')} {fa.get(k)} → {fb.get(k)}"
                          for k in settings[:8])
        more = f" and {len(settings) - 8} more" if len(settings) > 8 else ""
        warnings.append(f"server settings differ: {shown}{more}")
    machine = sorted(k for k in keys if k.startswith("machine."))
    if machine:
        warnings.append("different machine: " + ", ".join(
            f"{k.removeprefix('machine.')} {fa.get(k)} → {fb.get(k)}" for k in machine[:5]))
    if "backend" in keys:
        warnings.append(f"backend differs: {fa.get('backend')} → {fb.get('backend')}")
    for name, meta in (("A", a), ("B", b)):
        if meta.status != "complete":
            warnings.append(f"run {name} is {meta.status}: some groups may be missing")
    return warnings, diffs


def plan_differences(a: ResultsDir, b: ResultsDir) -> list[dict[str, Any]]:
    pa = {(p["phase"], p["query"], p["variant"]): p for p in read_plans(a) if p.get("fingerprint")}
    pb = {(p["phase"], p["query"], p["variant"]): p for p in read_plans(b) if p.get("fingerprint")}
    out = []
    for key in sorted(set(pa) & set(pb)):
        x, y = pa[key], pb[key]
        if x["fingerprint"] == y["fingerprint"]:
            continue
        changes = explain_changes(x["_summary"], y["_summary"])
        caution = params_caution(x, y)
        if caution:
            changes.append(caution)
        out.append({"phase": key[0], "query": key[1], "variant": key[2],
                    "fingerprint_a": x["fingerprint"], "fingerprint_b": y["fingerprint"],
                    "change": short_change(x["_summary"], y["_summary"]),
                    "changes": changes,
                    "outline_a": x["outline"], "outline_b": y["outline"]})
    return out


def _run(meta: RunMeta | None, path: Path) -> dict[str, Any]:
    return {"path": str(path), "run_id": meta.run_id if meta else path.name,
            "scenario": meta.scenario_name if meta else None,
            "status": meta.status if meta else "unknown",
            "started_at": meta.started_at if meta else None}


def compare_runs(a_dir: Path | str, b_dir: Path | str, *, threshold: float = 0.05,
                 alpha: float = 0.01, n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (see the module docstring for the rules)."""
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"--alpha: {alpha!r} is out of range (0 < alpha < 1, e.g. 0.01)")
    folders = []
    for path in (Path(a_dir), Path(b_dir)):
        if not path.is_dir():
            raise UsageError(f"{path}: no such results folder")
        folders.append(ResultsDir(path).require())
    ra, rb = folders
    ga = group_measurements(ra.iter_measurements())
    gb = group_measurements(rb.iter_measurements())
    rows = decide_rows([compare_group(k, ga[k], gb[k], threshold=threshold, alpha=alpha,
                                      n_resamples=n_resamples)
                        for k in sorted(set(ga) & set(gb))], threshold=threshold, alpha=alpha)
    ma, mb = ra.read_meta(), rb.read_meta()
    warnings, diffs = metadata_diff(ma, mb)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (SLOWER, FASTER, SAME, UNKNOWN)}
    return rounded({
        "schema_version": COMPARE_SCHEMA_VERSION,
        "a": _run(ma, ra.path), "b": _run(mb, rb.path),
        "threshold": threshold, "alpha": alpha,
        "method": "per distinct parameter set, failures censored at +inf: ratio of medians "
                  "B/A with 95% bootstrap CI; Mann-Whitney U two-sided, Holm-adjusted across "
                  "groups",
        "groups": rows,
        "only_in_a": [k.text() for k in sorted(set(ga) - set(gb))],
        "only_in_b": [k.text() for k in sorted(set(gb) - set(ga))],
        "plan_changes": plan_differences(ra, rb),
        "warnings": warnings,
        "metadata_diff": diffs,
        "counts": counts,
        "regression": counts[SLOWER] > 0,
    })
