"""Where load measurements end up: one ``measurements.jsonl`` written by one process.

Every Locust process that runs users ships its measurements (as JSON dicts) to the process
that owns the results folder — the master, or the single local process — which numbers them
and appends them here. One writer means one file that ``ResultsDir.iter_measurements`` and the
report read as for any other run, and workers on other machines need no shared disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ctxbench.results import Measurement, ResultsDir


class MeasurementSink:
    def __init__(self, path: Path | str, run_id: str,
                 on_measurement: Callable[[int, Measurement], None] | None = None) -> None:
        self.results = ResultsDir(path).create()
        self.run_id = run_id
        self.on_measurement = on_measurement
        self.count = 0
        self._seq: dict[tuple[str, str, str], int] = {}

    def write(self, items: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Append shipped ``(step, measurement dict)`` pairs, numbering them per group."""
        for step, data in items:
            m = Measurement.from_json(data)
            m.run_id = self.run_id
            key = (m.phase, m.query, m.variant)
            m.seq = self._seq[key] = self._seq.get(key, 0) + 1
            self.results.append_measurement(m)
            self.count += 1
            if self.on_measurement is not None:
                self.on_measurement(step, m)

    def close(self) -> None:
        self.results.close()
