"""One measuring run at a time per server, so no run ever measures under another's load.

* Embedded server: an exclusive ``flock`` on ``<home>/run.lock`` — taken *before* the server is
  brought up, because bringing it up with other settings restarts it, and a cold phase
  restarts it too; both would break a run already measuring there.
* Any other server (``--dsn``, container): a session-level advisory lock in the target
  database, held on a dedicated connection for the whole run.

A second run waits up to ``CTXBENCH_LOCK_WAIT_S`` seconds (default 0: refuse at once) and
then refuses with a message naming the holder: pid, command and start time.

``setup_lock`` is a short exclusive lock around bringing the embedded server up (initdb,
settings, start), so parallel ``ctxbench db up`` never race.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg

from ctxbench.errors import InfraError, UsageError

LOCK_FILE = "run.lock"
SETUP_LOCK_FILE = ".setup.lock"
# pg_advisory_lock(classid, objid): "ctxb" and 1 — one lock per database
ADVISORY_KEY = (0x63747862, 1)


# Homes whose run lock this process holds (a run, or a command that reconfigures the server).
_HELD: set[Path] = set()


class BusyError(InfraError):
    """Another run holds the server (exit 3: the environment is busy, not a bad input)."""


def wait_seconds() -> float:
    raw = os.environ.get("CTXBENCH_LOCK_WAIT_S", "0")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"CTXBENCH_LOCK_WAIT_S = {raw!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise UsageError(f"CTXBENCH_LOCK_WAIT_S = {raw!r} is not allowed; allowed range: 0 .. 86400")
    return value


def holder_info() -> dict[str, Any]:
    from ctxbench.db.dsn import mask_password

    command = mask_password(" ".join(["ctxbench", *sys.argv[1:]]))  # a --dsn may carry a password
    return {"pid": os.getpid(), "command": command[:300],
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another ctxbench process"
    return (f"pid {info.get('pid')} ({info.get('command')!r}, started {info.get('started_at')})")


@dataclass
class RunLock:
    """A held lock; ``release`` is idempotent."""

    what: str
    fh: IO[str] | None = None
    conn: psycopg.Connection | None = None
    home: Path | None = None

    def release(self) -> None:
        if self.home is not None:
            _HELD.discard(self.home)
            self.home = None
        if self.fh is not None:
            with contextlib.suppress(OSError):
                self.fh.seek(0)
                self.fh.truncate()
                fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


def _open_lock_file(home: Path, name: str) -> IO[str]:
    try:
        home.mkdir(parents=True, exist_ok=True)
        return (home / name).open("a+", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--home {home}: cannot use it as the embedded server's folder "
                         f"({exc.strerror or exc})") from exc


def _flock_until(fh: IO[str], deadline: float, poll_s: float) -> bool:
    """Take an exclusive flock on ``fh``, retrying until ``deadline`` (monotonic); False if not."""
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)


def _holder(fh: IO[str]) -> dict[str, Any] | None:
    fh.seek(0)
    try:
        info = json.loads(fh.read() or "null")
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def lock_home(home: Path, wait_s: float | None = None) -> RunLock:
    """The embedded server under ``home``, for one run (waiting up to ``wait_s``, default
    ``CTXBENCH_LOCK_WAIT_S``)."""
    fh = _open_lock_file(home, LOCK_FILE)
    deadline = time.monotonic() + (wait_seconds() if wait_s is None else wait_s)
    if not _flock_until(fh, deadline, poll_s=0.2):
        info = _holder(fh)
        fh.close()
        raise BusyError(
            f"the embedded server under {home} is in use by another run: {_describe(info)}; "
            "ctxbench measures one run at a time per server (wait for it, use another "
            "--home, or set CTXBENCH_LOCK_WAIT_S to wait)")
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps(holder_info()) + "\n")
    fh.flush()
    resolved = home.resolve()
    _HELD.add(resolved)
    return RunLock(f"embedded server under {home}", fh=fh, home=resolved)


def holds(home: Path) -> bool:
    """Whether this process holds the run lock of ``home``."""
    return home.resolve() in _HELD


@contextlib.contextmanager
def restart_allowed(home: Path) -> Iterator[None]:
    """Around a restart of a running embedded server (new settings): allowed when this process
    holds the home's run lock or nobody does (then it is held for the restart); refused while
    another process measures there, since a restart would kill its connections and empty the
    caches it measures."""
    if holds(home):
        yield
        return
    fh = _open_lock_file(home, LOCK_FILE)
    try:
        if not _flock_until(fh, time.monotonic(), poll_s=0.0):
            raise BusyError(
                f"the embedded server under {home} runs with other settings and is in use by "
                f"{_describe(_holder(fh))}; restarting it would break that run, so nothing was "
                "changed (wait for it to end, or use another --home)")
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def lock_database(dsn: str, where: str) -> RunLock:
    """A server ctxbench does not run (``--dsn``): an advisory lock in the target database."""
    from ctxbench.db.connect import connect, scalar

    info = holder_info()
    conn = connect(dsn, application_name=f"ctxbench run lock pid={info['pid']}")
    deadline = time.monotonic() + wait_seconds()
    while True:
        got = scalar(conn, "SELECT pg_try_advisory_lock(%s, %s)", ADVISORY_KEY)
        if got:
            return RunLock(where, conn=conn)
        if time.monotonic() >= deadline:
            row = conn.execute(
                "SELECT a.application_name, a.backend_start, a.client_addr FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.classid = %s AND l.objid = %s AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                ADVISORY_KEY).fetchone()
            conn.close()
            holder = (f"{row[0]!r} since {row[1]:%Y-%m-%d %H:%M:%S %Z}"
                      + (f" from {row[2]}" if row[2] else "")) if row else "another session"
            raise BusyError(f"{where} is in use by another ctxbench run ({holder}); ctxbench "
                            "measures one run at a time per database (wait for it, or set "
                            "CTXBENCH_LOCK_WAIT_S to wait)")
        time.sleep(0.2)


@contextlib.contextmanager
def setup_lock(home: Path, timeout_s: float = 300.0) -> Iterator[None]:
    """Serialise bringing the embedded server up (initdb, settings file, start)."""
    fh = _open_lock_file(home, SETUP_LOCK_FILE)
    deadline = time.monotonic() + timeout_s
    with fh:
        if not _flock_until(fh, deadline, poll_s=0.1):
            raise BusyError(f"the embedded server under {home} is being set up by another "
                            f"process for more than {timeout_s:g} s")
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def no_run_on(home: Path, wait_s: float = 120.0) -> Iterator[None]:
    """For commands that stop, restart or reconfigure the embedded server: wait (bounded) while
    another command holds it, refuse while a run outlasts that, and keep a run from starting
    meanwhile."""
    lock = lock_home(home, max(wait_s, wait_seconds()))
    try:
        yield
    finally:
        lock.release()
