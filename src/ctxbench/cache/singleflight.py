"""``golang.org/x/sync/singleflight``: concurrent calls with one key share one execution.

The first caller (the leader) runs the function; callers arriving while it runs wait and get
its result (``shared``). A caller arriving after the leader returned starts a new flight.
Threading primitives only, so it works in threads and, under gevent's monkey patching
(Locust), in greenlets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None
    waiters: int = 0


class Group:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}

    def do(self, key: str, fn: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, shared): ``shared`` is True for callers that waited for another's call."""
        with self._lock:
            call = self._calls.get(key)
            if call is not None:
                call.waiters += 1
                leader = False
            else:
                call = self._calls[key] = _Call()
                leader = True
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.value, True
        try:
            call.value = fn()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return call.value, call.waiters > 0

    def in_flight(self) -> int:
        with self._lock:
            return len(self._calls)
