"""The results folder: append-as-you-go writers and whole-folder readers.

Layout::

    meta.json            RunMeta (rewritten at start and end)
    measurements.jsonl   one Measurement per line, flushed per line
    phases.jsonl         one PhaseRecord per finished (or failed) phase
    plans/*.json         captured plans (EXPLAIN ANALYZE BUFFERS JSON + summary)
    vector.json          the vector study (``ctxbench vector``): spec, query set, filters,
                         ground truth, cross-check, geometry, cells (rewritten as it grows)
    (reports written by ctxbench.report next to these)

Lines are flushed as they are written, so a run killed halfway leaves every finished
measurement on disk, and a torn last line is skipped on read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ctxbench.errors import InfraError, UsageError
from ctxbench.results import checked
from ctxbench.results.model import SCHEMA_VERSION, Measurement, PhaseRecord, RunMeta

MEASUREMENTS = "measurements.jsonl"
PHASES = "phases.jsonl"
META = "meta.json"
PLANS = "plans"
VECTOR_JSON = "vector.json"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


class ResultsDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._mfh: IO[bytes] | None = None

    # -- writing -----------------------------------------------------------------------
    def create(self, *, exclusive: bool = False) -> ResultsDir:
        """Make the folder; ``exclusive``: it must not exist yet (one run, one folder). An
        ``--out`` that is a file, read-only or not a real filesystem is a usage error."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir(exist_ok=not exclusive)
            (self.path / PLANS).mkdir(exist_ok=True)
        except FileExistsError as exc:
            if exclusive and self.path.is_dir():
                raise
            raise UsageError(f"cannot create the results folder {self.path}: "
                             f"{exc.filename or self.path} exists and is not a folder") from exc
        except OSError as exc:
            raise UsageError(f"cannot create the results folder {self.path}: "
                             f"{exc.strerror or exc} ({exc.filename or self.path})") from exc
        return self

    def write_meta(self, meta: RunMeta) -> None:
        self._write_json(self.path / META, meta.to_json())

    def append_measurement(self, m: Measurement) -> None:
        path = self.path / MEASUREMENTS
        if self._mfh is None:
            try:
                self._mfh = path.open("ab", buffering=0)
            except OSError as exc:
                raise write_error(path, exc) from exc
        _append(self._mfh, path, json.dumps(m.to_json(), separators=(",", ":")) + "\n")

    def append_phase(self, record: PhaseRecord) -> None:
        path = self.path / PHASES
        try:
            fh = path.open("ab", buffering=0)
        except OSError as exc:
            raise write_error(path, exc) from exc
        with fh:
            _append(fh, path, json.dumps(record.to_json(), separators=(",", ":")) + "\n")

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
        write_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")

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
        return checked.record(RunMeta, _read_json(path), path)

    def iter_measurements(self) -> Iterator[Measurement]:
        path = self.path / MEASUREMENTS
        for i, data in _read_jsonl(path):
            yield checked.record(Measurement, data, f"{path}:{i}")

    def read_phases(self) -> list[PhaseRecord]:
        path = self.path / PHASES
        return [checked.record(PhaseRecord, d, f"{path}:{i}") for i, d in _read_jsonl(path)]

    def read_vector(self) -> dict[str, Any] | None:
        """vector.json (None when the folder is not a vector run's)."""
        path = self.path / VECTOR_JSON
        if not path.exists():
            return None
        data = _read_json(path)
        if not isinstance(data, dict):
            raise UsageError(f"{path}: expected a JSON object (the vector study), "
                             f"got {type(data).__name__}")
        return data

    def read_plans(self) -> list[dict[str, Any]]:
        folder = self.path / PLANS
        if not folder.is_dir():
            return []
        plans = []
        for p in sorted(folder.glob("*.json")):
            data = _read_json(p)
            if not isinstance(data, dict):
                raise UsageError(f"{p}: expected a JSON object (a plan file), got {type(data).__name__}")
            plans.append(data)
        return plans


def write_error(path: Path, exc: OSError) -> InfraError:
    """One clear line for a results file that cannot be written (disk full, I/O error...)."""
    return InfraError(f"cannot write {path}: {exc.strerror or exc}; measurements written so far "
                      f"stay valid in {path.parent}")


def _append(fh: IO[bytes], path: Path, line: str) -> None:
    """Append one whole line or nothing: a failed write is cut back, so the file stays valid JSONL."""
    data = line.encode("utf-8")
    start = fh.seek(0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            written = fh.write(view)
            view = view[written or 0:]
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fh.fileno(), start)
        raise write_error(path, exc) from exc


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write through a temporary file and rename: never a torn file, never a stray ``*.tmp``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        if isinstance(text, bytes):
            tmp.write_bytes(text)
        else:
            tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from exc


def _read_json(path: Path) -> Any:
    """A JSON file, or a usage error naming it (truncated, not UTF-8, unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                         "a truncated or edited file?") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed line) for every non-empty line."""
    if not path.exists():
        return
    try:
        with path.open(encoding="utf-8") as fh:
            lines = fh.readlines()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            yield i + 1, json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:  # torn last line of a killed run: skip it
                return
            raise UsageError(f"{path}:{i + 1}: not valid JSON ({exc.msg})") from exc


def write_user_file(path: Path, text: str, option: str) -> None:
    """Write a file the user named (``--md``, ``--out``...), atomically; a folder, an
    unwritable place or a full disk is one clear error, never a traceback or a torn file."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        cls = InfraError if exc.errno in (28, 5, 122) else UsageError  # ENOSPC, EIO, EDQUOT
        raise cls(f"cannot write {option} {path}: {exc.strerror or exc}") from exc
