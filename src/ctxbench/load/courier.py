"""The courier between Locust processes: measurements to the results owner, control to workers.

Every process that runs users posts ``(step, measurement)`` pairs; every 0.5 s the courier ships
them, with the arrivals that fell due since the last batch, as one Locust custom message to the
results owner (delivered in-process when there is no master). When the test stops, the master
asks every worker to flush and waits for the acknowledgements, so no measurement is lost
between a worker and the folder. The master also sends the arrival plan; a worker reports a
failure that must end the run.

Messages (Locust custom messages, msgpack dicts):
  ctxbench_batch   users -> owner   {"m": [[step, measurement]...], "s": [[step, name, n]...]}
  ctxbench_plan    master -> users  the arrival plan and its start
  ctxbench_drain   master -> users  flush now; ctxbench_drained is the answer
  ctxbench_error   worker -> master {"error": text, "code": exit code}
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
from locust.runners import STATE_MISSING

log = logging.getLogger("ctxbench.load")

MSG_PLAN = "ctxbench_plan"
MSG_BATCH = "ctxbench_batch"
MSG_DRAIN = "ctxbench_drain"
MSG_DRAINED = "ctxbench_drained"
MSG_ERROR = "ctxbench_error"
FLUSH_INTERVAL_S = 0.5
DRAIN_TIMEOUT_S = 10.0

Scheduled = Counter[tuple[int, str]]  # arrivals that fell due, by (step, request name)


class Courier:
    """One per Locust process. ``scheduled`` collects the arrivals that fell due on this process's
    lanes; ``on_*`` are what the receiving side does with each message."""

    def __init__(self, runner: Any, *, scheduled: Callable[[], Scheduled],
                 on_batch: Callable[[dict[str, Any]], None],
                 on_plan: Callable[[dict[str, Any]], None],
                 on_error: Callable[[str, int, str], None],
                 on_drain: Callable[[], None], after_drain: Callable[[], None]) -> None:
        self.runner = runner
        self.scheduled = scheduled
        self.outbox: list[tuple[int, dict[str, Any]]] = []
        self.flusher: Any = None
        self.waiting: set[str] = set()
        self._on_drain, self._after_drain = on_drain, after_drain
        runner.register_message(MSG_BATCH, lambda environment, msg, **_: on_batch(msg.data))
        runner.register_message(MSG_PLAN, lambda environment, msg, **_: on_plan(msg.data))
        runner.register_message(MSG_ERROR, lambda environment, msg, **_: on_error(
            str(msg.data.get("error")), int(msg.data.get("code", 3)), str(msg.node_id)))
        runner.register_message(MSG_DRAIN, self._drain_requested)
        runner.register_message(MSG_DRAINED, lambda environment, msg, **_: self.waiting.discard(msg.node_id))

    # -- users' side -------------------------------------------------------------------------------
    def post(self, step: int, measurement: dict[str, Any]) -> None:
        self.outbox.append((step, measurement))

    def flush(self) -> None:
        scheduled = self.scheduled()
        items, self.outbox = self.outbox, []
        if not items and not scheduled:
            return
        payload = {"m": items, "s": [[k, name, n] for (k, name), n in scheduled.items()]}
        self.runner.send_message(MSG_BATCH, payload)

    def start(self) -> None:
        """Ship every FLUSH_INTERVAL_S from now on (once per process)."""
        if self.flusher is None:
            self.flusher = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            try:
                self.flush()
            except Exception:
                log.exception("ctxbench: shipping measurements failed")

    def _drain_requested(self, environment: Any, msg: Any, **_: Any) -> None:
        self._on_drain()  # start nothing more
        self.flush()
        self._after_drain()  # no arrival counts after this: none can be served
        send_stats = getattr(self.runner, "_send_stats", None)
        if send_stats is not None:  # Locust's own counts, up to the same instant
            send_stats()
        self.runner.send_message(MSG_DRAINED, {})

    def report_error(self, message: str, code: int) -> None:
        """Worker: tell the master the run must end."""
        self.runner.send_message(MSG_ERROR, {"error": message, "code": code})

    # -- the master's side ------------------------------------------------------------------------
    def live_workers(self) -> list[str]:
        return [c.id for c in self.runner.clients.all if c.state != STATE_MISSING]

    def send_plan(self, payload: dict[str, Any]) -> None:
        self.runner.send_message(MSG_PLAN, payload)

    def drain_workers(self) -> None:
        """Test stopping: get every worker's measurements into the folder before it ends."""
        clients = self.live_workers()
        self.waiting = set(clients)
        if clients:
            self.runner.send_message(MSG_DRAIN, {})
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self.waiting and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if self.waiting:
            log.warning("ctxbench: %d worker(s) did not flush their last measurements",
                        len(self.waiting))
