"""Selection strategies applied to the samples that passed the rules (seeded, reproducible).

- ``balanced``: ``n`` samples spread uniformly over task labels (the paper's balance step).
- ``diverse``: DEITA-style — order by a quality score, then keep a sample only if the cosine
  distance of its embedding to every kept sample exceeds ``threshold`` (blocked; no N×N matrix).
- ``top_k``: the ``n`` best by a weighted combination of per-sample scores (each column turned
  into percentile ranks, so scales do not matter; negative weights prefer low values).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl


def quality_score(samples: pl.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Weighted mean of percentile ranks of the given columns (nulls rank lowest).

    >>> df = pl.DataFrame({"a": [1.0, 3.0, 2.0], "b": [30.0, 10.0, 20.0]})
    >>> quality_score(df, {"a": 1.0}).round(3).tolist()
    [0.333, 1.0, 0.667]
    >>> quality_score(df, {"a": 1.0, "b": -1.0}).round(3).tolist()
    [0.333, 1.0, 0.667]
    """
    if not weights:
        raise ValueError("top_k/diverse need weights, e.g. {'matching': 1.0}")
    n = samples.height
    total = np.zeros(n)
    wsum = 0.0
    for col, w in weights.items():
        if col not in samples.columns:
            raise KeyError(f"no per-sample column {col!r} in the report")
        v = samples[col].cast(pl.Float64, strict=False).to_numpy().astype(float)
        v = np.where(np.isnan(v), -np.inf if w > 0 else np.inf, v)
        order = np.argsort(v if w > 0 else -v, kind="stable")
        ranks = np.empty(n)
        ranks[order] = np.arange(1, n + 1) / n
        total += abs(w) * ranks
        wsum += abs(w)
    return total / wsum


def top_k(ids: Sequence[str], scores: np.ndarray, n: int) -> list[str]:
    order = np.argsort(-scores, kind="stable")[:n]
    return [ids[i] for i in sorted(order)]


def diverse(ids: Sequence[str], embeddings: np.ndarray, scores: np.ndarray, *,
            threshold: float, n: int | None = None, block: int = 1024
            ) -> tuple[list[str], dict[str, tuple[str, float]]]:
    """Greedy DEITA-style selection. Returns kept ids and, for each rejected id, the kept
    sample it was too close to and the cosine distance.

    >>> e = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    >>> e /= np.linalg.norm(e, axis=1, keepdims=True)
    >>> kept, why = diverse(["a", "b", "c"], e, np.array([0.9, 0.5, 0.1]), threshold=0.1)
    >>> kept, why["b"][0]
    (['a', 'c'], 'a')
    """
    order = np.argsort(-scores, kind="stable")
    dim = embeddings.shape[1]
    cap = len(ids) if n is None else n
    kept_vecs = np.zeros((min(cap, len(ids)), dim), dtype=np.float32)
    kept_idx: list[int] = []
    why: dict[str, tuple[str, float]] = {}
    max_sim = 1.0 - threshold
    for start in range(0, len(order), block):
        if len(kept_idx) >= cap:
            for i in order[start:]:
                why[ids[i]] = ("", float("nan"))
            break
        cand = order[start : start + block]
        vecs = embeddings[cand].astype(np.float32)
        k0 = len(kept_idx)
        if k0:
            sims = vecs @ kept_vecs[:k0].T
            best = sims.argmax(axis=1)
            best_sim = sims[np.arange(len(cand)), best]
        else:
            best = np.zeros(len(cand), dtype=int)
            best_sim = np.full(len(cand), -np.inf)
        for j, i in enumerate(cand):
            if len(kept_idx) >= cap:
                why[ids[i]] = ("", float("nan"))
                continue
            s_old, b_old = best_sim[j], best[j]
            # compare with what this block already added
            k1 = len(kept_idx)
            if k1 > k0:
                s_new = kept_vecs[k0:k1] @ vecs[j]
                bn = int(s_new.argmax())
                if s_new[bn] > s_old:
                    s_old, b_old = s_new[bn], k0 + bn
            if s_old > max_sim:
                why[ids[i]] = (ids[kept_idx[b_old]], float(1.0 - s_old))
                continue
            kept_vecs[len(kept_idx)] = vecs[j]
            kept_idx.append(int(i))
    kept = [ids[i] for i in sorted(kept_idx)]
    return kept, why
