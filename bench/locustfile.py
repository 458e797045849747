"""Locust load test of the Context API query core (all logic lives in ``ctxbench.load``).

    locust -f bench/locustfile.py --headless -u 4 -r 4 -t 30s --host "$DSN" \
        --ctxbench-results reports/my-load-run --csv reports/my-load-run/locust \
        --html reports/my-load-run/locust.html

Options: ``locust -f bench/locustfile.py --help`` (the ``--ctxbench-*`` ones). Without
``--ctxbench-results`` it is a plain Locust run; with it, ctxbench also writes its exact
latencies, meta.json and the report, and the budgets decide the exit code.
"""

from ctxbench.load.locustfile import ContextApiUser, CtxbenchShape

__all__ = ["ContextApiUser", "CtxbenchShape"]
