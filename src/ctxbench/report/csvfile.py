"""latencies.csv: one row per measurement (warm-ups and errors included, flagged), with labels
and metrics flattened into ``label.<name>`` / ``metric.<name>`` columns, for pandas or a
spreadsheet."""

from __future__ import annotations

import csv
from pathlib import Path

from ctxbench.results.store import ResultsDir, write_error

BASE = ["run_id", "phase", "query", "variant", "param_id", "seq", "ts", "latency_ms",
        "latency_ns", "rows", "ok", "error", "warmup"]


def write_latencies_csv(results: ResultsDir, path: Path,
                        columns: tuple[set[str], set[str]] | None = None) -> int:
    """Streams the measurements (memory stays flat); returns the rows written. ``columns`` =
    (label names, metric names) if known, else a first pass collects them."""
    if columns is None:
        labels: set[str] = set()
        metrics: set[str] = set()
        for m in results.iter_measurements():
            labels.update(m.labels or {})
            metrics.update(m.metrics or {})
    else:
        labels, metrics = columns
    label_cols, metric_cols = sorted(labels), sorted(metrics)
    header = BASE + [f"label.{k}" for k in label_cols] + [f"metric.{k}" for k in metric_cols]
    count = 0
    tmp = path.with_suffix(".csv.tmp")
    try:
        count = _write_rows(results, tmp, header, label_cols, metric_cols)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from exc
    return count


def _write_rows(results: ResultsDir, tmp: Path, header: list[str], label_cols: list[str],
                metric_cols: list[str]) -> int:
    count = 0
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for m in results.iter_measurements():
            row = [m.run_id, m.phase, m.query, m.variant, m.param_id, m.seq, m.ts,
                   f"{m.latency_ns / 1e6:.6f}", m.latency_ns, m.rows, int(bool(m.ok)),
                   m.error or "", int(bool(m.warmup))]
            row += [(m.labels or {}).get(k, "") for k in label_cols]
            row += [(m.metrics or {}).get(k, "") for k in metric_cols]
            writer.writerow(row)
            count += 1
    return count
