"""pgbench cross-check: the same statements run through pgbench, with parameters inlined."""

from __future__ import annotations

import math

from ctxbench.db.target import Target
from ctxbench.measure.crosscheck import crosscheck, render_script
from ctxbench.measure.executor import ConnectionSpec
from ctxbench.queries import DatasetProfile, ParamSampler, catalog, ensure_vector_adapter


def test_scripts_inline_the_exact_statement(dataset_target: Target) -> None:
    with dataset_target.connect() as conn:
        sampler = ParamSampler(DatasetProfile.from_database(conn), 3)
        ensure_vector_adapter(conn)
        ps = sampler.sample("list_incidents", 1)[0]
        script = render_script(conn, catalog["list_incidents"], "as_shipped", ps)
        assert "ORDER BY rat.action_timestamp DESC" in script and "%(" not in script
        semantic = sampler.sample("semantic_search", 1)[0]
        shipped = render_script(conn, catalog["semantic_search"], "as_shipped", semantic)
        assert shipped.count("SET LOCAL") == 2 and "BEGIN" not in shipped  # the no-op SETs, as shipped
        tuned = render_script(conn, catalog["semantic_search"], "tuned", semantic)
        assert "BEGIN;" in tuned and "SET LOCAL hnsw.ef_search" in tuned and "COMMIT;" in tuned
        # pgbench runs each script as is: the inlined statement returns what execute() returns
        rows = conn.execute(script.strip().rstrip(";")).fetchall()
        assert len(rows) == len(catalog["list_incidents"].execute(conn, ps.params))


def test_both_sides_measure_the_same_number_of_executions(dataset_target: Target) -> None:
    with dataset_target.connect() as conn:
        sampler = ParamSampler(DatasetProfile.from_database(conn), 5)
    for name in ("get_incident", "semantic_search"):
        sets = sampler.sample(name, 4, stream="crosscheck")
        result = crosscheck(dataset_target, ConnectionSpec(dataset_target.dsn), catalog[name], "as_shipped",
                            sets, rounds=2)
        assert result.ctxbench.n == result.pgbench.n == 8
        assert result.pgbench.p50_ms > 0 and math.isfinite(result.ratio_p50)
