"""The bad-input matrix: every command and scenario key, fed what a hostile new user would type.
Each case must exit 2 (usage) or 3 (infrastructure) with one clear line naming what is wrong —
never a traceback, never a silent success. In-process (tests/cli_helpers.py), so the
server-free part runs in seconds."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cli_helpers import cli

from ctxbench.analysis.synthetic import lognormal_ms, seq_plan, write_run
from ctxbench.db.connect import connect
from ctxbench.db.embedded import EmbeddedServer

NO_SERVER = "host=127.0.0.1 port=1 dbname=x connect_timeout=1"
KEY = ("warm", "list_incidents", "as_shipped")

# (scenario text, fragment of the one error line); every case runs `ctxbench run -s FILE`
SCENARIO_CASES: list[tuple[str, str]] = [
    ("bogus = 1\n", "unknown key"),
    ("name = 5\n", "expected a string"),
    ("description = []\n", "expected a string"),
    ("seed = -1\n", "allowed range"),
    ("seed = 'x'\n", "expected an integer"),
    ("[database]\nbackend = 'mysql'\n", "allowed: embedded"),
    ("[database]\nstatement_timeout_ms = -1\n", "database.statement_timeout_ms"),
    ("[database]\nstatement_timeout_ms = 1.5\n", "expected an integer"),
    ("[database]\nprepare_threshold = 5000\n", "database.prepare_threshold"),
    ("[database]\ncache_reset = 'flush'\n", "allowed: restart, evict"),
    ("[database]\nsettings = 5\n", "expected a table"),
    ("[database]\nschema_variants = ['nosuch']\n", "database.schema_variants[0]"),
    ("[database]\nschema_variants = 'x'\n", "expected a list"),
    ("[database]\nname = 7\n", "expected a string"),
    ("[database]\nbogus = 1\n", "unknown key"),
    ("[dataset]\nscale = 10\n", "dataset.scale"),
    ("[dataset]\nscale = 1e9\n", "expected an integer"),
    ("[dataset]\nscale = 100000000\n", "dataset.scale"),
    ("[dataset]\nmonths = 0\n", "dataset.months"),
    ("[dataset]\nmonths = 25\n", "dataset.months"),
    ("[dataset]\nanchor = 'yesterday'\n", "YYYY-MM-DD"),
    ("[dataset]\nanchor = '2025-02-30'\n", "YYYY-MM-DD"),
    ("[dataset]\nseverities = 'loud'\n", "allowed: documented, tests"),
    ("[dataset]\ndefault_partition = 'yes'\n", "expected true or false"),
    ("[dataset]\nseed = -5\n", "dataset.seed"),
    ("dataset = 5\n", "expected a table"),
    ("[queries]\ninclude = ['nosuch']\n", "matches no query"),
    ("[queries]\ninclude = []\n", "selects no query"),
    ("[queries]\ninclude = 'list_incidents'\n", "expected a list"),
    ("[queries]\nexclude = ['nosuch']\n", "matches no query"),
    ("[queries]\nexclude = ['*']\n", "selects no query"),
    ("[queries]\nvariants = ['nosuchvariant']\n", "queries.variants[0]"),
    ("[queries]\nvariants = []\n", "nothing would be measured"),
    ("[queries]\nsurface = 'grpc'\n", "allowed: builder, http"),
    ("[queries]\nmix = 'all'\n", "allowed: service, extended"),
    ("[queries.weights]\nlist_incidents = -1\n", "queries.weights.list_incidents"),
    ("[queries.weights]\nnosuch = 1\n", "queries.weights.nosuch"),
    ("[queries.weights]\nlist_incidents = nan\n", "finite"),
    ("[queries.weights]\nlist_incidents = inf\n", "finite"),
    ("[queries.weights]\nlist_incidents = 'x'\n", "expected a number"),
    ("[queries.overrides.nosuch]\nweight = 1\n", "matches no query"),
    ("[queries.overrides.list_incidents]\nvariants = ['zz']\n", "not a variant of list_incidents"),
    ("[queries.overrides.list_incidents]\nweight = -1\n", "allowed range"),
    ("[queries.overrides.list_incidents]\nbogus = 1\n", "unknown key"),
    ("[phases]\nrun = []\n", "phases.run"),
    ("[phases]\nrun = ['hot']\n", "allowed phases"),
    ("[phases]\nrun = ['warm', 'warm']\n", "each phase at most once"),
    ("[phases]\nrun = 'warm'\n", "expected a list"),
    ("[phases.cold]\nsamples = 0\n", "phases.cold.samples"),
    ("[phases.cold]\nsamples = 1e3\n", "expected an integer"),
    ("[phases.warm]\nparam_sets = 0\n", "phases.warm.param_sets"),
    ("[phases.warm]\nparam_sets = 100000000\n", "phases.warm.param_sets"),
    ("[phases.warm]\nrepeats = 0\n", "phases.warm.repeats"),
    ("[phases.warm]\nwarmup_passes = -1\n", "phases.warm.warmup_passes"),
    ("[phases.before_analyze]\nrepeats = 0\n", "phases.before_analyze.repeats"),
    ("[phases.after_analyze]\ncold_samples = -1\n", "phases.after_analyze.cold_samples"),
    ("[phases.hnsw_warmup]\nsearches = 0\n", "phases.hnsw_warmup.searches"),
    ("[phases.hnsw_warmup]\nmodes = ['hot']\n", "none, index, index+heap"),
    ("[phases.hnsw_warmup]\nquery = 'nosuch'\n", "phases.hnsw_warmup.query"),
    ("[phases.hnsw_warmup]\nvariant = 'zz'\n", "phases.hnsw_warmup.variant"),
    ("[phases]\nbogus = 1\n", "unknown key"),
    ("[load]\nmode = 'burst'\n", "allowed: closed, open, capacity"),
    ("[load]\nusers = 0\n", "load.users"),
    ("[load]\nusers = 100000\n", "load.users"),
    ("[load]\nworkers = 100000\n", "load.workers"),
    ("[load]\nworkers = -1\n", "load.workers"),
    ("[load]\nrate = inf\n", "finite"),
    ("[load]\nrate = nan\n", "finite"),
    ("[load]\nrate = 0\n", "load.rate"),
    ("[load]\nduration_s = nan\n", "finite"),
    ("[load]\nduration_s = 0\n", "load.duration_s"),
    ("[load]\nspawn_rate = 0\n", "load.spawn_rate"),
    ("[load]\npool_size = 0\n", "load.pool_size"),
    ("[load]\narrival = 'uniform'\n", "allowed: poisson, constant"),
    ("[load]\nwarmup_s = -1\n", "load.warmup_s"),
    ("[load]\nthink_time_ms = -1\n", "load.think_time_ms"),
    ("[load.capacity]\nmetric = 'p100'\n", "allowed: p50"),
    ("[load.capacity]\nmax_rate = inf\n", "finite"),
    ("[load.capacity]\nstep_seconds = 0\n", "load.capacity.step_seconds"),
    ("[load.capacity]\nbudget_ms = -1\n", "load.capacity.budget_ms"),
    ("[vector]\nk = 0\n", "vector.k"),
    ("[vector]\nqueries = 5\n", "vector.queries"),
    ("[vector]\nfar_share = 2\n", "vector.far_share"),
    ("[vector]\nef_search = [0]\n", "vector.ef_search[0]"),
    ("[vector]\nef_search = [5000]\n", "vector.ef_search[0]"),
    ("[vector]\nef_search = ['x']\n", "expected an integer"),
    ("[vector]\nselectivities = [0]\n", "vector.selectivities[0]"),
    ("[vector]\nselectivities = [1.5]\n", "vector.selectivities[0]"),
    ("[vector]\niterative_scans = ['off']\n", "vector.iterative_scans[0]"),
    ("[vector]\nstats = []\n", "vector.stats"),
    ("[vector]\nstats = ['later']\n", "vector.stats[0]"),
    ("[vector]\nsweep_stats = ['before_analyze']\n", "vector.sweep_stats[0]"),
    ("[vector]\ncompare_variants = ['fast']\n", "vector.compare_variants[0]"),
    ("[vector]\nthreshold = nan\n", "finite"),
    ("[vector]\nrecall_target = 2\n", "vector.recall_target"),
    ("[vector]\nlatency_metric = 'p100'\n", "allowed: p50"),
    ("[vector]\ntie_epsilon = 1\n", "vector.tie_epsilon"),
    ("[vector]\nhnsw_warmup = 1\n", "expected true or false"),
    ("budgets = 5\n", "expected a list"),
    ("[[budgets]]\nmetric = 'p95'\n", "exactly one of max"),
    ("[[budgets]]\nmax = 1\nmin = 1\n", "exactly one of max"),
    ("[[budgets]]\nmetric = 'p100'\nmax = 1\n", "budgets[0].metric"),
    ("[[budgets]]\nmax = nan\n", "finite"),
    ("[[budgets]]\nmax = inf\n", "finite"),
    ("[[budgets]]\nmax = -1\n", "budgets[0].max"),
    ("[[budgets]]\nphase = 'hot'\nmax = 1\n", "budgets[0].phase"),
    ("[[budgets]]\nquery = 'get_incidnet'\nmax = 1\n", "budgets[0].query"),
    ("[[budgets]]\nquery = 'list_incidents'\nvariant = 'nosuch'\nmax = 1\n", "budgets[0].variant"),
    ("[[budgets]]\nlabels = 5\nmax = 1\n", "expected a table"),
    ("[[budgets]]\nbogus = 1\nmax = 1\n", "unknown key"),
    ("[output]\ndir = 5\n", "expected a string"),
    ("[output]\nstrict = 'yes'\n", "expected true or false"),
    ("[[phases]]\nrun = ['warm']\n", "expected a table"),
    ("x = = 1\n", "not valid TOML"),
    ("# only a comment\n", "the scenario is empty"),
    ("", "the scenario is empty"),
]


def check(code: int, out: str, expected: int, fragment: str) -> None:
    assert code == expected, out
    assert "Traceback" not in out
    assert fragment in out, out


@pytest.mark.parametrize(("text", "fragment"), SCENARIO_CASES,
                         ids=[f"scenario-{i}" for i in range(len(SCENARIO_CASES))])
def test_bad_scenario(tmp_path: Path, monkeypatch, capsys, text: str, fragment: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    code, out = cli(monkeypatch, capsys, "run", "--scenario", str(path), "--out", str(tmp_path / "o"),
                    "--dsn", NO_SERVER)
    check(code, out, 2, fragment)
    assert str(path) in out or "s.toml" in out  # the line names the file


def scenario_files(tmp: Path) -> dict[str, Path]:
    binary = tmp / "binary.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    (tmp / "folder.toml").mkdir()
    return {"binary": binary, "folder": tmp / "folder.toml", "missing": tmp / "missing.toml"}


@pytest.mark.parametrize(("which", "fragment"), [
    ("binary", "not a text file"), ("folder", "is not a file"), ("missing", "does not exist")])
@pytest.mark.parametrize("command", ["run", "vector", "load"])
def test_unreadable_scenario_files(tmp_path: Path, monkeypatch, capsys, command: str, which: str,
                                   fragment: str) -> None:
    path = scenario_files(tmp_path)[which]
    code, out = cli(monkeypatch, capsys, command, "--scenario", str(path), "--dsn", NO_SERVER)
    check(code, out, 2, fragment)


# `ctxbench load` options: validated with the scenario's own bounds before anything starts
LOAD_CASES = [
    (["--workers", "100000"], "load.workers"), (["--workers", "-1"], "load.workers"),
    (["--workers", "abc"], "Invalid value"), (["--users", "0"], "load.users"),
    (["--users", "100000"], "load.users"), (["--rate", "inf"], "finite"),
    (["--rate", "nan"], "finite"), (["--rate", "0", "--mode", "open"], "load.rate"),
    (["--rate", "-1"], "load.rate"), (["--duration", "0"], "load.duration_s"),
    (["--duration", "inf"], "finite"), (["--spawn-rate", "0"], "load.spawn_rate"),
    (["--pool-size", "0"], "load.pool_size"), (["--pool-size", "5000"], "load.pool_size"),
    (["--warmup", "-1"], "load.warmup_s"), (["--max-rate", "inf"], "finite"),
    (["--step-seconds", "0"], "load.capacity.step_seconds"), (["--mode", "burst"], "allowed"),
    (["--arrival", "uniform"], "allowed"), (["--synthetic-ms", "0"], "synthetic_ms"),
    (["--scenario", "nosuch"], "not found"), (["--frobnicate"], "No such option"),
]


@pytest.mark.parametrize(("args", "fragment"), LOAD_CASES, ids=[" ".join(a) for a, _ in LOAD_CASES])
def test_bad_load_options(tmp_path: Path, monkeypatch, capsys, args: list[str], fragment: str) -> None:
    code, out = cli(monkeypatch, capsys, "load", *args, "--out", str(tmp_path), "--dsn", NO_SERVER)
    check(code, out, 2, fragment)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return bad_results(tmp_path_factory.mktemp("broken"))


def bad_results(tmp: Path) -> dict[str, Path]:
    """Results folders broken in every way a file can break."""
    out = {}
    for name in ("truncated_meta", "meta_list", "meta_wrong_type", "meta_missing_field",
                 "m_wrong_type", "m_missing_field", "m_unknown_field", "m_bad_line", "m_not_object",
                 "m_binary", "plan_bad_json", "plan_list", "phases_wrong_type", "m_nan_latency"):
        folder = tmp / name
        write_run(folder, groups={KEY: (lognormal_ms(5), 20)}, plans={KEY: seq_plan()})
        out[name] = folder
    meta = out["truncated_meta"] / "meta.json"
    meta.write_text(meta.read_text()[:40])
    (out["meta_list"] / "meta.json").write_text("[]")
    for name, change in (("meta_wrong_type", {"status": 5}), ("meta_missing_field", None)):
        data = json.loads((out[name] / "meta.json").read_text())
        if change:
            data.update(change)
        else:
            del data["run_id"]
        (out[name] / "meta.json").write_text(json.dumps(data))

    def edit_first(name: str, fn) -> None:
        path = out[name] / "measurements.jsonl"
        lines = path.read_text().splitlines()
        lines[0] = fn(lines[0])
        path.write_text("\n".join(lines) + "\n")

    def retype(line: str, **kv) -> str:
        data = json.loads(line)
        data.update(kv)
        return json.dumps(data)

    edit_first("m_wrong_type", lambda ln: retype(ln, latency_ns="abc"))
    edit_first("m_nan_latency", lambda ln: retype(ln, metrics={"recall": "x"}, rows="many"))
    edit_first("m_missing_field", lambda ln: json.dumps({k: v for k, v in json.loads(ln).items()
                                                         if k != "latency_ns"}))
    edit_first("m_unknown_field", lambda ln: retype(ln, bogus=1))
    edit_first("m_bad_line", lambda ln: ln[:20])
    edit_first("m_not_object", lambda ln: "[1, 2]")
    (out["m_binary"] / "measurements.jsonl").write_bytes(b"\xff\xfe\x00garbage\n{}\n")
    plan = next((out["plan_bad_json"] / "plans").glob("*.json"))
    plan.write_text(plan.read_text()[:30])
    plan = next((out["plan_list"] / "plans").glob("*.json"))
    plan.write_text("[1]")
    (out["phases_wrong_type"] / "phases.jsonl").write_text(
        json.dumps({"run_id": "x", "phase": "warm", "started_at": 5}) + "\n"
        + json.dumps({"run_id": "x", "phase": "warm", "started_at": "t"}) + "\n")
    return out


REPORT_CASES = [
    ("truncated_meta", "not valid JSON"), ("meta_list", "expected a JSON object"),
    ("meta_wrong_type", "field 'status'"), ("meta_missing_field", "missing field 'run_id'"),
    ("m_wrong_type", "field 'latency_ns'"), ("m_missing_field", "missing field 'latency_ns'"),
    ("m_unknown_field", "unknown field 'bogus'"), ("m_bad_line", "not valid JSON"),
    ("m_not_object", "expected a JSON object"), ("m_binary", "not a UTF-8 text file"),
    ("plan_bad_json", "not valid JSON"), ("plan_list", "expected a JSON object"),
    ("phases_wrong_type", "field 'started_at'"), ("m_nan_latency", "field 'rows'"),
]


@pytest.mark.parametrize(("name", "fragment"), REPORT_CASES, ids=[n for n, _ in REPORT_CASES])
def test_report_on_broken_results(broken: dict[str, Path], tmp_path: Path, monkeypatch, capsys,
                                  name: str, fragment: str) -> None:
    code, out = cli(monkeypatch, capsys, "report", str(broken[name]), "--out", str(tmp_path))
    check(code, out, 2, fragment)


@pytest.mark.parametrize(("name", "fragment"), [c for c in REPORT_CASES if not c[0].startswith("plan")
                                                and c[0] != "phases_wrong_type"],
                         ids=[n for n, _ in REPORT_CASES if not n.startswith("plan")
                              and n != "phases_wrong_type"])
def test_compare_on_broken_results(broken: dict[str, Path], tmp_path: Path, monkeypatch, capsys,
                                   name: str, fragment: str) -> None:
    folders = broken
    good = tmp_path / "good"
    write_run(good, groups={KEY: (lognormal_ms(5), 20)})
    code, out = cli(monkeypatch, capsys, "compare", str(good), str(folders[name]))
    check(code, out, 2, fragment)


def test_plans_commands_on_broken_input(broken: dict[str, Path], tmp_path: Path, monkeypatch,
                                        capsys) -> None:
    folders = broken
    good = tmp_path / "good"
    write_run(good, groups={KEY: (lognormal_ms(5), 20)}, plans={KEY: seq_plan()})
    plan_file = next((folders["plan_bad_json"] / "plans").glob("*.json"))
    cases = [
        (["plans", "show", str(plan_file)], 2, "not valid JSON"),
        (["plans", "show", str(folders["plan_list"])], 2, "plan"),
        (["plans", "diff", str(good), str(folders["plan_bad_json"]), "--query", "list_incidents",
          "--phase", "warm"], 2, "not valid JSON"),
        (["plans", "show", str(tmp_path / "nope")], 2, ""),
        (["plans", "show", str(good), "--md", str(tmp_path)], 2, "is a folder"),
        (["plans", "diff", str(good), str(good), "--query", "list_incidents", "--phase", "warm",
          "--md", str(tmp_path)], 2, "is a folder"),
    ]
    for args, expected, fragment in cases:
        code, out = cli(monkeypatch, capsys, *args)
        check(code, out, expected, fragment)


def test_other_command_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, groups={KEY: (lognormal_ms(5), 20)})
    write_run(b, groups={("cold", "count_incidents", "as_shipped"): (lognormal_ms(5), 20)})
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    cases = [
        (["report", str(tmp_path / "nope")], 2, "no such results folder"),
        (["report", str(afile)], 2, "no such results folder"),
        (["report", str(tmp_path)], 2, "not a ctxbench results folder"),
        (["compare", str(a), str(tmp_path / "nope")], 2, "no such results folder"),
        (["compare", str(a), str(b)], 2, "no (query, variant, phase) group in common"),
        (["compare", str(a), str(a), "--threshold", "abc"], 2, "--threshold"),
        (["compare", str(a), str(a), "--threshold", "nan%"], 2, "--threshold"),
        (["compare", str(a), str(a), "--threshold", "inf"], 2, "--threshold"),
        (["compare", str(a), str(a), "--alpha", "2"], 2, "--alpha"),
        (["compare", str(a), str(a), "--alpha", "nan"], 2, "--alpha"),
        (["compare", str(a), str(a), "--md", str(tmp_path)], 2, "is a folder"),
        (["compare", str(a), str(a), "--md", "/proc/nope/x.md"], 2, "cannot write --md"),
        (["queries", "explain", "nosuch", "--dsn", NO_SERVER], 2, "unknown query"),
        (["queries", "explain", "list_incidents", "--variant", "zz", "--dsn", NO_SERVER], 2,
         "unknown variant"),
        (["queries", "explain", "list_incidents", "--index", "-1", "--dsn", NO_SERVER], 2, "--index"),
        (["queries", "explain", "list_incidents", "--index", "100000000", "--dsn", NO_SERVER], 2,
         "phases.warm.param_sets"),
        (["crosscheck", "--sets", "0", "--dsn", NO_SERVER], 2, "--sets"),
        (["crosscheck", "--query", "nosuch", "--dsn", NO_SERVER], 2, "is not a query"),
        (["vector", "--scale", "5", "--dsn", NO_SERVER], 2, "dataset.scale"),
        (["vector", "--scale", "abc"], 2, "Invalid value"),
        (["vector", "--stats", "later", "--dsn", NO_SERVER], 2, "later"),
        (["db", "up", "--backend", "mysql"], 2, "allowed: embedded"),
        (["db", "up", "--dsn", "port=abc"], 2, "invalid DSN"),
        (["db", "up", "--dsn", "host=127.0.0.1 port=1 connect_timeout=1"], 3, "cannot connect"),
        (["db", "up", "--backend", "dsn"], 2, "needs --dsn"),
        (["db", "up", "--home", str(afile)], 2, "--home"),
        (["run", "--home", str(afile), "--out", str(tmp_path / "o")], 2, "--home"),
        (["run", "--out", str(afile)], 2, "cannot create the results folder"),
        (["run", "--out", "/proc/ctxbench-nope"], 2, "cannot create the results folder"),
        (["run", "--scenario", "nosuch"], 2, "not found"),
        (["seed", "--scale", "0", "--dsn", NO_SERVER], 2, "scale 0 is not allowed"),
        (["seed", "--scale", "1000", "--anchor", "x", "--dsn", NO_SERVER], 2, "YYYY-MM-DD"),
        (["nosuchcommand"], 2, "No such command"),
        (["--frobnicate"], 2, "No such option"),
    ]
    for args, expected, fragment in cases:
        code, out = cli(monkeypatch, capsys, *args)
        check(code, out, expected, fragment)


def test_empty_dsn_is_an_error_not_the_embedded_server(monkeypatch, capsys) -> None:
    code, out = cli(monkeypatch, capsys, "db", "url", "--dsn", "")
    check(code, out, 2, "--dsn")


# -- cases that need a server ---------------------------------------------------------------------
def test_migrate_switches_variants_on_and_all_off_with_shipped(pg_server: EmbeddedServer,
                                                               monkeypatch, capsys) -> None:
    home, name = str(pg_server.home), f"mig{uuid.uuid4().hex[:6]}"
    code, out = cli(monkeypatch, capsys, "db", "migrate", "--home", home, "--database", name,
                    "--variant", "trace_rollup", "--variant", "count_estimate")
    assert code == 0 and "+trace_rollup" in out and "+count_estimate" in out, out
    code, out = cli(monkeypatch, capsys, "db", "migrate", "--home", home, "--database", name,
                    "--shipped", "--variant", "trace_rollup")
    check(code, out, 2, "--shipped")
    code, out = cli(monkeypatch, capsys, "db", "migrate", "--home", home, "--database", name)
    assert code == 0 and "up to date" in out, out  # no option: the variants stay as they are
    code, out = cli(monkeypatch, capsys, "db", "migrate", "--home", home, "--database", name,
                    "--shipped")
    assert code == 0 and "-trace_rollup" in out and "-count_estimate" in out, out
    with connect(pg_server.dsn(name)) as conn:
        assert conn.execute("SELECT to_regclass('trace_rollup')").fetchone()[0] is None
        assert not conn.execute("SELECT version FROM ctxbench.schema_migrations "
                                "WHERE version LIKE 'variant:%'").fetchall()
    code, out = cli(monkeypatch, capsys, "db", "reset", "--home", home, "--database", name, "--yes")
    assert code == 0, out


def test_database_names_are_quoted_in_the_connection_string(pg_server: EmbeddedServer, monkeypatch,
                                                            capsys) -> None:
    home = str(pg_server.home)
    name = f"x{uuid.uuid4().hex[:6]} dbname=postgres"
    code, out = cli(monkeypatch, capsys, "db", "migrate", "--home", home, "--database", name)
    assert code == 0, out
    with connect(pg_server.dsn("postgres")) as conn:  # the other database was never touched
        assert conn.execute("SELECT to_regnamespace('ctxbench')").fetchone()[0] is None
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    code, out = cli(monkeypatch, capsys, "db", "reset", "--home", home, "--database", name, "--yes")
    assert code == 0, out
    spaced = f"x {uuid.uuid4().hex[:6]}"
    code, out = cli(monkeypatch, capsys, "db", "up", "--home", home, "--database", spaced)
    assert code == 0, out
    code, out = cli(monkeypatch, capsys, "db", "reset", "--home", home, "--database", spaced, "--yes")
    assert code == 0, out


def test_db_reset_of_a_missing_database_is_an_error(pg_server: EmbeddedServer, monkeypatch,
                                                    capsys) -> None:
    code, out = cli(monkeypatch, capsys, "db", "reset", "--home", str(pg_server.home), "--database",
                    "never_created_here", "--yes")
    check(code, out, 2, "does not exist")


def test_an_unknown_server_setting_exits_2_and_leaves_the_server_running(
        pg_server: EmbeddedServer, tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "t"\n[database.settings]\nshared_bufers = "1GB"\n')
    pid = (pg_server.pgdata / "postmaster.pid").read_text().split()[0]
    code, out = cli(monkeypatch, capsys, "run", "--scenario", str(path), "--home", str(pg_server.home),
                    "--out", str(tmp_path / "o"))
    check(code, out, 2, "shared_bufers")
    assert "shared_buffers" in out  # the suggestion
    assert pg_server.is_running()
    assert (pg_server.pgdata / "postmaster.pid").read_text().split()[0] == pid  # never restarted


@pytest.fixture
def foreign_database(pg_server: EmbeddedServer):
    name = f"foreign_{uuid.uuid4().hex[:8]}"
    with connect(pg_server.dsn()) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with connect(pg_server.dsn(name)) as conn:
        conn.execute("CREATE TABLE resource_references (id int, note text)")
        conn.execute("CREATE TABLE resource_action_traces (id int)")
        conn.execute("INSERT INTO resource_references VALUES (1, 'precious')")
    yield name
    with connect(pg_server.dsn()) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_commands_on_foreign_tables_refuse_cleanly(pg_server: EmbeddedServer, foreign_database: str,
                                                   monkeypatch, capsys) -> None:
    home = str(pg_server.home)
    for args in (["queries", "explain", "list_incidents"], ["crosscheck", "--sets", "1"],
                 ["seed", "--scale", "1000", "--replace"], ["db", "migrate"]):
        code, out = cli(monkeypatch, capsys, *args, "--home", home, "--database", foreign_database)
        check(code, out, 2, "did not create")
    with connect(pg_server.dsn(foreign_database)) as conn:
        assert conn.execute("SELECT note FROM resource_references").fetchone()[0] == "precious"


def test_seed_replace_with_a_referencing_user_table(fresh_target, monkeypatch, capsys) -> None:
    from ctxbench.db import migrate

    with fresh_target.connect() as conn:
        migrate.migrate(conn)
        conn.execute("CREATE TABLE my_notes (ref bigint REFERENCES resource_references(id))")
    code, out = cli(monkeypatch, capsys, "seed", "--scale", "1000", "--replace", "--home",
                    str(fresh_target.server.home), "--database", fresh_target.database)
    check(code, out, 2, "my_notes")
