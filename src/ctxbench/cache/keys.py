"""The service's cache keys (``query/executor.go`` at 9e4ce2b2), reproduced byte for byte.

- list: ``incidents:list[:ns=<ns>][:sev=<sev>]:limit=<n>:offset=<m>``;
- get-by-id: ``incident:<id>``;
- semantic search: ``semantic:hash=<hex>:limit=<n>:threshold=<%.2f>`` where ``<hex>`` is not a
  hash: it is the hex of the text Go prints for the first 8 floats (``fmt.Sprintf("%v",
  embedding[:8])``, e.g. ``[0.1 -0.02 1e-05 ...]``). Two vectors that agree on their first 8
  floats share a key (and an answer), and the key is ~150 characters long.
- aggregations are never cached (``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ctxbench.errors import UsageError

# The service's cached executor only knew these parameters; anything else would be served
# from a key that ignores it (a wrong answer), so the read path refuses it.
LIST_PARAMS = frozenset({"namespace", "severity", "limit", "offset"})
SEMANTIC_PARAMS = frozenset({"embedding", "threshold", "limit"})
GET_PARAMS = frozenset({"id"})
CACHED_QUERIES = ("list_incidents", "get_incident", "semantic_search")


def go_float32(value: float) -> str:
    """Go's ``%v`` of a float32: the shortest digits that round-trip as float32, in ``%e`` form
    when the decimal exponent is < -4 or >= 6 (strconv's 'g' with shortest precision), e.g.
    ``0.1``, ``-0.000123``, ``1.5e-05``, ``1e+06``."""
    f = np.float32(value)
    if np.isnan(f):
        return "NaN"
    if np.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if np.signbit(f) else "0"
    sci = np.format_float_scientific(f, unique=True, trim="-", exp_digits=2)
    mantissa, exp_text = sci.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    exp = int(exp_text)
    if exp < -4 or exp >= 6:
        frac = digits[1:]
        return f"{sign}{digits[0]}{'.' + frac if frac else ''}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, frac = digits[:exp + 1], digits[exp + 1:]
    whole = whole + "0" * (exp + 1 - len(whole))
    return f"{sign}{whole}{'.' + frac if frac else ''}"


def go_format_2f(value: float) -> str:
    """``%.2f`` of a float32 (the threshold): the float32 value rounded, as Go does."""
    return f"{float(np.float32(value)):.2f}"


def list_key(params: Mapping[str, Any]) -> str:
    parts = ["incidents:list"]
    if params.get("namespace") is not None:
        parts.append(f"ns={params['namespace']}")
    if params.get("severity") is not None:
        parts.append(f"sev={params['severity']}")
    parts.append(f"limit={int(params['limit'])}")
    parts.append(f"offset={int(params['offset'])}")
    return ":".join(parts)


def incident_key(params: Mapping[str, Any]) -> str:
    return f"incident:{int(params['id'])}"


def semantic_key(params: Mapping[str, Any]) -> str:
    vec = np.asarray(params["embedding"], dtype=np.float32)
    printed = "[" + " ".join(go_float32(x) for x in vec[:8]) + "]"
    return (f"semantic:hash={printed.encode().hex()}:limit={int(params['limit'])}"
            f":threshold={go_format_2f(params['threshold'])}")


def check_params(query: str, params: Mapping[str, Any]) -> None:
    """The cached executor took only the parameters its key covers; refuse the rest."""
    allowed = {"list_incidents": LIST_PARAMS, "semantic_search": SEMANTIC_PARAMS,
               "get_incident": GET_PARAMS}.get(query)
    if allowed is None:
        return
    extra = sorted(k for k, v in params.items() if v is not None and k not in allowed)
    if extra:
        raise UsageError(f"{query} through the cache: parameter(s) {', '.join(extra)} are not "
                         f"part of the service's cache key (it took only {', '.join(sorted(allowed))}); "
                         "use the sampler mix 'service'")


def cache_key(query: str, params: Mapping[str, Any]) -> str | None:
    """The key the service used, or None for a query it never cached (aggregations)."""
    if query == "list_incidents":
        return list_key(params)
    if query == "get_incident":
        return incident_key(params)
    if query == "semantic_search":
        return semantic_key(params)
    return None
