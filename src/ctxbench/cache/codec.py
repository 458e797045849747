"""What the service put in its cache: Go's ``json.Marshal`` of its answer, at most 5 MB.

Shapes (``query/executor.go``): a list page is ``{"incidents": [...], "total": N}``, a
get-by-id is one incident, a semantic search is ``{"Incidents": [...], "Scores": [...]}``
(an anonymous struct without JSON tags). Incidents follow ``models.IncidentEvent``: strings
(NULL read as ""), RFC 3339 times, ``end_time``/``duration``/``error_message``/``embedding``
omitted when empty, and for a semantic search the full 384-float embedding of every row,
printed as float32 (shortest round-trip digits). The value size and the decode cost on a hit
follow from that, so it is reproduced, not approximated with Python's own float text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

MAX_VALUE_BYTES = 5 * 1024 * 1024  # cache.DefaultMaxValueSize

STRING_FIELDS = ("name", "alert_fingerprint", "remediation_request_id", "namespace", "cluster_name",
                 "environment", "target_resource", "phase", "status", "severity", "action_type")


class ValueTooLarge(ValueError):
    """The service rejected values over 5 MB: nothing is cached, the answer is still served."""


def go_time(value: datetime | None) -> str | None:
    """time.Time's JSON (RFC 3339 with nanoseconds, trailing zeros dropped, UTC as Z)."""
    if value is None:
        return None
    v = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = v.strftime("%Y-%m-%dT%H:%M:%S")
    if v.microsecond:
        text += "." + f"{v.microsecond:06d}".rstrip("0")
    return text + "Z"


def float32_list(values: Any) -> list[float]:
    """float32 values as Python floats whose repr is the float32's shortest text (as Go prints)."""
    arr = np.asarray(values, dtype=np.float32)
    return [float(s) for s in arr.astype(str)]


def incident_event(item: Mapping[str, Any]) -> dict[str, Any]:
    """One incident dict of the query core in ``models.IncidentEvent``'s JSON shape."""
    out: dict[str, Any] = {"id": int(item["id"])}
    for key in ("name", "alert_fingerprint", "remediation_request_id", "namespace", "cluster_name",
                "environment", "target_resource", "phase", "status", "severity", "action_type"):
        out[key] = item.get(key) or ""
    out["start_time"] = go_time(item.get("start_time"))
    if item.get("end_time") is not None:
        out["end_time"] = go_time(item["end_time"])
    if item.get("duration") is not None:
        out["duration"] = int(item["duration"])
    if item.get("error_message") is not None:
        out["error_message"] = item["error_message"]
    out["metadata"] = item.get("metadata") or ""
    if item.get("embedding") is not None and len(item["embedding"]):
        out["embedding"] = float32_list(item["embedding"])
    out["created_at"] = go_time(item.get("created_at"))
    out["updated_at"] = go_time(item.get("updated_at"))
    return out


def list_value(incidents: Sequence[Mapping[str, Any]], total: int) -> dict[str, Any]:
    return {"incidents": [incident_event(i) for i in incidents], "total": int(total)}


def semantic_value(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Incidents": [incident_event(r) for r in rows],
            "Scores": float32_list([r["similarity"] for r in rows])}


def encode(value: Any, max_bytes: int = MAX_VALUE_BYTES) -> bytes:
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if max_bytes > 0 and len(data) > max_bytes:
        raise ValueTooLarge(f"object size ({len(data)} bytes) exceeds maximum size ({max_bytes} bytes)")
    return data


def decode(data: bytes) -> Any:
    return json.loads(data)
