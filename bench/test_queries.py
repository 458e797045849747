"""One pytest-benchmark per Context API query of the core, warm, on varied parameters.

Each benchmark first runs every one of its distinct parameter sets once untimed (so the
measured pages are the ones the measured calls read), then times calls that cycle through the
same distinct sets: a benchmark never repeats one parameter set, which would only measure a
cache (queries that take no parameters, like by_namespace, have exactly one).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from conftest import PARAM_SETS, SCALE

from ctxbench.queries import AS_SHIPPED, catalog

NO_PARAMS = "no_params"  # the sampler's kind for queries without parameters (one SQL text)


@pytest.mark.parametrize("query_name", list(catalog))
def test_query(benchmark: Any, bench_conn: Any, sampler: Any, add_percentiles: Any,
               query_name: str) -> None:
    query = catalog[query_name]
    drawn = sampler.sample(query_name, PARAM_SETS, stream="bench")
    sets = list({ps.id: ps for ps in drawn}.values())  # distinct sets only, in drawn order
    takes_params = any(ps.kind != NO_PARAMS for ps in sets)
    assert len(sets) > 1 or not takes_params or PARAM_SETS == 1, "the sampler repeated one set"
    rows = [len(query.execute(bench_conn, ps.params, AS_SHIPPED)) for ps in sets]  # warm-up pass
    cycle = itertools.cycle(sets)

    def call() -> int:
        return len(query.execute(bench_conn, next(cycle).params, AS_SHIPPED))

    benchmark.group = sorted(query.tags)[0] if query.tags else "query"
    benchmark.extra_info.update(query=query_name, variant=AS_SHIPPED, param_sets=len(sets),
                                takes_params=takes_params,
                                rows_mean=round(sum(rows) / len(rows), 2), dataset_scale=SCALE)
    benchmark(call)
    add_percentiles(benchmark)
