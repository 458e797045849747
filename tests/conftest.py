"""Shared fixtures: one real embedded PostgreSQL server per test session.

The server lives in a throwaway folder (under /var/tmp when root, so the unprivileged server
user can reach it) on a free port, with small memory settings, and is stopped at the end.
Tests that need data share one small seeded dataset; tests that change the schema or data
get their own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from servers import own_embedded_server

from ctxbench.db.embedded import EmbeddedServer
from ctxbench.db.target import Target, drop_database, open_target

# The shared dataset: small enough for CI (<= 20k traces), big enough for distributions.
DATASET_SCALE = int(os.environ.get("CTXBENCH_TEST_SCALE", "5000"))
DATASET_SEED = 20251021


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    with own_embedded_server("ctxbench-test-") as server:
        yield server


@pytest.fixture
def fresh_target(pg_server: EmbeddedServer) -> Iterator[Target]:
    """An empty database of its own, created (and owned) by ctxbench, dropped afterwards."""
    target = open_target(pg_server, f"t_{uuid.uuid4().hex[:10]}")
    try:
        yield target
    finally:
        drop_database(target)


@pytest.fixture(scope="session")
def dataset_target(pg_server: EmbeddedServer) -> Target:
    """The shared small dataset: migrated, seeded, indexed and analyzed. Read-only for tests."""
    from ctxbench.datagen.generator import DatasetOptions, seed_dataset

    target = open_target(pg_server, "dataset")
    with target.connect() as conn:  # seed_dataset ends with VACUUM (ANALYZE)
        seed_dataset(conn, DatasetOptions(scale=DATASET_SCALE, seed=DATASET_SEED), replace=True)
    return target
