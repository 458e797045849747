"""The life of one results folder, shared by `ctxbench run`, `ctxbench vector` and `ctxbench load`.

Start: a run id, the folder, meta.json written before anything can fail. Middle: the server
and database, the dataset (reused or loaded), the server's facts, the dataset profile. End:
autovacuum restored, meta.json finalised (complete or incomplete), reports built from the
folder, and a failure re-raised with the folder's path, so partial results are never lost.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from ctxbench import __version__, signals
from ctxbench.datagen.generator import DatasetOptions, current_dataset, seed_dataset
from ctxbench.db import control, locks
from ctxbench.db.connect import server_facts
from ctxbench.db.dsn import mask_password
from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.migrate import migrate
from ctxbench.db.target import Target, make_server, open_target
from ctxbench.errors import CtxbenchError, InfraError
from ctxbench.measure.environment import git_revision, machine_facts
from ctxbench.queries import DatasetProfile, ParamSampler
from ctxbench.results import ResultsDir, RunMeta
from ctxbench.results.model import utc_now
from ctxbench.scenario import Scenario

if TYPE_CHECKING:
    from ctxbench.measure.phases import Progress

ANCHOR_REUSE_DAYS = 7


def run_id_for(scenario: Scenario) -> str:
    """UTC time to the millisecond plus a 32-bit random suffix: 200 runs started in the same
    millisecond share an id with probability ~5e-6 (16 bits gave ~26 %); ``create_results``
    creates the folder exclusively, so two runs never share one whatever the id."""
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]+', '-', scenario.name)}-{secrets.token_hex(4)}"


def create_results(scenario: Scenario, out_dir: Path | None) -> tuple[str, ResultsDir]:
    """A new run id and its results folder, created exclusively (never shared with another run)."""
    for _ in range(5):
        run_id = run_id_for(scenario)
        try:
            return run_id, ResultsDir(Path(out_dir or scenario.output.dir) / run_id).create(exclusive=True)
        except FileExistsError:
            continue
    raise InfraError(f"could not create a new results folder under {out_dir or scenario.output.dir}")


def start(scenario: Scenario, kind: str, out_dir: Path | None,
          extra: dict[str, Any]) -> tuple[ResultsDir, RunMeta]:
    """Check every name in the scenario, then create the results folder and write meta.json
    before anything can fail."""
    from ctxbench.runs.validate import check_scenario

    check_scenario(scenario, kind)
    run_id, results = create_results(scenario, out_dir)
    meta = RunMeta(run_id=run_id, kind=kind, scenario_name=scenario.name,
                   scenario_text=mask_password(scenario.text),
                   started_at=utc_now(), ctxbench_version=__version__, git_sha=git_revision(),
                   machine=machine_facts(), budgets=scenario.resolved_budgets(), extra=extra)
    results.write_meta(meta)
    return results, meta


def open_scenario_target(scenario: Scenario, meta: RunMeta, *, dsn: str | None,
                         home: Path | None) -> Target:
    """The scenario's server and database (a --dsn overrides the scenario's backend)."""
    backend = "dsn" if dsn else scenario.database.backend
    server = make_server(backend, dsn=dsn or scenario.database.dsn, home=home,
                         settings=scenario.database.settings)
    # one run at a time per server: the embedded home is locked before the server is brought
    # up (new settings would restart it under a running measurement)
    lock = locks.lock_home(server.home) if isinstance(server, EmbeddedServer) else None
    try:
        target = open_target(server, scenario.database_name if backend != "dsn" else None)
        if lock is None and target.kind == "dsn":
            lock = locks.lock_database(target.dsn, f"database {target.database!r} on {target.masked_dsn}")
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    if lock is not None:
        _HELD[id(target)] = lock
    meta.backend, meta.target = target.kind, target.masked_dsn
    return target


_HELD: dict[int, locks.RunLock] = {}


def release(target: Target | None) -> None:
    """Let the next run have the server (idempotent)."""
    if target is not None and (lock := _HELD.pop(id(target), None)) is not None:
        lock.release()


def record_dataset(meta: RunMeta, dataset: dict[str, Any], fresh: bool) -> None:
    meta.dataset = {**dataset.get("params", {}), "checksum": dataset.get("checksum"),
                    "freshly_loaded": fresh, "load": dataset.get("summary", {})}
    if dataset.get("snapshot"):
        meta.dataset["snapshot"] = dataset["snapshot"]
    anchor = dataset.get("params", {}).get("anchor")
    if anchor:
        age = (dt.datetime.now(dt.UTC).date() - dt.date.fromisoformat(str(anchor))).days
        if age > ANCHOR_REUSE_DAYS:
            meta.extra.setdefault("warnings", []).append(
                f"the dataset's time range ends {age} days ago ({anchor}): the windows of the "
                "queries relative to NOW() (trend, top failing actions, action comparison, namespace "
                "health) are drawn relative to the data (extra.windows) unless queries.windows = "
                "'now', where they return little or nothing")


def windowed_sampler(scenario: Scenario, profile: DatasetProfile, meta: RunMeta,
                     workload: list[tuple[Any, str]], results: ResultsDir) -> ParamSampler:
    """The run's parameter sampler, its NOW()-relative windows checked against the data (a
    UsageError naming the query and allowed range where no window can reach it) and the shift
    recorded in meta.json (``extra.windows``)."""
    sampler = ParamSampler(profile, scenario.sampler_seed, surface=scenario.queries.surface,
                           mix=scenario.queries.mix, windows=scenario.queries.windows)
    names = list(dict.fromkeys(q.name for q, _ in workload))
    warnings = sampler.check_windows(names)
    meta.extra["windows"] = sampler.window_info()
    if warnings:
        meta.extra.setdefault("warnings", []).extend(warnings)
    results.write_meta(meta)
    return sampler


def record_windows(sampler: ParamSampler, meta: RunMeta) -> None:
    """After sampling: how many windows the allowed range clipped, per query."""
    meta.extra["windows"] = sampler.window_info()


def dataset_options(scenario: Scenario) -> DatasetOptions:
    d = scenario.dataset
    return DatasetOptions(scale=d.scale, seed=d.seed, months=d.months,
                          anchor=dt.date.fromisoformat(d.anchor) if d.anchor else None,
                          severities=d.severities, default_partition=d.default_partition,
                          embedding_profile=d.embedding_profile)


def _reusable(existing: dict[str, Any] | None, wanted: DatasetOptions, anchor_given: bool
              ) -> TypeGuard[dict[str, Any]]:
    if not existing or existing.get("state") != "loaded":
        return False  # nothing there, or an interrupted load: reload
    have = dict(existing["params"])
    want = wanted.resolved().params()
    if anchor_given:
        return have == want
    anchor = have.get("anchor")
    have.pop("anchor", None)
    want.pop("anchor", None)
    if have != want or not anchor:
        return False
    age = (dt.datetime.now(dt.UTC).date() - dt.date.fromisoformat(str(anchor))).days
    return age <= ANCHOR_REUSE_DAYS


def prepare_dataset(target: Target, scenario: Scenario, progress: Progress,
                    schema_variants: list[str] | None = None) -> tuple[dict, bool]:
    """Reuse a matching dataset, restore it from a snapshot (``dataset.snapshot``) or (re)load
    one. Returns (dataset info, freshly loaded?).

    The schema gets the scenario's variants plus ``schema_variants`` (what the measured query
    variants need)."""
    options = dataset_options(scenario)
    snapshots = scenario.dataset.snapshot and target.kind != "dsn"
    with target.connect() as conn:
        wanted = list(scenario.database.schema_variants)
        wanted += [v for v in schema_variants or [] if v not in wanted]
        migrate(conn, where=f"database {target.database!r}", variants=wanted)
        existing = current_dataset(conn)
        if _reusable(existing, options, scenario.dataset.anchor is not None):
            progress.log(f"reusing dataset {existing['checksum'][:12]} ({existing['params']})")
            return existing, False
    if snapshots:
        restored = _restore_snapshot(target, scenario, options, wanted, progress)
        if restored is not None:
            return restored, False
    with target.connect() as conn:
        progress.log(f"loading dataset: {scenario.dataset.scale} traces, seed {scenario.dataset.seed}")
        summary = seed_dataset(conn, options, replace=existing is not None, analyze=False)
        control.note_fresh_tables(conn)
        info = current_dataset(conn) or {"summary": summary.to_json()}
    if snapshots:
        from ctxbench.datagen import snapshot

        snap, made = snapshot.save(target)
        info["snapshot"] = {"saved": made, **snap.to_json()}
        progress.log(f"snapshot {snap.name} {'saved' if made else 'already there'} "
                     f"({snap.save_seconds:.1f} s, {snap.size_bytes / 2**30:.2f} GiB)")
    return info, True


def _restore_snapshot(target: Target, scenario: Scenario, options: DatasetOptions,
                      variants: list[str], progress: Progress) -> dict | None:
    """Restore the newest snapshot whose dataset this scenario would reuse (same key; or, with
    no fixed anchor, same parameters and an anchor at most ANCHOR_REUSE_DAYS old)."""
    from ctxbench.datagen import snapshot

    anchored = scenario.dataset.anchor is not None
    candidates = [s for s in snapshot.list_snapshots(target)
                  if s.key == snapshot.dataset_key(s.params, variants)
                  and _reusable({"state": "loaded", "params": s.params}, options, anchored)]
    if not candidates:
        return None
    snap = max(candidates, key=lambda s: s.params.get("anchor", ""))
    progress.log(f"restoring dataset from snapshot {snap.name} ({snap.size_bytes / 2**30:.2f} GiB)")
    timing = snapshot.restore(target, snap.key)
    progress.log(f"restored in {timing['copy_seconds']:.1f} s, checksum verified in "
                 f"{timing['verify_seconds']:.1f} s")
    with target.connect() as conn:
        info = current_dataset(conn)
    if info is None:
        raise InfraError(f"snapshot {snap.name} holds no dataset record")
    info["snapshot"] = {"restored": True, **timing}
    return info


def prepare_data(target: Target, scenario: Scenario, results: ResultsDir, meta: RunMeta, progress: Progress,
                 *, schema_variants: list[str] | None = None) -> tuple[dict, bool, DatasetProfile]:
    """Dataset reused or loaded, recorded in meta.json; server facts; the dataset profile."""
    dataset, fresh = prepare_dataset(target, scenario, progress, schema_variants)
    record_dataset(meta, dataset, fresh)
    return dataset, fresh, describe_server(target, results, meta)


def describe_server(target: Target, results: ResultsDir, meta: RunMeta) -> DatasetProfile:
    """Server facts into meta.json, the dataset profile into profile.json (it is large)."""
    with target.connect() as conn:
        meta.server = server_facts(conn)
        profile = DatasetProfile.from_database(conn)
    results.write_json("profile.json", profile.to_json())
    results.write_meta(meta)
    return profile


def finish(results: ResultsDir, meta: RunMeta, target: Target | None, error: BaseException | None,
           *, strict: bool, what: str = "run"):
    """Finalise meta.json, build the reports, and re-raise a failure naming the folder."""
    from ctxbench.report.build import build_reports

    if isinstance(error, KeyboardInterrupt):
        meta.error = signals.describe(error)  # SIGINT or SIGTERM: the report says so
    elif error is not None:
        meta.error = f"{type(error).__name__}: {error}"
    if target is not None:
        restored = restore_server_state(target)
        if restored:
            meta.extra["restored"] = restored
    release(target)
    results.close()
    meta.ended_at = utc_now()
    meta.status = "incomplete" if error else "complete"
    try:
        results.write_meta(meta)
        reports = build_reports(results.path, strict=strict)
    except InfraError as exc:  # the results folder cannot take more (disk full, I/O error)
        first = f"; the {what} had stopped on: {meta.error}" if error is not None else ""
        raise InfraError(f"{exc}; no report was written{first}"[:1000]) from exc
    if error is None:
        return reports
    if isinstance(error, KeyboardInterrupt):
        raise error
    if isinstance(error, CtxbenchError):
        error.args = (f"{error} (partial results and report in {results.path})",)
        raise error
    raise InfraError(f"{what} failed: {type(error).__name__}: {error} "
                     f"(partial results and report in {results.path})") from error


def _bring_back(server: EmbeddedServer, attempts: int = 6) -> None:
    """Start a stopped embedded server again. After a crash its orphaned backends may still hold
    the shared memory for a moment, so a failed start is retried a few times, then re-raised."""
    for attempt in range(attempts):
        try:
            server.up()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def restore_server_state(target: Target) -> list[str] | str:
    """Put back what this run (or an earlier, crashed one) changed on ctxbench's own tables —
    each table's autovacuum setting as it was, statistics it cleared — and nothing else."""
    try:
        if isinstance(target.server, EmbeddedServer) and not target.server.is_running():
            _bring_back(target.server)  # killed, or an interrupted cold-start restart left it stopped
        with target.connect() as conn:
            return control.restore(conn)
    except Exception as exc:  # the server may be gone: say so, the run's own error comes first
        return f"could not restore the server state: {type(exc).__name__}: {exc}"
