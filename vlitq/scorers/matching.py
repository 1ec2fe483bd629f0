"""``matching``: CLIP image-text matching degree (MD), 100 × cosine per turn."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vlitq import text as vtext
from vlitq._utils import blake2b
from vlitq.registry import register
from vlitq.scorers.base import Scorer

logger = logging.getLogger("vlitq")

TEXT_MODES = ("instruction+response", "response")


def turn_text(turn: dict | None, mode: str = "instruction+response") -> str:
    """The text of one turn that is matched against the image: :func:`vlitq.text.turn_text`
    (image placeholders removed, whitespace tidied) on one line (CLIP's tokenisers treat line
    breaks as spaces; one line keeps the text cache keys of earlier runs).

    >>> turn_text({"instruction": "<image>\\nWhat is it?", "response": "A cat."})
    'What is it? A cat.'
    >>> turn_text({"instruction": "What is it?", "response": "A cat."}, "response")
    'A cat.'
    """
    if mode not in TEXT_MODES:
        raise ValueError(f"text must be one of {TEXT_MODES}, not {mode!r}")
    return " ".join(vtext.turn_text(turn, mode).split())


@register
class Matching(Scorer):
    """Matching degree: how well each turn's text matches the sample's image(s) under CLIP.

    For every turn and every image, ``100 × cos(image embedding, text embedding)`` with the text
    of the turn (instruction + response by default; image placeholders such as ``<image>``
    removed). Texts longer than the model's context are split into token windows whose embeddings
    are averaged. Columns: ``matching`` (mean over turns and images), ``matching_turns`` (one value
    per turn, mean over the images; null for a turn without text), ``matching_error``. Samples
    without images get null and no error (matching is undefined for them); an image that cannot be
    read or decoded makes the sample null with the reason in ``matching_error``.

    Image embeddings are computed once per distinct image content (LLaVA reuses a COCO image
    across many samples) and cached on disk by content hash in the vlitq cache
    (``$VLITQ_CACHE_HOME/matching_embeddings``), so a re-run or another dataset sharing images
    does not encode them again. Text embeddings are cached likewise.

    Parameters
    ----------
    model : str
        open_clip architecture (default ``"ViT-L-14"``), ``hf-hub:`` id, local folder, or a
        transformers hub name/folder (see :mod:`vlitq.models.clip`).
    pretrained : str or None
        open_clip pretrained tag (default ``"openai"``) or a local weights file.
    backend : {"auto", "open_clip", "transformers"}
    text : {"instruction+response", "response"}
        Which text of each turn is matched against the image.
    device : str, optional
    precision : {"auto", "fp32", "fp16", "bf16"}
        ``"auto"`` runs fp16 on a GPU, fp32 on CPU.
    batch_size : int
        Samples per call and images / text windows per forward pass.
    workers : int, optional
        Image decoding/preprocessing workers (default ``min(8, cpu count)``).
    worker_type : {"thread", "process"}
    embedding_cache : bool or str
        True: embeddings cached under the default vlitq cache folder (``$VLITQ_CACHE_HOME``);
        a path: that folder; False: kept in memory for this run only.

    Examples
    --------
    >>> m = Matching(model="ViT-B-32", pretrained="/models/vit-b-32.bin")  # loads nothing yet
    >>> m.output_columns()
    ['matching', 'matching_error', 'matching_turns']
    """

    name = "matching"
    principle = "correctness"
    direction = "up"
    requires = ("clip",)
    extra_columns = ("turns",)
    inputs = ("images", "turns")
    batch_size = 64
    description = "100 x CLIP cosine(image, turn text), mean over turns and images"

    def __init__(self, *, model: str = "ViT-L-14", pretrained: str | None = "openai",
                 backend: str = "auto", text: str = "instruction+response",
                 device: str | None = None, precision: str = "auto", batch_size: int = 64,
                 workers: int | None = None, worker_type: str = "thread",
                 embedding_cache: bool | str = True):
        self.model = model
        self.pretrained = pretrained
        self.backend = backend
        self.text = text
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.workers = workers
        self.worker_type = worker_type
        self.embedding_cache = embedding_cache

    def model_id(self) -> str:
        from vlitq.models.clip import model_identity

        return model_identity(self.model, self.pretrained, self.backend)

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        from vlitq.cache import Cache
        from vlitq.models.clip import PIPELINE_VERSION, ClipEncoder

        if self.text not in TEXT_MODES:
            raise ValueError(f"text must be one of {TEXT_MODES}, not {self.text!r}")
        enc = ClipEncoder(self.model, self.pretrained, backend=self.backend, device=self.device,
                          precision=self.precision, batch_size=self.batch_size,
                          workers=self.workers, worker_type=self.worker_type)
        enc.load()
        self._encoder = enc
        if self.embedding_cache is False:
            cache = Cache(enabled=False)
        elif isinstance(self.embedding_cache, str):
            cache = Cache(self.embedding_cache)
        else:
            cache = Cache()  # $VLITQ_CACHE_HOME or the user cache folder
        ident = {"model": enc.model_id(), "pipeline": PIPELINE_VERSION}
        # Precision changes embeddings slightly; keep fp16 and fp32 apart.
        ident["dtype"] = str(enc.dtype).replace("torch.", "")
        self._image_store = cache.store("matching_embeddings", {**ident, "kind": "image"})
        self._text_store = cache.store("matching_embeddings", {**ident, "kind": "text"})
        self._ref_hash: dict[tuple, str] = {}

    # ------------------------------------------------------------------ images
    def _read(self, key: tuple):
        from vlitq.data.images import ImageError, read_image_bytes

        ref, root, allow = key
        try:
            return read_image_bytes(ref, root, allow)
        except ImageError as exc:
            return exc

    def _image_embeddings(self, keys: list[tuple]) -> dict[tuple, object]:
        """Embedding (array) or error (ImageError) for each distinct image reference."""
        result: dict[tuple, object] = {}
        # 1. content hash of every reference not seen in this run (reads the bytes). Paths are
        # remembered for the run; inline (data:) images are not, or the memo would keep every
        # base64 payload of the dataset alive.
        hashes = {k: self._ref_hash[k] for k in keys if k in self._ref_hash}
        unseen = [k for k in keys if k not in hashes]
        data: dict[tuple, bytes] = {}
        if unseen:
            n_workers = max(1, min(self._encoder._n_workers(), len(unseen)))
            if n_workers > 1:
                with ThreadPoolExecutor(max_workers=n_workers) as pool:
                    blobs = list(pool.map(self._read, unseen))
            else:
                blobs = [self._read(k) for k in unseen]
            for k, b in zip(unseen, blobs):
                if isinstance(b, Exception):
                    result[k] = b
                else:
                    data[k] = b
                    hashes[k] = blake2b(b)
                    if not k[0].startswith("data:"):
                        self._ref_hash[k] = hashes[k]
        # 2. cached embeddings by content hash
        hashed = [k for k in keys if k not in result]
        have = self._image_store.get_many_arrays({hashes[k] for k in hashed})
        # 3. encode each missing content once (several references may share one content)
        todo: dict[str, tuple] = {}
        for k in hashed:
            h = hashes[k]
            if h not in have and h not in todo:
                todo[h] = k
        if todo:
            blobs = []
            for h, k in todo.items():
                b = data.get(k)
                if b is None:  # hashed in an earlier batch but never stored (it failed then)
                    b = self._read(k)
                blobs.append(b)
            ok = [(h, b) for h, b in zip(todo, blobs) if not isinstance(b, Exception)]
            embs = self._encoder.encode_image_bytes([b for _, b in ok]) if ok else []
            fresh = {}
            failed = {}
            for (h, _), e in zip(ok, embs):
                if isinstance(e, Exception):
                    failed[h] = e
                else:
                    fresh[h] = e
            for (h, k), b in zip(todo.items(), blobs):
                if isinstance(b, Exception):
                    failed[h] = b
            self._image_store.put_many_arrays(fresh)
            have.update(fresh)
        else:
            failed = {}
        for k in hashed:
            h = hashes[k]
            result[k] = have[h] if h in have else failed.get(h, RuntimeError("not encoded"))
        return result

    def _text_embeddings(self, texts: list[str]) -> dict[str, np.ndarray]:
        keys = {t: blake2b(t) for t in texts}
        have = self._text_store.get_many_arrays(set(keys.values()))
        missing = [t for t in texts if keys[t] not in have]
        if missing:
            vecs = self._encoder.encode_texts(missing)
            fresh = {keys[t]: v for t, v in zip(missing, vecs)}
            self._text_store.put_many_arrays(fresh)
            have.update(fresh)
        return {t: have[keys[t]] for t in texts}

    # ------------------------------------------------------------------ scoring
    def score_batch(self, batch):
        n = len(batch["sample_id"])
        roots = batch.get("image_root", [None] * n)
        allows = batch.get("allow_outside_root", [False] * n)
        images = batch.get("images", [[]] * n)
        turns = batch.get("turns", [[]] * n)
        sample_keys = [[(r, roots[i], bool(allows[i])) for r in (images[i] or [])]
                       for i in range(n)]
        distinct = list(dict.fromkeys(k for ks in sample_keys for k in ks))
        img = self._image_embeddings(distinct) if distinct else {}

        sample_texts = [[turn_text(t, self.text) for t in (turns[i] or [])] for i in range(n)]
        scoreable = [i for i in range(n) if sample_keys[i]
                     and all(not isinstance(img[k], Exception) for k in sample_keys[i])]
        uniq_texts = list(dict.fromkeys(t for i in scoreable for t in sample_texts[i] if t))
        txt = self._text_embeddings(uniq_texts) if uniq_texts else {}

        out = {"matching": [], "matching_error": [], "matching_turns": []}
        for i in range(n):
            keys = sample_keys[i]
            value = per_turn = error = None
            if not keys:
                pass  # text-only sample: matching is undefined, not an error
            elif i not in scoreable:
                error = "; ".join(f"image {j}: {img[k]}" for j, k in enumerate(keys, start=1)
                                  if isinstance(img[k], Exception))
            elif not any(sample_texts[i]):
                error = ("no text to match: every turn is empty" if sample_texts[i]
                         else "no turns")
            else:
                ims = np.stack([img[k] for k in keys])
                per_turn, pairs = [], []
                for t in sample_texts[i]:
                    if not t:
                        per_turn.append(None)
                        continue
                    sims = 100.0 * (ims @ txt[t]).astype(np.float64)
                    pairs.extend(sims.tolist())
                    per_turn.append(round(float(sims.mean()), 4))
                value = round(float(np.mean(pairs)), 4)
            out["matching"].append(value)
            out["matching_error"].append(error)
            out["matching_turns"].append(per_turn)
        return out
