"""What Locust runs: the Context API user and the load shape (the locustfile exports both).

Both are thin: a user asks its process's ``Clients`` for a lane and serves one request per
task; the shape keeps Locust's users, spawn rate and run time, starts the arrival plan once
every user runs, and in capacity mode steps until the results owner's search has its answer.
"""

from __future__ import annotations

import logging

from locust import LoadTestShape, User, task

from ctxbench.load.process import PROCESS

log = logging.getLogger("ctxbench.load")

SPAWN_WAIT_S = 30.0  # open modes start their schedule once every user runs (or after this)


class ContextApiUser(User):
    """A Context API client. Closed mode: requests back to back (plus think time), each on a
    pooled connection. Open modes: one lane of the arrival schedule, requests at their
    intended start times, latency counted from there."""

    def wait_time(self) -> float:
        s = PROCESS.settings
        return s.think_time_ms / 1000.0 if s is not None and s.mode == "closed" else 0.0

    def on_start(self) -> None:
        assert PROCESS.clients is not None
        self.lane_state = PROCESS.clients.new_lane()

    @task
    def context_api_request(self) -> None:
        assert PROCESS.clients is not None
        PROCESS.clients.serve(self.lane_state)


class CtxbenchShape(LoadTestShape):
    """Users, spawn rate and run time as given (-u/-r/-t); in capacity mode, the stepped
    arrival-rate search that stops at the first step over budget."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        runner = self.runner
        assert runner is not None
        opts = runner.environment.parsed_options
        users = int(getattr(opts, "num_users", None) or 1)
        spawn = float(getattr(opts, "spawn_rate", None) or users)
        run_time = getattr(opts, "run_time", None)
        s = PROCESS.settings
        clients = PROCESS.clients
        if PROCESS.failure.message or clients is None:
            return None
        if s is not None and s.mode != "closed" and clients.t0_ns is None and (
                runner.user_count >= users or self.get_run_time() > SPAWN_WAIT_S):
            PROCESS.start_plan(users)  # every lane is up: the schedule starts now
            log.info("ctxbench: %s arrivals %s over %d users", s.mode,
                     clients.plan.to_json() if clients.plan else {}, users)
        owner = PROCESS.owner
        if s is not None and s.mode == "capacity" and owner is not None and owner.search is not None:
            if run_time and self.get_run_time() > float(run_time):
                log.warning("ctxbench: --run-time ended the capacity search before it finished")
                return None
            return PROCESS.capacity_tick(users, spawn)
        if run_time and self.get_run_time() > float(run_time):
            return None
        return users, spawn


__all__ = ["ContextApiUser", "CtxbenchShape"]
