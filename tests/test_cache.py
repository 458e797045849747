"""The read path: the service's keys, values, L2 rule, single-flight, and the stampede test on a
real Redis (started by ctxbench) in front of the real embedded PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import redis
from psycopg_pool import ConnectionPool
from servers import own_redis_server

from ctxbench.cache import CachedExecutor, L2Map, RedisL1, RedisServer, codec, keys, owner
from ctxbench.cache.singleflight import Group
from ctxbench.db.embedded import free_port
from ctxbench.errors import UsageError

# -- keys (no servers) ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (1e-5, "1e-05"), (1.5e-5, "1.5e-05"), (-0.000123, "-0.000123"), (1.0, "1"),
    (0.0, "0"), (-0.0, "-0"), (1234567.8, "1.2345678e+06"), (123456.0, "123456"),
    (-0.0001, "-0.0001"), (0.33333334, "0.33333334")])
def test_go_float32_matches_go_v_formatting(value, text):
    assert keys.go_float32(value) == text


def test_semantic_key_is_the_hex_of_the_printed_first_eight_floats():
    vec = np.array([0.1, -0.02, 1e-5, 0.5, 1, 0, -0.25, 0.125] + [0.3] * 376, dtype=np.float32)
    key = keys.semantic_key({"embedding": vec, "limit": 10, "threshold": 0.7})
    printed = "[0.1 -0.02 1e-05 0.5 1 0 -0.25 0.125]"
    assert key == f"semantic:hash={printed.encode().hex()}:limit=10:threshold=0.70"
    other = vec.copy()
    other[8:] = -0.3  # differs only after the 8th float: the service served it the same answer
    assert keys.semantic_key({"embedding": other, "limit": 10, "threshold": 0.7}) == key
    assert keys.semantic_key({"embedding": vec, "limit": 5, "threshold": 0.7}) != key


def test_list_and_get_keys_and_uncached_aggregations():
    assert keys.list_key({"limit": 10, "offset": 0}) == "incidents:list:limit=10:offset=0"
    assert (keys.list_key({"namespace": "payments", "severity": "critical", "limit": 20, "offset": 40})
            == "incidents:list:ns=payments:sev=critical:limit=20:offset=40")
    assert keys.cache_key("get_incident", {"id": 42}) == "incident:42"
    assert keys.cache_key("by_namespace", {}) is None
    with pytest.raises(UsageError, match="cluster_name"):
        keys.check_params("list_incidents", {"cluster_name": "c1", "limit": 10, "offset": 0})


# -- values ---------------------------------------------------------------------------------------
def test_values_are_go_json_with_float32_text_and_the_5mb_limit():
    from datetime import UTC, datetime
    row = {"id": 7, "name": "a", "namespace": None, "start_time": datetime(2025, 1, 2, 3, 4, 5, 120000, UTC),
           "end_time": None, "duration": None, "error_message": None, "metadata": "{}",
           "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "updated_at": None,
           "embedding": np.array([0.1, 1e-5], dtype=np.float32), "similarity": 0.9}
    value = codec.semantic_value([row])
    text = codec.encode(value).decode()
    assert '"embedding":[0.1,1e-05]' in text
    assert '"start_time":"2025-01-02T03:04:05.12Z"' in text
    assert '"end_time"' not in text and '"namespace":""' in text
    assert json.loads(text)["Scores"] == [0.9]
    with pytest.raises(codec.ValueTooLarge, match="exceeds maximum size"):
        codec.encode({"x": "y" * 100}, max_bytes=50)


# -- L2 and single-flight ---------------------------------------------------------------------------
def test_l2_evicts_the_soonest_expiring_entry_and_grows_through_l1_fills():
    now = [0.0]
    l2 = L2Map(capacity=3, ttl_s=10, clock=lambda: now[0])
    for i, k in enumerate("abc"):
        now[0] = float(i)
        l2.set(k, k.encode())
    now[0] = 3.0
    assert l2.set("d", b"d") == "a" and l2.get("a") is None and len(l2) == 3
    l2.fill_from_l1("e", b"e")  # a Redis hit: no size check
    assert len(l2) == 4
    assert l2.set("c", b"c2") == "b"  # rewriting a present key still evicts another
    assert len(l2) == 3 and l2.get("c") == b"c2"
    now[0] = 13.5  # d written at 3 with TTL 10: expired, deleted on read
    assert l2.get("d") is None and l2.expired == 1


def test_singleflight_runs_one_call_for_concurrent_callers():
    group, calls, gate = Group(), [], threading.Event()
    barrier = threading.Barrier(10)
    results: list[tuple] = []

    def fn():
        calls.append(1)
        gate.wait(5)
        return 42

    def caller():
        barrier.wait()
        results.append(group.do("k", fn))

    threads = [threading.Thread(target=caller) for _ in range(10)]
    for t in threads:
        t.start()
    while group.in_flight() == 0:
        pass
    # every caller is either the leader or waiting once the gate opens
    threading.Event().wait(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(results) == 10
    assert all(v == 42 for v, _ in results) and sum(shared for _, shared in results) == 10


# -- real Redis -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with own_redis_server("ctxbench-redis-") as server:
        yield server


def test_ctxbench_redis_is_local_owned_and_never_flushes_foreign_data(redis_server):
    status = redis_server.status()
    assert status["running"] and status["version"].startswith("6.2")
    with redis_server.client() as c:
        assert c.config_get("bind")["bind"] == "127.0.0.1"
        assert c.exists(owner.MARKER)
    foreign_url = redis_server.url(3)
    with redis_server.client(3) as c:
        c.flushdb()
        c.set("someone-else", "data")
        with pytest.raises(UsageError, match="did not write"):
            owner.claim(c, foreign_url)
        with pytest.raises(UsageError, match="refusing to flush"):
            owner.flush_owned(c, foreign_url)
        assert c.get("someone-else") == b"data"
        c.delete("someone-else")
        owner.claim(c, foreign_url)
        c.set("k", "v")
        owner.flush_owned(c, foreign_url)
        assert c.exists(owner.MARKER) and not c.exists("k")


@pytest.fixture(scope="module")
def pool(dataset_target) -> Iterator[ConnectionPool]:
    p = ConnectionPool(dataset_target.dsn, min_size=2, max_size=12, open=True,
                       kwargs={"autocommit": True})
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def make_executor(redis_server, pool):
    made: list[CachedExecutor] = []

    def make(variant: str = "as_shipped", *, l1: bool = True) -> CachedExecutor:
        url = redis_server.url()
        with redis_server.client() as c:
            owner.flush_owned(c, url)  # a fresh executor and an empty Redis: every key misses
        ex = CachedExecutor(pool.connection, RedisL1.connect(url, 300) if l1 else None, variant=variant)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.close()


def _concurrent(ex: CachedExecutor, query: str, param_sets: list[dict]) -> list:
    barrier = threading.Barrier(len(param_sets))
    outcomes: list = [None] * len(param_sets)

    def run(i: int) -> None:
        barrier.wait()
        outcomes[i] = ex.request(query, param_sets[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(param_sets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ex.drain()
    return outcomes


def test_stampede_single_flight_gives_the_services_2_and_4_queries(make_executor, dataset_target):
    ex = make_executor("as_shipped")
    outs = _concurrent(ex, "list_incidents", [{"limit": 10, "offset": 0}] * 10)
    assert ex.db_queries == 2, [o.tier for o in outs]
    assert all(o.error is None for o in outs)
    assert len(outs[0].result["incidents"]) == 10
    assert all(o.result == outs[0].result for o in outs)
    assert sum(o.db_queries for o in outs) == 2

    with dataset_target.connect() as conn:
        ns = [r[0] for r in conn.execute(
            "SELECT namespace FROM resource_references WHERE namespace IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 2")]
    ex = make_executor("as_shipped")
    sets = [{"namespace": ns[i % 2], "limit": 10, "offset": 0} for i in range(10)]
    _concurrent(ex, "list_incidents", sets)
    assert ex.db_queries == 4


def test_without_single_flight_the_stampede_reaches_the_database_more_often(make_executor):
    ex = make_executor("no_singleflight")
    outs = _concurrent(ex, "list_incidents", [{"limit": 10, "offset": 0}] * 10)
    assert ex.db_queries > 2, f"{ex.db_queries} queries for 10 concurrent misses"
    assert ex.db_queries % 2 == 0  # each miss costs Q1 + Q2
    assert all(o.result == outs[0].result for o in outs)


def test_tuned_single_flights_semantic_search_and_get(make_executor, dataset_target):
    with dataset_target.connect() as conn:
        vec, some_id = conn.execute(
            "SELECT embedding::text, id FROM resource_action_traces "
            "WHERE embedding IS NOT NULL LIMIT 1").fetchone()
    emb = np.array(vec.strip("[]").split(","), dtype=np.float32)
    ex = make_executor("tuned")
    outs = _concurrent(ex, "semantic_search", [{"embedding": emb, "limit": 10, "threshold": 0.5}] * 10)
    assert ex.db_queries == 1 and all(o.result == outs[0].result for o in outs)
    top = outs[0].result["Incidents"][0]
    assert top["id"] == some_id and len(top["embedding"]) == 384
    _concurrent(ex, "get_incident", [{"id": some_id}] * 10)
    assert ex.db_queries == 2


def test_hits_fills_and_the_404(make_executor, dataset_target):
    ex = make_executor("as_shipped")
    first = ex.request("list_incidents", {"limit": 10, "offset": 0})
    again = ex.request("list_incidents", {"limit": 10, "offset": 0})
    assert (first.tier, first.db_queries, again.tier, again.db_queries) == ("miss", 2, "l1", 0)
    assert again.result == first.result and again.redis_ns > 0 and again.value_bytes > 0
    with dataset_target.connect() as conn:
        some_id = conn.execute("SELECT max(id) FROM resource_action_traces").fetchone()[0]
    got = ex.request("get_incident", {"id": some_id})
    assert got.tier == "miss" and got.result["id"] == some_id
    ex.drain()  # the service filled asynchronously
    assert ex.request("get_incident", {"id": some_id}).tier == "l1"
    for _ in range(2):  # a missing id is an error, never cached
        missing = ex.request("get_incident", {"id": some_id + 10**6})
        assert missing.tier == "miss" and missing.db_queries == 1 and "NotFound" in missing.error
    ex.drain()
    agg = [ex.request("by_namespace", {}) for _ in range(2)]
    assert [a.tier for a in agg] == ["uncached"] * 2 and [a.db_queries for a in agg] == [1, 1]


def test_redis_outage_falls_back_to_l2(make_executor, pool):
    dead = f"redis://127.0.0.1:{free_port(0)}/0"
    assert RedisL1.connect(dead, 300) is None  # down at startup: L2 only for the executor's life
    ex = make_executor(l1=False)
    outs = [ex.request("list_incidents", {"limit": 5, "offset": 0}) for _ in range(2)]
    assert [o.tier for o in outs] == ["miss", "l2"] and ex.db_queries == 2
    # Redis failing at run time: every GET errors, the read falls through to L2
    client = redis.Redis.from_url(dead, socket_connect_timeout=0.5)
    failing = CachedExecutor(pool.connection, RedisL1(client, 300, dead))
    outs = [failing.request("list_incidents", {"limit": 5, "offset": 5}) for _ in range(2)]
    assert [o.tier for o in outs] == ["miss", "l2"] and failing.l1.stats.errors == 2
    assert any("redis:" in n for n in outs[1].notes)
    failing.close()


# -- the cache phase end to end (ctxbench run) ---------------------------------------------------------
CACHE_RUN = """
name = "{name}"
[database]
name = "runner_tiny"
[database.settings]
shared_buffers = "256MB"
maintenance_work_mem = "256MB"
max_wal_size = "2GB"
[dataset]
scale = 1000
seed = 7
[queries]
include = ["list_incidents"]
[phases]
run = ["cache"]
[phases.cache]
variants = ["{variant}"]
hit_samples = 6
miss_samples = 6
mix_requests = 40
mix_keys = 15
outage_samples = 3
stampede_trials = 2
stampede_queries = ["list_incidents"]
[[budgets]]
phase = "cache.stampede"
metric = "error_rate"
max = 0.0
[[budgets]]
phase = "cache.mix"
metric = "hit_rate"
min = 0.01
"""


def _cache_run(pg_server, redis_server, tmp_path, variant="as_shipped", name="cache_tiny"):
    from ctxbench import scenario as scenarios
    from ctxbench.runs.phase_run import run_scenario

    sc = scenarios.load_text(CACHE_RUN.format(name=name, variant=variant), f"{name}.toml")
    return run_scenario(sc, out_dir=tmp_path, home=pg_server.home, redis_url=redis_server.url(5))


def test_cache_phase_measures_every_tier_and_reports_the_split(pg_server, redis_server, tmp_path):
    from ctxbench.results import ResultsDir

    with redis_server.client(5) as c:
        c.flushdb()  # a database ctxbench claims (empty) for this run
    outcome = _cache_run(pg_server, redis_server, tmp_path)
    ms = [m for m in ResultsDir(outcome.results_dir).iter_measurements() if not m.warmup]
    phases = {m.phase for m in ms}
    assert phases == {"cache.hit", "cache.miss", "cache.mix", "cache.outage", "cache.stampede"}
    tiers = {(m.phase, m.labels.get("tier")) for m in ms}
    assert ("cache.hit", "l1") in tiers and ("cache.miss", "miss") in tiers
    assert ("cache.outage", "l2") in tiers and ("cache.outage", "miss") in tiers
    stampede = [m for m in ms if m.phase == "cache.stampede"]
    assert sorted(int(m.metrics["db_queries"]) for m in stampede) == [2, 2, 4, 4]
    assert all(m.ok for m in stampede)
    hits = [m for m in ms if m.labels.get("tier") == "l1"]
    assert hits and all(m.metrics["db_queries"] == 0 and m.metrics["redis_ms"] > 0 for m in hits)
    report = (outcome.results_dir / "report.md").read_text()
    assert "## Cache (the service's read path)" in report and "### Stampede check" in report
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    judged = {(v["phase"], v["metric"]) for v in summary["verdicts"]}
    assert ("cache.mix", "hit_rate") in judged and ("cache.stampede", "error_rate") in judged


def test_the_stampede_check_fails_when_the_count_is_not_the_services(pg_server, redis_server, tmp_path,
                                                                   monkeypatch):
    """Hold the no-single-flight read path to the service's promise: the check must fail."""
    from ctxbench.measure.phases import cache as cache_phase

    monkeypatch.setattr(cache_phase, "expected_stampede",
                        lambda variant, query, n_keys: 2 * n_keys)
    outcome = _cache_run(pg_server, redis_server, tmp_path, variant="no_singleflight", name="cache_fail")
    assert outcome.exit_code == 1
    summary = json.loads((outcome.results_dir / "summary.json").read_text())
    failed = [v for v in summary["verdicts"] if v["phase"] == "cache.stampede" and v["verdict"] == "FAIL"]
    assert failed
    report = (outcome.results_dir / "report.md").read_text()
    assert "expected exactly 2 database queries" in report or "expected exactly 4" in report


