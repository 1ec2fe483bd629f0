"""Selection strategies applied to the samples that passed the rules (seeded, reproducible).

Strategies are registered by name like scorers (:func:`register_strategy`; a duplicate name is
refused) and built from the same shape of configuration: ``{"name": "top_k", "n": 1000,
"weights": {...}}`` — keyword-only constructor arguments, so a misspelled option fails with the
valid ones listed (:func:`create_strategy`).

- ``balanced``: ``n`` samples spread uniformly over task labels (the paper's balance step).
- ``diverse``: DEITA-style — order by a quality score, then keep a sample only if the cosine
  distance of its embedding to every kept sample exceeds ``threshold`` (blocked; no N×N matrix).
- ``top_k``: the ``n`` best by a weighted combination of per-sample scores (each column turned
  into percentile ranks, so scales do not matter; negative weights prefer low values).
- ``quota``: at most ``per_task`` samples per task, best first (random when no weights).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from vlitq.config import ConfigError
from vlitq.registry import Component

_STRATEGIES: dict[str, type] = {}


@dataclass
class StrategyContext:
    """What a strategy sees: the samples still in after the rules.

    Attributes
    ----------
    samples : polars.DataFrame
        The report's per-sample rows of the candidates, in dataset order.
    rows : list of int
        Each candidate's row in the dataset (and the report): its identity, unique even when
        sample ids collide.
    labels : list of str
        Each candidate's task label ("all" when the report has none).
    dataset : Dataset or None
        The scored dataset (``diverse`` needs its texts).
    seed : int
        The filter's seed (a strategy's own ``seed`` wins when set).
    """

    samples: pl.DataFrame
    rows: list[int]
    labels: list[str]
    dataset: Any = None
    seed: int = 0

    def __len__(self) -> int:
        return len(self.rows)


class Strategy(Component):
    """Base class of selection strategies.

    :meth:`select` returns the positions (0-based, into the context's candidates) of the
    samples kept and, for dropped positions, the reason (a default reason covers the rest).
    """

    kind: ClassVar[str] = "strategy"

    def select(self, ctx: StrategyContext) -> tuple[list[int], dict[int, str]]:
        raise NotImplementedError

    def default_reason(self) -> str:
        return f"not selected by {self.name}"

    def spec(self) -> dict[str, Any]:
        """The strategy as configuration (what the manifest records)."""
        return {"name": self.name, **{k: v for k, v in self.get_params().items()
                                      if v is not None}}


def register_strategy(cls: type) -> type:
    """Class decorator adding a selection strategy; a duplicate name fails.

    >>> @register_strategy
    ... class _First(Strategy):
    ...     name = "_first_doctest"
    ...     def __init__(self, *, n: int = 1):
    ...         self.n = n
    ...     def select(self, ctx):
    ...         return list(range(min(self.n, len(ctx)))), {}
    >>> create_strategy({"name": "_first_doctest", "n": 2}).n
    2
    >>> create_strategy({"name": "_first_doctest", "m": 2})
    Traceback (most recent call last):
    ...
    vlitq.config.ConfigError: strategy '_first_doctest': unknown option(s) ['m']; valid: ['n', 'name']
    >>> _STRATEGIES.pop("_first_doctest").__name__
    '_First'
    """
    name = getattr(cls, "name", "")
    if not name or not isinstance(name, str):
        raise ValueError(f"{cls.__name__} must set a class attribute 'name'")
    if name in _STRATEGIES and _STRATEGIES[name] is not cls:
        raise ValueError(f"a strategy named {name!r} is already registered "
                         f"({_STRATEGIES[name].__name__})")
    cls._param_names()
    _STRATEGIES[name] = cls
    return cls


def strategy_names() -> list[str]:
    """Names of the registered selection strategies."""
    return sorted(n for n in _STRATEGIES if not n.startswith("_"))


def get_strategy(name: str) -> type:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; use one of "
                         f"{tuple(strategy_names())}") from None


def create_strategy(spec: dict | str | Strategy, seed: int | None = None) -> Strategy:
    """A strategy from ``{"name": ..., option: value}`` (or a name, or an instance).
    ``seed`` fills the strategy's ``seed`` option when the spec does not set it."""
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(spec)
    name = spec.pop("name", None)
    cls = get_strategy(name)
    valid = cls._param_names()
    bad = sorted(k for k in spec if k not in valid)
    if bad:
        raise ConfigError(f"strategy {name!r}: unknown option(s) {bad}; "
                         f"valid: {sorted(valid + ['name'])}")
    if seed is not None and "seed" in valid and "seed" not in spec:
        spec["seed"] = int(seed)
    try:
        return cls(**spec)
    except TypeError as exc:  # a required option is missing
        raise ConfigError(f"strategy {name!r}: {exc}") from None


def quality_score(samples: pl.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Weighted mean of percentile ranks of the given columns (nulls rank lowest).

    >>> df = pl.DataFrame({"a": [1.0, 3.0, 2.0], "b": [30.0, 10.0, 20.0]})
    >>> quality_score(df, {"a": 1.0}).round(3).tolist()
    [0.333, 1.0, 0.667]
    >>> quality_score(df, {"a": 1.0, "b": -1.0}).round(3).tolist()
    [0.333, 1.0, 0.667]
    """
    if not weights:
        raise ConfigError("top_k/diverse need weights, e.g. {'matching': 1.0}")
    n = samples.height
    total = np.zeros(n)
    wsum = 0.0
    for col, w in weights.items():
        if col not in samples.columns:
            from vlitq.select.rules import UnknownColumnError

            raise UnknownColumnError(f"strategy weights: no per-sample column {col!r} in the "
                                     f"report")
        v = samples[col].cast(pl.Float64, strict=False).to_numpy().astype(float)
        v = np.where(np.isnan(v), -np.inf if w > 0 else np.inf, v)
        order = np.argsort(v if w > 0 else -v, kind="stable")
        ranks = np.empty(n)
        ranks[order] = np.arange(1, n + 1) / n
        total += abs(w) * ranks
        wsum += abs(w)
    return total / wsum


def top_k(ids: Sequence, scores: np.ndarray, n: int) -> list:
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


# ------------------------------------------------------------------------------- strategies
def _n(value, what: str) -> int:
    if value is None:
        raise ConfigError(f"strategy {what!r} needs n (how many samples to select)")
    n = int(value)
    if n < 0:
        raise ValueError(f"strategy {what!r}: n must be >= 0, got {n}")
    return n


@register_strategy
class Balanced(Strategy):
    """``n`` samples spread as evenly as possible over task labels (water-filling quotas)."""

    name = "balanced"

    def __init__(self, *, n: int | None = None, seed: int = 0):
        self.n = n
        self.seed = seed

    def default_reason(self) -> str:
        return f"balanced: not drawn for its task (n={self.n}, seed={self.seed})"

    def select(self, ctx):
        from vlitq.select.balanced import balanced_sample

        return list(balanced_sample(ctx.labels, _n(self.n, self.name), seed=int(self.seed))), {}


@register_strategy
class TopK(Strategy):
    """The ``n`` best by a weighted mix of per-sample scores (percentile ranks)."""

    name = "top_k"

    def __init__(self, *, n: int | None = None, weights: dict | None = None):
        self.n = n
        self.weights = weights

    def default_reason(self) -> str:
        return f"top_k: not among the best {self.n} by {self.weights}"

    def select(self, ctx):
        n = _n(self.n, self.name)
        scores = quality_score(ctx.samples, self.weights or {})
        return top_k(list(range(len(ctx))), scores, n), {}


@register_strategy
class Quota(Strategy):
    """At most ``per_task`` samples per task, best first by ``weights`` (random when none)."""

    name = "quota"

    def __init__(self, *, per_task: int | None = None, weights: dict | None = None,
                 seed: int = 0):
        self.per_task = per_task
        self.weights = weights
        self.seed = seed

    def default_reason(self) -> str:
        return f"quota: over {self.per_task} samples for its task"

    def select(self, ctx):
        if self.per_task is None:
            raise ConfigError("strategy 'quota' needs per_task")
        per = int(self.per_task)
        if self.weights:
            scores = quality_score(ctx.samples, self.weights)
        else:
            scores = np.random.default_rng(int(self.seed)).random(len(ctx))
        # one pass to group by task (linear), then best-first within each task
        members: dict[str, list[int]] = {}
        for i, lab in enumerate(ctx.labels):
            members.setdefault(lab, []).append(i)
        kept: list[int] = []
        for t in sorted(members):
            m = members[t]
            m.sort(key=lambda i: -scores[i])
            kept.extend(m[:per])
        return sorted(kept), {}


@register_strategy
class Diverse(Strategy):
    """DEITA-style greedy selection by embedding distance, in order of quality."""

    name = "diverse"

    def __init__(self, *, threshold: float = 0.1, weights: dict | None = None,
                 n: int | None = None, model: str = "all-MiniLM-L6-v2",
                 text: str = "instruction+response", block: int = 1024):
        self.threshold = threshold
        self.weights = weights
        self.n = n
        self.model = model
        self.text = text
        self.block = block

    def select(self, ctx):
        if ctx.dataset is None:
            raise ValueError("strategy 'diverse' needs dataset= (the texts to embed)")
        from vlitq.cache import Cache
        from vlitq.models.text import SentenceEncoder

        turns = ctx.dataset.frame["turns"].to_list()
        texts = []
        for r in ctx.rows:
            parts = []
            for t in turns[r] or []:
                if self.text != "response":
                    parts.append(t.get("instruction") or "")
                parts.append(t.get("response") or "")
            texts.append("\n".join(parts))
        enc = SentenceEncoder(self.model, cache=Cache())
        emb = enc.encode(texts)
        scores = (quality_score(ctx.samples, self.weights) if self.weights
                  else np.zeros(len(ctx)))
        thr = float(self.threshold)
        ids = ctx.samples["sample_id"].to_list() if "sample_id" in ctx.samples.columns \
            else [str(r) for r in ctx.rows]
        kept, close = diverse(list(range(len(ctx))), emb, scores, threshold=thr, n=self.n,
                              block=int(self.block))
        why = {}
        for i, (other, dist) in close.items():
            why[i] = (f"diverse: cosine distance {dist:.4f} to kept {ids[other]} <= {thr}"
                      if other != "" else f"diverse: limit n={self.n} reached")
        return kept, why
