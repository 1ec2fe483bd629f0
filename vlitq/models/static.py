"""Static (bag-of-token-vectors) sentence embeddings distilled from a transformer encoder.

The recipe is model2vec's (Tulkens & van Dongen 2024, ``model2vec.distill``): every token of
the encoder's vocabulary is passed through the encoder alone (``[CLS] token [SEP]``), its output
is mean-pooled into one vector, the vectors are reduced by PCA (256 dimensions) and weighted by
a Zipf-law SIF weight ``sif / (sif + p(rank))`` (rank = position in the vocabulary, which for
BERT word pieces follows frequency). A text's embedding is then the normalised sum of its
tokens' vectors: no attention, no sequence limit, tens of thousands of texts per CPU-second.

It is reimplemented here (numpy + the encoder's own ``tokenizers`` file) rather than taken from
the ``model2vec`` package because ``model2vec[distill]`` pins ``transformers<5.4``; the folder
written by :func:`distill_static` has model2vec's layout (``model.safetensors`` with
``embeddings``, ``tokenizer.json``, ``config.json``), so ``model2vec.StaticModel`` loads it too.

``SentenceEncoder("minilm-static")`` distils the packaged all-MiniLM-L6-v2 on first use into
``$VLITQ_MODEL_HOME`` (about 20 CPU-seconds, once) and loads it from there afterwards.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Sequence

import numpy as np

from vlitq._dependencies import import_optional

logger = logging.getLogger("vlitq")

#: Version of the distillation recipe: part of the folder name and of the encoder's model id, so
#: embeddings of two recipes never share a cache entry.
RECIPE_VERSION = "1"
_UNUSED = re.compile(r"\[unused\d+\]")


def zipf_sif_weights(n: int, sif: float = 1e-4) -> np.ndarray:
    """SIF weights ``sif / (sif + p)`` with ``p`` the Zipf probability of ranks 1..n.

    >>> w = zipf_sif_weights(30000)
    >>> bool(w[0] < w[100] < w[-1] < 1.0)
    True
    """
    inv = 1.0 / np.arange(2, n + 2, dtype=np.float64)
    p = inv / inv.sum()
    return sif / (sif + p)


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    """PCA scores of ``x`` (centred, eigendecomposition of the covariance; signs fixed so the
    largest score of each component is positive)."""
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / max(1, len(x) - 1)
    _, vecs = np.linalg.eigh(cov)
    comp = vecs[:, ::-1][:, :dims]
    scores = xc @ comp
    sign = np.sign(scores[np.argmax(np.abs(scores), axis=0), np.arange(scores.shape[1])])
    return scores * np.where(sign == 0, 1.0, sign)


def token_outputs(model_path: str, *, batch_size: int = 512, device: str = "cpu"):
    """The distillation's forward passes: ``(tokenizer, vocabulary size, kept ids, outputs)``
    with ``outputs[i]`` the mean-pooled encoder output of ``[CLS] kept[i] [SEP]``; special
    tokens and ``[unused*]`` pieces are not kept."""
    torch = import_optional("torch", purpose="distilling a static sentence encoder")
    transformers = import_optional("transformers", purpose="distilling a static sentence encoder")
    tokenizers = import_optional("tokenizers", purpose="static sentence embeddings")

    tok_file = os.path.join(model_path, "tokenizer.json")
    if not os.path.isfile(tok_file):
        raise FileNotFoundError(f"{model_path} has no tokenizer.json (a fast tokenizer is needed)")
    tok = tokenizers.Tokenizer.from_file(tok_file)
    vocab = tok.get_vocab()  # token -> id
    special = {t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t in vocab}
    cls_id, sep_id = vocab.get("[CLS]"), vocab.get("[SEP]")
    n_vocab = max(vocab.values()) + 1
    keep = np.zeros(n_vocab, dtype=bool)
    for t, i in vocab.items():
        keep[i] = t not in special and not _UNUSED.fullmatch(t)
    ids = np.flatnonzero(keep)

    model = transformers.AutoModel.from_pretrained(model_path).to(device).eval()
    hidden = np.zeros((len(ids), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for off in range(0, len(ids), batch_size):
            part = torch.as_tensor(ids[off:off + batch_size], dtype=torch.long)
            cols = [part[:, None]]
            if cls_id is not None:
                cols.insert(0, torch.full_like(part[:, None], cls_id))
            if sep_id is not None:
                cols.append(torch.full_like(part[:, None], sep_id))
            inp = torch.cat(cols, dim=1).to(device)
            out = model(input_ids=inp, attention_mask=torch.ones_like(inp),
                        token_type_ids=torch.zeros_like(inp)).last_hidden_state
            hidden[off:off + len(part)] = out.float().mean(dim=1).cpu().numpy()
    return tok, n_vocab, ids, hidden


def static_table(n_vocab: int, ids: np.ndarray, hidden: np.ndarray, *, pca_dims: int = 256,
                 sif: float = 1e-4) -> np.ndarray:
    """The ``(n_vocab, dims)`` table from :func:`token_outputs`: PCA, then Zipf SIF weights by
    rank among the kept pieces; pieces not kept get zero rows."""
    vecs = _pca(hidden.astype(np.float64), min(pca_dims, hidden.shape[1]))
    vecs *= zipf_sif_weights(len(ids), sif)[:, None]
    table = np.zeros((n_vocab, vecs.shape[1]), dtype=np.float32)
    table[ids] = vecs.astype(np.float32)
    return table


def distill_static(model_path: str, out_dir: str, *, pca_dims: int = 256, sif: float = 1e-4,
                   batch_size: int = 512, device: str = "cpu") -> str:
    """Distil a static embedding table from the Hugging Face encoder folder ``model_path``
    (a BERT-style model with a fast ``tokenizer.json``) into ``out_dir``; returns ``out_dir``.

    The folder is written under a temporary name and renamed, so a killed run leaves no
    half-written model behind.
    """
    st_numpy = import_optional("safetensors.numpy", purpose="static sentence embeddings")
    tok, n_vocab, ids, hidden = token_outputs(model_path, batch_size=batch_size, device=device)
    table = static_table(n_vocab, ids, hidden, pca_dims=pca_dims, sif=sif)

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".tmp-{uuid.uuid4().hex}")
    os.makedirs(tmp)
    try:
        st_numpy.save_file({"embeddings": table}, os.path.join(tmp, "model.safetensors"))
        tok.no_padding()
        tok.no_truncation()
        tok.save(os.path.join(tmp, "tokenizer.json"))
        cfg = {"model_type": "model2vec", "architectures": ["StaticModel"],
               "tokenizer_name": os.path.basename(os.path.normpath(model_path)),
               "apply_pca": int(table.shape[1]), "sif_coefficient": sif,
               "hidden_dim": int(table.shape[1]), "seq_length": 1000000, "normalize": True,
               "pooling": "mean", "vlitq_recipe": RECIPE_VERSION}
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as fh:
            json.dump(cfg, fh, indent=1)
        try:
            os.rename(tmp, out_dir)
        except OSError:  # another process finished first: keep its copy
            if not os.path.isfile(os.path.join(out_dir, "model.safetensors")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


class StaticEncoder:
    """Encoder over a static embedding folder (model2vec layout: ``model.safetensors`` with an
    ``embeddings`` table, ``tokenizer.json``): embedding = L2-normalised sum of the text's token
    vectors (special tokens not added). A text with no known token gets a zero row.

    Parameters
    ----------
    path : str
        The folder.
    batch_size : int
        Texts tokenised per call (memory only; results do not depend on it).
    """

    def __init__(self, path: str, *, batch_size: int = 4096):
        self.path = path
        self.batch_size = batch_size
        self._table = None
        self._tok = None

    def _load(self):
        if self._table is not None:
            return
        tokenizers = import_optional("tokenizers", purpose="static sentence embeddings")
        st_numpy = import_optional("safetensors.numpy", purpose="static sentence embeddings")
        tensors = st_numpy.load_file(os.path.join(self.path, "model.safetensors"))
        if set(tensors) != {"embeddings"}:
            raise ValueError(f"{self.path}: expected one 'embeddings' table (model2vec layout "
                             f"without weights or token mapping), found {sorted(tensors)}")
        self._table = np.asarray(tensors["embeddings"], dtype=np.float32)
        tok = tokenizers.Tokenizer.from_file(os.path.join(self.path, "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok

    @property
    def dim(self) -> int:
        self._load()
        return int(self._table.shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` float32, rows L2-normalised (zero for a text without tokens)."""
        from scipy import sparse

        self._load()
        texts = ["" if t is None else str(t) for t in texts]
        out = np.zeros((len(texts), self._table.shape[1]), dtype=np.float32)
        for off in range(0, len(texts), self.batch_size):
            part = texts[off:off + self.batch_size]
            ids = [e.ids for e in self._tok.encode_batch(part, add_special_tokens=False)]
            lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((i for x in ids for i in x), dtype=np.int64, count=int(lens.sum()))
            # token counts per text (sparse) times the table: no (tokens x dim) copy
            counts = sparse.csr_matrix(
                (np.ones(len(flat), np.float32), flat, np.concatenate([[0], np.cumsum(lens)])),
                shape=(len(part), len(self._table)))
            out[off:off + len(part)] = counts @ self._table
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(n, 1e-12)).astype(np.float32)

