"""What a load run records about itself: meta.json's load fields and the files Locust's side
writes into the results folder.

Plain data, no rendering: the Locust master of a plain ``locust`` run writes meta.json with
this before the first request; ``ctxbench.runs.load`` merges the files into meta.json at the end
and builds the report.
"""

from __future__ import annotations

from typing import Any

from ctxbench import __version__
from ctxbench.analysis.load import ARRIVALS_FILE
from ctxbench.db.dsn import mask_password
from ctxbench.load.settings import LoadSettings
from ctxbench.measure.environment import git_revision, machine_facts
from ctxbench.results import RunMeta
from ctxbench.results.model import utc_now
from ctxbench.scenario import Scenario

CAPACITY_FILE = "capacity.json"
LOCUST_SUMMARY_FILE = "locust_summary.json"
LOCUST_CSV_PREFIX = "locust"
LOCUST_HTML = "locust.html"

__all__ = ["ARRIVALS_FILE", "CAPACITY_FILE", "LOCUST_CSV_PREFIX", "LOCUST_HTML",
           "LOCUST_SUMMARY_FILE", "latency_definition", "new_meta", "run_budgets"]


def run_budgets(scenario: Scenario, settings: LoadSettings) -> list[dict[str, Any]]:
    """The budgets the report applies. A capacity search steps the rate *until* a budget
    breaks, so the failing top step is the expected outcome, not a failed run: there every
    budget is switched off in the report (same patterns, labels mode=capacity, threshold null)
    and the search's own verdict (capacity.json) decides."""
    budgets = scenario.resolved_budgets()
    if settings.mode != "capacity":
        return budgets
    off = []
    for b in budgets:
        op = "max" if "max" in b else "min"
        off.append({"query": b["query"], "phase": b["phase"], "variant": b.get("variant", "*"),
                    "metric": b["metric"], "labels": {"mode": "capacity"}, op: None})
    return budgets + off


def new_meta(run_id: str, scenario: Scenario, settings: LoadSettings, mix_shares: dict[str, float],
             *, driver: str) -> RunMeta:
    return RunMeta(run_id=run_id, kind="load", scenario_name=scenario.name,
                   scenario_text=mask_password(scenario.text), started_at=utc_now(),
                   ctxbench_version=__version__,
                   git_sha=git_revision(), machine=machine_facts(),
                   budgets=run_budgets(scenario, settings),
                   extra={"load": {**settings.to_json(), "driver": driver}, "mix": mix_shares,
                          "sampler_seed": settings.seed,
                          "latency_definition": latency_definition(settings.mode)})


def latency_definition(mode: str) -> str:
    if mode == "closed":
        return ("closed loop: latency = connection wait + execute + fetch, from when the user "
                "was ready to send")
    return ("open loop: latency = end - intended start (lag + connection wait + execute + "
            "fetch); coordinated omission avoided")
