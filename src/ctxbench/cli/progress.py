"""Progress for long commands: a rich bar on a terminal; in logs (CI, pipes, files) plain lines
with percentage, elapsed time and an ETA, since a bar redrawn with carriage returns comes out
truncated or not at all there."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

EVERY_S = 15.0  # a plain line at most this often (and at every 25 % and at the end)


class PlainProgress:
    """The runner's progress protocol (start / advance / log) as plain log lines."""

    def __init__(self, console: Console, every_s: float = EVERY_S,
                 clock: Any = time.monotonic) -> None:
        self.console, self.every_s, self.clock = console, every_s, clock
        self.description, self.total, self.done = "", 0, 0
        self.started = self.last = 0.0
        self.quarter = 0

    def _line(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, description: str, total: int) -> None:
        self.description, self.total, self.done = description, max(int(total), 0), 0
        self.started = self.last = self.clock()
        self.quarter = 0
        self._line(f"{description}: 0/{self.total}")

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        quarter = 4 * self.done // self.total if self.total else 0
        if self.done >= self.total or quarter > self.quarter or now - self.last >= self.every_s:
            self.quarter, self.last = quarter, now
            self._line(self.status(now))

    def status(self, now: float) -> str:
        elapsed = now - self.started
        text = f"{self.description}: {self.done}/{self.total}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        text += f", {_dur(elapsed)} elapsed"
        if self.total and 0 < self.done < self.total:
            text += f", ETA {_dur(elapsed / self.done * (self.total - self.done))}"
        return text

    def log(self, message: str) -> None:
        self._line(message)


def _dur(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


@contextlib.contextmanager
def progress_for(console: Console) -> Iterator[Any]:
    """A progress adapter for ``console``: rich bar on a terminal, plain lines elsewhere."""
    if not console.is_terminal:
        yield PlainProgress(console)
        return
    from ctxbench.cli.run import RichProgress

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield RichProgress(progress)
