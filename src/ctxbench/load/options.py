"""The ``--ctxbench-*`` command-line options of the locustfile, and what they resolve to.

Plain Python (no Locust import): ``add_arguments`` receives Locust's parser.
"""

from __future__ import annotations

import os
from typing import Any

from ctxbench import scenario as scenarios
from ctxbench.errors import UsageError
from ctxbench.load.settings import LoadSettings

# (option suffix, type, help); each becomes --ctxbench-<suffix>, default: the scenario's value
OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("mode", str, "closed | open | capacity (default: the scenario's load.mode)"),
    ("rate", float, "open mode: total arrivals per second over all users"),
    ("arrival", str, "open modes: poisson (default) or constant inter-arrival times"),
    ("think-time-ms", float, "closed mode: pause between a user's requests"),
    ("pool-size", int, "pooled connections per Locust process"),
    ("warmup-s", float, "seconds at the start whose requests are recorded as warm-up (capacity: "
                  "a warm-up period at start-rate before the first step)"),
    ("seed", int, "root seed of mix choices and parameters (default: the scenario's)"),
    ("start-rate", float, "capacity: first step's arrival rate"),
    ("step-rate", float, "capacity: rate added per step"),
    ("step-seconds", float, "capacity: length of a step"),
    ("max-rate", float, "capacity: highest rate tried"),
    ("metric", str, "capacity: percentile that must stay within budget (p50 p90 p95 p99)"),
    ("budget-ms", float, "capacity: latency budget (default: the scenario's budgets)"),
    ("cache", str, "off, or a cache variant (as_shipped, tuned, no_singleflight): requests go "
     "through the service's read path (Redis + L2 + single-flight); Redis from CTXBENCH_REDIS_URL "
     "or ctxbench's own"),
)


def add_arguments(parser: Any) -> None:
    """Register every ``--ctxbench-*`` option on Locust's argument parser."""
    parser.add_argument("--ctxbench-scenario", type=str, default="load",
                        help="ctxbench scenario file or shipped name (mix, weights, budgets, [load])")
    parser.add_argument("--ctxbench-dsn", type=str, default=None, env_var="CTXBENCH_DSN",
                        is_secret=True, help="PostgreSQL DSN of the seeded database (else --host if "
                        "it is a DSN, else the running embedded server)")
    parser.add_argument("--ctxbench-results", type=str, default=None,
                        help="results folder: write ctxbench measurements (exact latencies), meta "
                        "and reports there; budgets then decide the exit code")
    parser.add_argument("--ctxbench-managed", action="store_true", default=False,
                        include_in_web_ui=False, help="(set by `ctxbench load`)")
    parser.add_argument("--ctxbench-synthetic-ms", type=float, default=None, include_in_web_ui=False,
                        help="replace the query mix by SELECT pg_sleep(ms) (checks the harness)")
    for suffix, typ, text in OPTIONS:
        parser.add_argument(f"--ctxbench-{suffix}", type=typ, default=None, help=text)


def settings_from(opts: Any) -> tuple[scenarios.Scenario, LoadSettings]:
    """The scenario the options name and its load settings, options overriding the scenario."""
    scenario = scenarios.find(getattr(opts, "ctxbench_scenario", None) or "load")
    overrides: dict[str, Any] = {s.replace("-", "_"): getattr(opts, "ctxbench_" + s.replace("-", "_"), None)
                                 for s, _, _ in OPTIONS}
    overrides["synthetic_ms"] = getattr(opts, "ctxbench_synthetic_ms", None)
    overrides["users"] = getattr(opts, "num_users", None)
    overrides["spawn_rate"] = getattr(opts, "spawn_rate", None)
    overrides["duration_s"] = float(opts.run_time) if getattr(opts, "run_time", None) else None
    return scenario, LoadSettings.from_scenario(scenario, **overrides)


def resolve_dsn(opts: Any, host: str | None, scenario: scenarios.Scenario) -> str:
    """--ctxbench-dsn, else --host when it is a DSN, else CTXBENCH_DSN, else the running
    embedded server's database of the scenario."""
    if getattr(opts, "ctxbench_dsn", None):
        return str(opts.ctxbench_dsn)
    if host and (host.startswith(("postgres://", "postgresql://")) or "=" in host):
        return host
    if os.environ.get("CTXBENCH_DSN"):  # a worker's own setting (the master may send none)
        return os.environ["CTXBENCH_DSN"]
    from ctxbench.db.embedded import EmbeddedServer, default_home

    server = EmbeddedServer(default_home(), {})
    if server.state_file.exists():
        return server.dsn(scenario.database_name)
    raise UsageError("no database to load: pass --ctxbench-dsn DSN (or --host DSN, or CTXBENCH_DSN), "
                     "or start the embedded server with the scenario's data (`ctxbench load` does)")
