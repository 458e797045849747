"""PostgreSQL's binary COPY format, encoded in bulk with numpy instead of value by value.

A binary COPY stream is a signature, then per row an int16 field count and per field an int32
length (-1 = NULL) followed by the value's binary form, then an int16 -1 trailer. Dumping
each value from Python (psycopg's ``write_row``) costs microseconds per value and caps a
loader at ~40 % of what the server can ingest. Here fixed-width fields are laid out as numpy
structured arrays (one ``tobytes()`` per chunk), categorical fields are lookups into tables
of pre-encoded fields, and a chunk's rows are assembled by one ``bytes.join`` over the
per-row pieces.

Binary forms used: int8/int4 big-endian; timestamptz = int64 µs since 2000-01-01 UTC;
text/varchar = UTF-8 bytes; jsonb = version byte 1 + JSON text; numeric = psycopg's own
dumper (pre-encoded once per distinct value); vector = int16 dim, int16 0, dim × float4 BE.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import chain
from typing import Any

import numpy as np
from psycopg.types.numeric import DecimalBinaryDumper

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_BASE36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def field(data: bytes | None) -> bytes:
    """One field: int32 length + data, or the NULL marker."""
    if data is None:
        return NULL
    return struct.pack(">i", len(data)) + data


def text_field(value: str | None) -> bytes:
    return field(None if value is None else value.encode())


def jsonb_field(value: Any) -> bytes:
    if value is None:
        return NULL
    return field(b"\x01" + json.dumps(value, separators=(", ", ": ")).encode())


def table(items: Iterable[bytes]) -> np.ndarray:
    """An object array of pre-encoded fields, indexable by numpy integer arrays."""
    items = list(items)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def numeric_fields(scale: int, count: int) -> np.ndarray:
    """Fields for the numerics 0, 10^-scale, ..., (count-1)·10^-scale with that display scale."""
    dumper = DecimalBinaryDumper(Decimal)
    q = Decimal(1).scaleb(-scale)

    def dumped(value: Decimal) -> bytes:
        out = dumper.dump(value)
        if out is None:  # a dumper returns None only for SQL NULL, never for a Decimal
            raise ValueError(f"numeric {value} has no binary form")
        return bytes(out)

    return table(field(dumped((Decimal(i) * q).quantize(q))) for i in range(count))


def lookup(tbl: np.ndarray, idx: np.ndarray) -> list[bytes]:
    return tbl[idx].tolist()


def rows_of(buf: bytes, width: int) -> list[bytes]:
    """Split a contiguous block of fixed-width rows into per-row pieces."""
    return [buf[i:i + width] for i in range(0, len(buf), width)]


def length_prefixes(lengths: np.ndarray) -> list[bytes]:
    """Per-row int32 big-endian length headers."""
    return rows_of(lengths.astype(">i4").tobytes(), 4)


def nullable(pieces: Sequence[bytes], present: np.ndarray) -> list[bytes]:
    """Replace the pieces of rows where ``present`` is false by the NULL marker."""
    return [p if ok else NULL for p, ok in zip(pieces, present.tolist(), strict=True)]


def nullable_fixed(values: np.ndarray, dtype: str, present: np.ndarray) -> list[bytes]:
    """A nullable fixed-width column (e.g. timestamptz as '>i8') as per-row field pieces."""
    size = np.dtype(dtype).itemsize
    rec = np.empty(len(values), dtype=[("len", ">i4"), ("v", dtype)])
    rec["len"] = size
    rec["v"] = values
    return nullable(rows_of(rec.tobytes(), 4 + size), present)


def hex_ascii(values: np.ndarray, digits: int = 16) -> np.ndarray:
    """uint64 values as lowercase hex, shape (n, digits) of ASCII bytes (leading digits kept)."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    out = np.empty((len(values), 16), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    return out[:, :digits]


def uuid_ascii(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Two uint64 arrays as 8-4-4-4-12 hex strings, shape (n, 36) of ASCII bytes."""
    h = np.concatenate([hex_ascii(hi), hex_ascii(lo)], axis=1)
    out = np.full((len(hi), 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = h[:, 0:8], h[:, 8:12], h[:, 12:16]
    out[:, 19:23], out[:, 24:36] = h[:, 16:20], h[:, 20:32]
    return out


def base36_ascii(values: np.ndarray, digits: int) -> np.ndarray:
    """Non-negative integers as zero-padded base-36, shape (n, digits) of ASCII bytes."""
    v = values.astype(np.uint64).copy()
    out = np.empty((len(values), digits), dtype=np.uint8)
    for pos in range(digits - 1, -1, -1):
        out[:, pos] = _BASE36[(v % np.uint64(36)).astype(np.intp)]
        v //= np.uint64(36)
    return out


def ascii_strings(arr: np.ndarray) -> list[str]:
    """Rows of an (n, k) ASCII byte array as Python strings."""
    return arr.view(f"S{arr.shape[1]}").ravel().astype(str).tolist()


def assemble(pieces: Sequence[Sequence[bytes]]) -> bytes:
    """Rows from per-column piece lists (all of equal length): one join over all of them."""
    return b"".join(chain.from_iterable(zip(*pieces, strict=True)))


def vector_header(dim: int) -> bytes:
    return struct.pack(">ihh", 4 + 4 * dim, dim, 0)


def copy_statement(table: str, columns: Sequence[str], *, binary: bool = True) -> str:
    """The one COPY ... FROM STDIN statement ctxbench sends: the table, its columns in the order
    the rows carry them, and the format (binary for the encoded streams, text for psycopg's
    ``write_row``)."""
    fmt = " (FORMAT BINARY)" if binary else ""
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN{fmt}"
