"""Unsupervised SimCSE (Gao, Yao, Chen, EMNLP 2021) to adapt a sentence encoder to a dataset.

Each sentence of a batch is encoded twice with dropout on, so the two embeddings differ only by
the dropout noise: they are the positive pair; the other sentences of the batch are negatives.
The loss is InfoNCE over cosine similarities divided by a temperature τ (0.05 in the paper):

    loss = mean_i  −log  exp(cos(h_i, h_i') / τ) / Σ_j exp(cos(h_i, h_j') / τ)

The result is saved as a sentence-transformers folder that
:class:`vlitq.models.text.SentenceEncoder` (and ``response_diversity(model=<folder>)``) loads.
"""
from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from vlitq._dependencies import import_optional

logger = logging.getLogger("vlitq")


@dataclass
class SimCSEResult:
    """Where the adapted encoder was saved, and the training loss at every step."""

    path: str
    losses: list[float] = field(default_factory=list)
    steps: int = 0


def _load_base(base: str, device: str):
    from vlitq.models.text import _PACKAGED, packaged_minilm_path

    st = import_optional("sentence_transformers", purpose="SimCSE training")
    path = packaged_minilm_path() if base.lower() in _PACKAGED else base
    return st.SentenceTransformer(path, device=device)


def train_simcse(texts: Sequence[str], *, base: str = "all-MiniLM-L6-v2", steps: int = 100,
                 batch_size: int = 32, temperature: float = 0.05, lr: float = 3e-5,
                 max_seq_length: int | None = 64, out: str | os.PathLike,
                 device: str | None = None, seed: int = 0,
                 dropout: float | None = None) -> SimCSEResult:
    """Adapt ``base`` to ``texts`` with unsupervised SimCSE and save it to ``out``.

    Parameters
    ----------
    texts : sequence of str
        The dataset's own sentences (e.g. its responses); duplicates and empties are dropped.
    base : str
        Starting encoder: ``"all-MiniLM-L6-v2"`` (packaged copy), a sentence-transformers
        name/folder, or a Hugging Face encoder folder (mean pooling is added).
    steps : int
        Optimiser steps (batches sampled with replacement across epochs).
    batch_size : int
        Sentences per batch (the number of in-batch negatives + 1); at least 2.
    temperature : float
        τ of the InfoNCE loss.
    lr : float
        AdamW learning rate (paper: 3e-5 for BERT-base).
    max_seq_length : int, optional
        Token limit while training (shorter is faster; the saved model keeps the base's limit).
    out : path
        Folder to save the sentence-transformers model to.
    device : str, optional
        Default: CUDA when available, else CPU (fine for MiniLM-sized models).
    seed : int
    dropout : float, optional
        Override the transformer's dropout probability (SimCSE relies on it; default keeps the
        model's own, 0.1 for BERT/MiniLM).

    Returns
    -------
    SimCSEResult
    """
    torch = import_optional("torch", purpose="SimCSE training")
    texts = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    if len(texts) < 2:
        raise ValueError("train_simcse needs at least two distinct non-empty texts")
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2 (in-batch negatives)")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = _load_base(base, device)
    saved_len = model.max_seq_length
    if max_seq_length:
        model.max_seq_length = min(saved_len or max_seq_length, max_seq_length)
    if dropout is not None:
        for mod in model.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = dropout
    model.train()  # dropout on: it makes the two views of a sentence differ
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    bs = min(batch_size, len(texts))
    order: list[str] = []
    losses: list[float] = []
    labels = torch.arange(bs, device=device)
    for step in range(steps):
        if len(order) < bs:
            fresh = texts[:]
            rng.shuffle(fresh)
            order.extend(fresh)
        batch, order = order[:bs], order[bs:]
        if len(set(batch)) < len(batch):  # an epoch boundary repeated a sentence: resample
            batch = rng.sample(texts, bs)
        prep = getattr(model, "preprocess", None) or model.tokenize  # ST >= 6 renamed it
        feats = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in prep(batch).items()}
        z1 = model(dict(feats))["sentence_embedding"]
        z2 = model(dict(feats))["sentence_embedding"]
        sim = torch.nn.functional.normalize(z1, dim=-1) @ torch.nn.functional.normalize(
            z2, dim=-1).T / temperature
        loss = torch.nn.functional.cross_entropy(sim, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach().cpu()))
        if step % 10 == 0:
            logger.info("simcse step %d/%d loss %.4f", step + 1, steps, losses[-1])
    model.eval()
    model.max_seq_length = saved_len
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    model.save(out)
    return SimCSEResult(path=out, losses=losses, steps=steps)
