"""SIGTERM (what CI timeouts and cancellations send) and SIGINT (Ctrl-C) end every command the
same orderly way: the signal becomes an exception at the point the command is at, so measuring
stops there; the drivers' ``finally``/``except`` paths restore what ctxbench changed on the
server, stop child processes and write the report marked *interrupted*; the process exits 143
(SIGTERM) or 130 (SIGINT).

A second signal during that clean-up is ignored (CI often sends SIGTERM twice), and a watchdog
bounds the clean-up: after ``CTXBENCH_STOP_GRACE_S`` seconds (default 60) the process exits
with the same code whatever it was doing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_GRACE_S = 60.0


class Interrupted(KeyboardInterrupt):
    """Raised where the command is when SIGINT or SIGTERM arrives (a KeyboardInterrupt, so every
    path that already cleans up after Ctrl-C does the same for SIGTERM)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signame = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signame}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code_of(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def describe(exc: BaseException) -> str:
    """'interrupted by SIGTERM' / 'interrupted by SIGINT' for meta.json and reports."""
    return str(exc) if isinstance(exc, Interrupted) else "interrupted by SIGINT"


def grace_seconds() -> float:
    try:
        value = float(os.environ.get("CTXBENCH_STOP_GRACE_S", DEFAULT_GRACE_S))
    except ValueError:
        return DEFAULT_GRACE_S
    return value if value > 0 else DEFAULT_GRACE_S


def _watchdog(code: int, grace: float) -> threading.Timer:
    def expire() -> None:
        sys.stderr.write(f"ctxbench: clean-up after the signal took longer than {grace:g} s; "
                         "exiting now\n")
        sys.stderr.flush()
        os._exit(code)

    timer = threading.Timer(grace, expire)
    timer.daemon = True
    timer.start()
    return timer


@contextmanager
def orderly() -> Iterator[list[int]]:
    """Handle SIGINT/SIGTERM as described above while the block runs (main thread only);
    the previous handlers come back afterwards. Yields the list of signals received (the
    CLI framework turns any KeyboardInterrupt into its own exit 1; the caller maps it back)."""
    fired: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield fired
        return
    timers: list[threading.Timer] = []

    def handler(signum: int, frame: Any) -> None:
        if fired:
            return  # already stopping: let the clean-up finish
        fired.append(signum)
        timers.append(_watchdog(128 + signum, grace_seconds()))
        raise Interrupted(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield fired
    finally:
        for timer in timers:
            timer.cancel()
        for s, h in previous.items():
            signal.signal(s, h)
