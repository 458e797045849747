"""The results folder: append-as-you-go writers and whole-folder readers.

Layout::

    meta.json            RunMeta (rewritten at start and end)
    measurements.jsonl   one Measurement per line, flushed per line
    phases.jsonl         one PhaseRecord per finished (or failed) phase
    plans/*.json         captured plans (EXPLAIN ANALYZE BUFFERS JSON + summary)
    (reports written by ctxbench.report next to these)

Lines are flushed as they are written, so a run killed halfway leaves every finished
measurement on disk, and a torn last line is skipped on read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ctxbench.errors import UsageError
from ctxbench.results.model import SCHEMA_VERSION, Measurement, PhaseRecord, RunMeta

MEASUREMENTS = "measurements.jsonl"
PHASES = "phases.jsonl"
META = "meta.json"
PLANS = "plans"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


class ResultsDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._mfh: IO[str] | None = None

    # -- writing -----------------------------------------------------------------------
    def create(self) -> ResultsDir:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / PLANS).mkdir(exist_ok=True)
        return self

    def write_meta(self, meta: RunMeta) -> None:
        self._write_json(self.path / META, meta.to_json())

    def append_measurement(self, m: Measurement) -> None:
        if self._mfh is None:
            self._mfh = (self.path / MEASUREMENTS).open("a", encoding="utf-8")
        self._mfh.write(json.dumps(m.to_json(), separators=(",", ":")) + "\n")
        self._mfh.flush()

    def append_phase(self, record: PhaseRecord) -> None:
        with (self.path / PHASES).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")

    def write_plan(self, phase: str, query: str, variant: str, payload: dict[str, Any],
                   role: str | None = None) -> Path:
        """``role`` (e.g. 'tail-1') names extra plans of the same group: the tail's plans."""
        name = f"{_safe(phase)}__{_safe(query)}__{_safe(variant)}"
        name += f"__{_safe(role)}.json" if role else ".json"
        if role:
            payload = {**payload, "role": role}
        path = self.path / PLANS / name
        self._write_json(path, {"schema_version": SCHEMA_VERSION, "phase": phase, "query": query,
                                "variant": variant, **payload})
        return path

    def write_json(self, name: str, payload: dict[str, Any]) -> Path:
        path = self.path / name
        self._write_json(path, payload)
        return path

    def close(self) -> None:
        if self._mfh is not None:
            self._mfh.close()
            self._mfh = None

    @staticmethod
    def _write_json(path: Path, payload: dict[str, Any]) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    # -- reading -----------------------------------------------------------------------
    def require(self) -> ResultsDir:
        if not (self.path / META).exists() and not (self.path / MEASUREMENTS).exists():
            raise UsageError(f"{self.path} is not a ctxbench results folder "
                             f"(no {META} or {MEASUREMENTS})")
        return self

    def read_meta(self) -> RunMeta | None:
        path = self.path / META
        if not path.exists():
            return None
        return RunMeta.from_json(json.loads(path.read_text(encoding="utf-8")))

    def iter_measurements(self) -> Iterator[Measurement]:
        for data in _read_jsonl(self.path / MEASUREMENTS):
            yield Measurement.from_json(data)

    def read_phases(self) -> list[PhaseRecord]:
        return [PhaseRecord.from_json(d) for d in _read_jsonl(self.path / PHASES)]

    def read_plans(self) -> list[dict[str, Any]]:
        folder = self.path / PLANS
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:  # torn last line of a killed run: skip it
                return
            raise UsageError(f"{path}:{i + 1}: not valid JSON ({exc.msg})") from exc
