"""Server settings: benchmark defaults for the embedded server, and scenario overrides.

Why these defaults: the workload's service asked for shared_buffers >= 1 GB; loads and HNSW
builds need maintenance memory; two cores leave one parallel maintenance worker; JIT adds
compile noise to short queries; track_io_timing makes EXPLAIN report read time, which is
what separates cold from warm in a plan.
"""

from __future__ import annotations

from collections.abc import Mapping

BENCHMARK_DEFAULTS: dict[str, str] = {
    "shared_buffers": "1GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "1",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "synchronous_commit": "off",
    "jit": "off",
    "track_io_timing": "on",
    "shared_preload_libraries": "pg_stat_statements,pg_prewarm",
    "pg_prewarm.autoprewarm": "off",
    "pg_stat_statements.track": "top",
    "pg_stat_statements.max": "10000",
    "huge_pages": "off",
}

# Settings ctxbench itself controls; a scenario may not override them.
RESERVED = frozenset({"listen_addresses", "port", "unix_socket_directories", "data_directory"})


def merged(overrides: Mapping[str, object] | None) -> dict[str, str]:
    """Defaults with scenario overrides applied, as strings PostgreSQL will parse."""
    out = dict(BENCHMARK_DEFAULTS)
    for key, value in (overrides or {}).items():
        if isinstance(value, bool):
            out[key] = "on" if value else "off"
        else:
            out[key] = str(value)
    return out


def render_conf(settings: Mapping[str, str]) -> str:
    """postgresql.conf lines; values are always quoted so lists and units survive."""
    lines = ["# Written by ctxbench; edits are overwritten on the next `ctxbench db up`."]
    for key in sorted(settings):
        value = settings[key].replace("'", "''")
        lines.append(f"{key} = '{value}'")
    return "\n".join(lines) + "\n"