def test_a_load_run_through_the_cache_records_tiers_and_database_queries(
        tmp_path, dataset_target, redis_server, monkeypatch):
    from test_load_locust import dataset_scenario

    from ctxbench.load.settings import LoadSettings
    from ctxbench.results import ResultsDir
    from ctxbench.runs.load import run_load

    monkeypatch.setenv("CTXBENCH_REDIS_URL", redis_server.url(6))
    sc = dataset_scenario(tmp_path, dataset_target, "[load]\ncache = true\n"
                          "[phases.cache]\nmix_keys = 20\n"
                          "[[budgets]]\nquery = 'list_incidents'\nphase = 'load'\nmetric = 'hit_rate'\n"
                          "min = 0.01\n")
    settings = LoadSettings.from_scenario(sc, users=2, spawn_rate=2, duration_s=6)
    assert settings.cache == "as_shipped"
    out = run_load(sc, settings, out_dir=tmp_path / "runs", dsn=dataset_target.dsn)
    ms = [m for m in ResultsDir(out.results_dir).iter_measurements() if m.query == "list_incidents"]
    assert ms and all(m.labels.get("cache") == "as_shipped" for m in ms)
    tiers = {("l1" if m.metrics["l1"] else "l2" if m.metrics["l2"] else "other") for m in ms}
    assert "l1" in tiers  # 20 keys, Zipf: most list requests are Redis hits
    misses = [m for m in ms if m.metrics["db_queries"] > 0]
    assert misses and all(m.metrics["db_queries"] == 2 for m in misses)  # Q1 + Q2 per list miss
    report = (out.results_dir / "report.md").read_text()
    assert "## Cache (the service's read path)" in report and "| load | list\\_incidents" in report


@pytest.mark.parametrize(("text", "message"), [
    ('[phases.cache]\nvariants = ["fast"]', "phases.cache.variants[0]' = 'fast' is not allowed; allowed: "
     "as_shipped, tuned, no_singleflight"),
    ('[phases.cache]\nqueries = ["trend"]', "the service never cached the aggregations"),
    ('[phases.cache]\nmix = "uniform"', "allowed: zipf, service_80_20"),
    ('[load]\ncache_variant = "fast"', "load.cache_variant"),
    ('[[budgets]]\nphase = "cache.hit"\nmetric = "hit_ratio"\nmin = 0.7', "hit_rate"),
])
def test_cache_scenario_keys_are_validated_with_clear_errors(text, message):
    from ctxbench import scenario as scenarios

    with pytest.raises(UsageError, match=re.escape(message)):
        scenarios.load_text(text, "bad.toml")
    ok = scenarios.load_text('[phases]\nrun = ["cache"]', "ok.toml")
    assert ok.phases.cache.variants == ["as_shipped"] and "cache" in ok.phases.run
