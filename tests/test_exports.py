"""Exports validated against each format's documented shape: github-action-benchmark's custom
JSON, the Bencher Metric Format (its published JSON schema), and the raw EXPLAIN array."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from cli_helpers import cli

from ctxbench.analysis.synthetic import index_plan, lognormal_ms, seq_plan, write_run
from ctxbench.report.build import build_reports

# https://bencher.dev/docs/reference/bencher-metric-format (schema as published there)
BMF_SCHEMA = {
    "$id": "https://bencher.dev/bmf.json",
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "patternProperties": {".+": {
        "type": "object",
        "patternProperties": {".+": {
            "type": "object",
            "properties": {"value": {"type": "number"}, "lower_value": {"type": "number"},
                           "upper_value": {"type": "number"}},
            "required": ["value"]}}}}}

# github-action-benchmark README, "Examples → Custom benchmarks": tool customSmallerIsBetter
# reads a JSON array of {name, unit, value} with optional range and extra (text).
GAB_SCHEMA = {
    "type": "array", "minItems": 1,
    "items": {"type": "object", "required": ["name", "unit", "value"],
              "properties": {"name": {"type": "string"}, "unit": {"type": "string"},
                             "value": {"type": "number"}, "range": {"type": "string"},
                             "extra": {"type": "string"}},
              "additionalProperties": False}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "run"
    write_run(path, groups={("warm", "list_incidents", "as_shipped"): (lognormal_ms(7), 200),
                            ("cold", "list_incidents", "as_shipped"): (lognormal_ms(200), 20),
                            ("hnsw_warmup", "semantic_search", "as_shipped"):
                                (lognormal_ms(30), 20)},
              labels={("hnsw_warmup", "semantic_search", "as_shipped"): {"prewarm": "none"}},
              plans={("warm", "list_incidents", "as_shipped"): index_plan(),
                     ("cold", "list_incidents", "as_shipped"): seq_plan(read=400)},
              errors={("warm", "list_incidents", "as_shipped"): 3})
    build_reports(path)
    return path


def test_github_action_benchmark_custom_json(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    code, out = cli(monkeypatch, capsys, "export", str(folder), "--format",
                    "github-action-benchmark")
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, GAB_SCHEMA)
    summary = json.loads((folder / "summary.json").read_text())
    warm = next(g for g in summary["groups"] if g["phase"] == "warm")
    entry = next(e for e in data if e["name"] == "list_incidents[as_shipped]/warm p95")
    assert entry["unit"] == "ms" and entry["value"] == warm["latency_ms"]["p95"]["value"]
    assert entry["range"].startswith("± ")
    names = [e["name"] for e in data]
    assert len(names) == len(set(names))  # the action keys series by name
    assert "semantic_search[as_shipped]/hnsw_warmup{prewarm=none} p95" in names
    rate = next(e for e in data if e["name"] == "list_incidents[as_shipped]/warm error rate")
    assert rate["unit"] == "%" and rate["value"] == pytest.approx(
        warm["error_rate"]["value"] * 100)


def test_bencher_metric_format(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture) -> None:
    out_file = tmp_path / "bmf.json"
    code, _ = cli(monkeypatch, capsys, "export", str(folder), "-f", "bencher", "-o",
                  str(out_file))
    assert code == 0
    data = json.loads(out_file.read_text())
    jsonschema.validate(data, BMF_SCHEMA)
    m = data["list_incidents[as_shipped]/warm"]["p95-ms"]
    assert m["lower_value"] <= m["value"] <= m["upper_value"]
    # 20 cold samples bound a p95 from below only: no upper_value rather than a made-up one
    summary = json.loads((folder / "summary.json").read_text())
    cold = next(g for g in summary["groups"] if g["phase"] == "cold")["latency_ms"]["p95"]
    assert cold["hi"] is None and "upper_value" not in data["list_incidents[as_shipped]/cold"][
        "p95-ms"]
    # the 3 failed executions count as the slowest: the p99 is among them, not a number
    warm = next(g for g in summary["groups"] if g["phase"] == "warm")["latency_ms"]
    assert warm["p99"]["value"] is None
    assert set(data["list_incidents[as_shipped]/warm"]) == {"p50-ms", "p95-ms", "error-rate"}
    assert "p99-ms" in data["list_incidents[as_shipped]/cold"]
    assert all(len(measure) <= 64 for b in data.values() for measure in b)  # Bencher's limit
    with pytest.raises(jsonschema.ValidationError):  # the schema does reject a bad shape
        jsonschema.validate({"b": {"m": {"lower_value": 1}}}, BMF_SCHEMA)


def test_export_errors(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture) -> None:
    code, out = cli(monkeypatch, capsys, "export", str(folder), "-f", "csv")
    assert code == 2 and "github-action-benchmark, bencher" in out
    code, out = cli(monkeypatch, capsys, "export", str(tmp_path / "nope"), "-f", "bencher")
    assert code == 2 and "nope" in out


def test_plans_show_raw_is_the_explain_array(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    code, out = cli(monkeypatch, capsys, "plans", "show", str(folder), "--raw", "--query",
                    "list_incidents", "--phase", "cold")
    assert code == 0
    data = json.loads(out)
    # what pev2 / explain.dalibo.com take: [ {"Plan": {...}, "Planning Time": ..., ...} ]
    assert isinstance(data, list) and len(data) == 1
    assert data[0]["Plan"]["Node Type"] == "Limit" and "Execution Time" in data[0]
    saved = json.loads((folder / "plans").joinpath(
        "cold__list_incidents__as_shipped.json").read_text())
    assert data == saved["plan"]
    code, out = cli(monkeypatch, capsys, "plans", "show", str(folder), "--raw")
    assert code == 2 and "2 match" in out
    path = folder / "plans" / "cold__list_incidents__as_shipped.json"
    code, out = cli(monkeypatch, capsys, "plans", "show", str(path), "--raw")
    assert code == 0 and json.loads(out) == saved["plan"]
