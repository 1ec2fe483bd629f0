"""CLIP-style image/text encoders: open_clip and Hugging Face transformers backends.

:class:`ClipEncoder` loads a contrastive image-text model once and encodes images and texts into
L2-normalised float32 embeddings.

What ``model`` / ``pretrained`` accept
--------------------------------------
open_clip backend (``pip install "vlitq[clip]"``):

- an open_clip architecture name plus a pretrained tag: ``("ViT-L-14", "openai")`` (default; the
  vision tower of LLaVA), ``("ViT-B-32", "laion2b_s34b_b79k")``; weights are downloaded by
  open_clip into its cache on first use;
- an architecture name plus a local weights file: ``("ViT-L-14", "/models/vit-l-14.bin")``;
- ``"hf-hub:org/repo"`` (``pretrained`` ignored);
- a local folder holding ``open_clip_config.json`` and ``open_clip_pytorch_model.bin`` /
  ``open_clip_model.safetensors`` (the layout of open_clip repos on the Hugging Face hub), or the
  same as ``"local-dir:/path"``.

transformers backend: a hub name (``"openai/clip-vit-large-patch14"``,
``"google/siglip-base-patch16-224"``) or a folder saved with ``save_pretrained`` holding a
``CLIPModel``/``SiglipModel`` (anything with ``get_image_features``/``get_text_features``) and its
processor. ``backend="auto"`` picks open_clip for open_clip names, ``hf-hub:``/``local-dir:``
ids and folders with ``open_clip_config.json``, and transformers otherwise.

Texts longer than the text tower's context are split into consecutive token windows (each
wrapped in the start/end tokens); the window embeddings are averaged with weights equal to their
token counts and re-normalised, so no text is silently truncated. Images are decoded and
preprocessed in parallel workers (threads by default) and encoded in batches; on a GPU the model
runs in fp16 (``precision="auto"``) or bf16.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vlitq._dependencies import import_optional
from vlitq._utils import blake2b

logger = logging.getLogger("vlitq")

DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"
#: Bumped when image preprocessing or text windowing changes (part of embedding cache keys).
PIPELINE_VERSION = "1"


class ClipLoadError(RuntimeError):
    """The CLIP model could not be loaded; the message says how to point at local weights."""


def _fingerprint_path(path: str) -> str:
    """Cheap content fingerprint of a local weights file or folder: sizes + head/tail bytes.

    Hashing a multi-GB checkpoint on every run would cost seconds; size plus the first and last
    MiB of each file changes whenever the weights do in practice.
    """
    files = []
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for n in sorted(names):
                files.append(os.path.join(root, n))
        files.sort()
    elif os.path.isfile(path):
        files = [path]
    parts: list[bytes | str] = []
    for f in files:
        try:
            size = os.path.getsize(f)
            with open(f, "rb") as fh:
                head = fh.read(1 << 20)
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                tail = fh.read(1 << 20)
        except OSError:
            continue
        parts += [os.path.relpath(f, path) if os.path.isdir(path) else "", str(size), head, tail]
    return blake2b(*parts)[:16] if parts else "missing"


def _is_open_clip_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "open_clip_config.json"))


def resolve_backend(model: str, backend: str = "auto") -> str:
    """Which backend loads ``model``: ``"open_clip"`` or ``"transformers"``.

    >>> resolve_backend("hf-hub:timm/ViT-B-16-SigLIP")
    'open_clip'
    >>> resolve_backend("openai/clip-vit-large-patch14", "transformers")
    'transformers'
    """
    if backend not in ("auto", "open_clip", "transformers"):
        raise ValueError(f"backend must be 'auto', 'open_clip' or 'transformers', not {backend!r}")
    if backend != "auto":
        return backend
    if model.startswith(("hf-hub:", "local-dir:")):
        return "open_clip"
    if os.path.isdir(model):
        return "open_clip" if _is_open_clip_dir(model) else "transformers"
    if "/" not in model:  # architecture names have no slash; hub ids do
        return "open_clip"
    return "transformers"


def model_identity(model: str, pretrained: str | None, backend: str = "auto") -> str:
    """A cache-key identity: backend, name, tag, and a fingerprint for local files/folders."""
    be = resolve_backend(model, backend)
    ident = f"{be}:{model}:{pretrained}"
    for p in (model.removeprefix("local-dir:"), pretrained):
        if p and (os.path.isfile(p) or os.path.isdir(p)):
            ident += f":{_fingerprint_path(p)}"
    return ident


def _load_hint(model: str, pretrained: str | None) -> str:
    # OpenAI's weights were trained with QuickGELU: loaded from a file (no tag to tell open_clip)
    # they need the "-quickgelu" variant of the architecture.
    arch = model
    if pretrained == "openai" and "/" not in model and not model.endswith("-quickgelu"):
        arch = f"{model}-quickgelu"
    return (
        f"Could not load CLIP model {model!r} (pretrained={pretrained!r}). Without internet access "
        "the weights cannot be downloaded: download them elsewhere and pass a local path, e.g. "
        f"{{'matching': {{'model': '{arch}', "
        "'pretrained': '/path/to/open_clip_pytorch_model.bin'}}, a folder with "
        "open_clip_config.json + weights as model='/path/folder', or a Hugging Face CLIP/SigLIP "
        "folder saved with save_pretrained as model='/path/folder'."
    )


class ClipEncoder:
    """Encode images and texts with a CLIP-style model.

    Parameters
    ----------
    model : str
        open_clip architecture name, ``hf-hub:``/``local-dir:`` id, hub name or local folder
        (see the module docstring).
    pretrained : str or None
        open_clip pretrained tag (``"openai"``) or local weights file; ignored for folders,
        ``hf-hub:`` ids and the transformers backend. None gives random weights (speed tests
        only).
    backend : {"auto", "open_clip", "transformers"}
    device : str, optional
        Default: ``"cuda"`` when available, else ``"cpu"``.
    precision : {"auto", "fp32", "fp16", "bf16"}
        ``"auto"``: fp16 on CUDA, fp32 on CPU.
    batch_size : int
        Images / text windows per forward pass.
    workers : int, optional
        Parallel image decoding/preprocessing workers (default ``min(8, cpu count)``).
    worker_type : {"thread", "process"}
        Thread pool, or torch ``DataLoader`` worker processes.
    trim_text : bool
        Encode text windows in batches of similar length, each padded only to its longest
        window (open_clip towers with a causal mask and end-of-text pooling: the same
        embeddings as padding to the full context, to float precision). False: every window
        padded to the context (77 tokens), in input order.

    Examples
    --------
    >>> enc = ClipEncoder("ViT-B-32", None)  # nothing is loaded until first use
    >>> enc.backend
    'open_clip'
    """

    def __init__(self, model: str = DEFAULT_MODEL, pretrained: str | None = DEFAULT_PRETRAINED,
                 *, backend: str = "auto", device: str | None = None, precision: str = "auto",
                 batch_size: int = 64, workers: int | None = None, worker_type: str = "thread",
                 trim_text: bool = True):
        self.model = model
        self.pretrained = pretrained
        self.backend = resolve_backend(model, backend)
        self.device = device
        self.precision = precision
        self.batch_size = max(1, int(batch_size))
        self.workers = workers
        self.worker_type = worker_type
        self.trim_text = bool(trim_text)
        self._trim = None
        if worker_type not in ("thread", "process"):
            raise ValueError(f"worker_type must be 'thread' or 'process', not {worker_type!r}")
        self._net = None
        self._preprocess = None
        self._tokenizer = None
        self.context_length = 77
        self.dtype = None
        # counters (tests and benchmarks read them)
        self.images_encoded = 0
        self.image_forward_calls = 0
        self.texts_encoded = 0
        self.text_forward_calls = 0
        self.text_tokens_encoded = 0  # token positions run through the text tower (padding too)
        self.windows_split = 0

    def model_id(self) -> str:
        return model_identity(self.model, self.pretrained, self.backend)

    # ------------------------------------------------------------------ loading
    def load(self) -> ClipEncoder:
        """Load the model (once). Raises :class:`ClipLoadError` with a how-to on failure."""
        if self._net is not None:
            return self
        torch = import_optional("torch", purpose="CLIP matching")
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        prec = self.precision
        if prec == "auto":
            prec = "fp16" if device.startswith("cuda") else "fp32"
        if prec not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be auto, fp32, fp16 or bf16, not {self.precision!r}")
        self.device = device
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[prec]
        try:
            if self.backend == "open_clip":
                self._load_open_clip(device, prec)
            else:
                self._load_transformers(device)
        except ClipLoadError:
            raise
        except Exception as exc:
            raise ClipLoadError(
                f"{_load_hint(self.model, self.pretrained)} Cause: {type(exc).__name__}: {exc}"
            ) from exc
        return self

    def _load_open_clip(self, device: str, prec: str) -> None:
        open_clip = import_optional("open_clip", purpose="CLIP matching")
        name, pretrained = self.model, self.pretrained
        if os.path.isdir(name):
            if not _is_open_clip_dir(name):
                raise ClipLoadError(f"{name!r} is a folder without open_clip_config.json; for a "
                                    "Hugging Face CLIP folder use backend='transformers'")
            name = "local-dir:" + os.path.abspath(name)
        if name.startswith(("hf-hub:", "local-dir:")):
            pretrained = None
        elif pretrained is None:
            logger.warning("CLIP %s has random weights (pretrained=None): scores are meaningless "
                           "except for speed measurements", name)
        elif isinstance(pretrained, str) and os.sep in pretrained and not os.path.exists(pretrained):
            raise ClipLoadError(f"weights file not found: {pretrained!r}")
        if isinstance(pretrained, str) and not os.path.exists(pretrained):
            cfg = open_clip.get_pretrained_cfg(name, pretrained)
            if cfg:
                # fetch (or find in the cache) the weights before building the model, so an
                # offline machine fails in seconds instead of after initialising ViT-L-14
                open_clip.download_pretrained(cfg)
        net, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device, precision=prec)
        net.eval()
        self._net = net
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(name)
        self.context_length = int(getattr(self._tokenizer, "context_length", None)
                                  or getattr(net, "context_length", 77) or 77)

    def _load_transformers(self, device: str) -> None:
        tr = import_optional("transformers", purpose="CLIP matching with transformers")
        torch = import_optional("torch")
        net = tr.AutoModel.from_pretrained(self.model, dtype=self.dtype)
        if not (hasattr(net, "get_image_features") and hasattr(net, "get_text_features")):
            raise ClipLoadError(f"{self.model!r} is a {type(net).__name__}, not a contrastive "
                                "image-text model (no get_image_features/get_text_features)")
        net.to(device).eval()
        self._net = net
        try:
            proc = tr.AutoProcessor.from_pretrained(self.model)
            self._hf_image_processor = proc.image_processor
            self._hf_tokenizer = proc.tokenizer
        except Exception:  # noqa: BLE001 - folders without a combined processor config
            self._hf_image_processor = tr.AutoImageProcessor.from_pretrained(self.model)
            self._hf_tokenizer = tr.AutoTokenizer.from_pretrained(self.model)
        tcfg = getattr(net.config, "text_config", net.config)
        self.context_length = int(getattr(tcfg, "max_position_embeddings", 77) or 77)
        self._hf_pad_max = "siglip" in type(net).__name__.lower()  # SigLIP trained with max padding
        ip = self._hf_image_processor

        def preprocess(img):
            return ip(images=img, return_tensors="pt")["pixel_values"][0]

        self._preprocess = preprocess
        self._torch = torch

    # ------------------------------------------------------------------ images
    def preprocess_bytes(self, data: bytes, ref: str = ""):
        """Decode + preprocess one encoded image; returns a tensor or an ImageError."""
        from vlitq.data.images import ImageError, decode_image

        try:
            return self._preprocess(decode_image(data, ref=ref))
        except ImageError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a transform failing is that image's error
            return ImageError(f"image cannot be preprocessed: {type(exc).__name__}: {exc}")

    def _n_workers(self) -> int:
        if self.workers is not None:
            return max(0, int(self.workers))
        return min(8, os.cpu_count() or 1)

    def _iter_preprocessed(self, datas: Sequence[bytes]):
        """Yield preprocessed tensors (or ImageError) in order, decoding ahead in workers."""
        n_workers = self._n_workers()
        if n_workers <= 1 or len(datas) <= 1:
            for d in datas:
                yield self.preprocess_bytes(d)
            return
        if self.worker_type == "process":
            yield from self._iter_process_workers(datas, n_workers)
            return
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            # map submits everything at once: workers decode ahead while the main thread encodes
            yield from pool.map(self.preprocess_bytes, datas)

    def _iter_process_workers(self, datas, n_workers):
        torch = import_optional("torch")

        prep = self.preprocess_bytes
        loader = torch.utils.data.DataLoader(
            _BytesDataset(list(datas), prep), batch_size=None, num_workers=n_workers,
            collate_fn=_identity, prefetch_factor=4)
        yield from loader

    def encode_pixels(self, pixels) -> np.ndarray:
        """Normalised embeddings of a stacked ``(n, 3, H, W)`` tensor (one forward pass)."""
        torch = import_optional("torch")
        self.load()
        self.image_forward_calls += 1
        self.images_encoded += int(pixels.shape[0])
        with torch.inference_mode():
            x = pixels.to(self.device, dtype=self.dtype)
            if self.backend == "open_clip":
                feats = self._net.encode_image(x)
            else:
                feats = _features(self._net.get_image_features(pixel_values=x))
        return _normalise(feats.float().cpu().numpy())

    def encode_image_bytes(self, datas: Sequence[bytes]) -> list:
        """Embeddings of encoded images: a list with an ``(dim,)`` array or an ImageError each."""
        torch = import_optional("torch")
        self.load()
        out: list = [None] * len(datas)
        buf_idx, buf = [], []
        for i, item in enumerate(self._iter_preprocessed(datas)):
            if isinstance(item, Exception):
                out[i] = item
                continue
            buf_idx.append(i)
            buf.append(item)
            if len(buf) >= self.batch_size:
                for j, v in zip(buf_idx, self.encode_pixels(torch.stack(buf))):
                    out[j] = v
                buf_idx, buf = [], []
        if buf:
            for j, v in zip(buf_idx, self.encode_pixels(torch.stack(buf))):
                out[j] = v
        return out

    # ------------------------------------------------------------------ texts
    def text_windows(self, text: str) -> tuple[list, list[int]]:
        """Token windows covering ``text`` and their token counts.

        With open_clip's BPE tokenizer the windows are token id lists ready to pad (start and end
        tokens included); otherwise they are the text of each window (re-tokenised later).
        """
        self.load()
        width = max(1, self.context_length - 2)
        tok = self._tokenizer if self.backend == "open_clip" else self._hf_tokenizer
        if self.backend == "open_clip" and hasattr(tok, "sot_token_id") and hasattr(tok, "encode"):
            ids = tok.encode(text)
            chunks = [ids[i : i + width] for i in range(0, max(1, len(ids)), width)]
            wins = [[tok.sot_token_id] + c + [tok.eot_token_id] for c in chunks]
            return wins, [max(1, len(c)) for c in chunks]
        hf = getattr(tok, "tokenizer", tok)
        ids = hf(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= width:
            return [text], [max(1, len(ids))]
        chunks = [ids[i : i + width] for i in range(0, len(ids), width)]
        return [hf.decode(c) for c in chunks], [len(c) for c in chunks]

    def _tokenize_windows(self, wins: list, length: int | None = None):
        """Token tensors of a batch of windows: open_clip id lists are padded to ``length``
        (default the full context)."""
        torch = import_optional("torch")
        ctx = self.context_length
        if wins and isinstance(wins[0], list):
            t = torch.zeros(len(wins), min(ctx, length or ctx), dtype=torch.long)
            for i, w in enumerate(wins):
                t[i, : len(w)] = torch.tensor(w[: t.shape[1]])
            return {"ids": t}
        if self.backend == "open_clip":
            return {"ids": self._tokenizer(wins)}
        enc = self._hf_tokenizer(wins, padding="max_length" if self._hf_pad_max else True,
                                 truncation=True, max_length=ctx, return_tensors="pt")
        return dict(enc)

    def _trim_ok(self) -> bool:
        """Whether open_clip's text tower gives the same features on ids cut to the batch's
        longest window: a causal attention mask (no token sees the padding after it) and
        pooling at the end-of-text token (not at the last position)."""
        if getattr(self, "_trim", None) is None:
            self._trim = False
            if self.backend == "open_clip" and self.trim_text:
                open_clip = import_optional("open_clip")
                net = self._net
                mask = getattr(net, "attn_mask", None)
                torch = import_optional("torch")
                if (type(net).encode_text is open_clip.model.CLIP.encode_text
                        and mask is not None and mask.ndim == 2
                        and getattr(net, "text_pool_type", "argmax") in ("argmax", "eos")
                        and getattr(net, "positional_embedding", None) is not None):
                    causal = torch.triu(torch.ones_like(mask, dtype=torch.bool), diagonal=1)
                    self._trim = bool(torch.equal(torch.isinf(mask) & (mask < 0), causal))
        return self._trim

    def _open_clip_text(self, ids):
        """open_clip ``CLIP.encode_text`` on ``ids`` of any length up to the context: the
        positional embeddings and causal mask cut to that length (same features as padding to
        the full context, checked in the tests)."""
        net = self._net
        length = ids.shape[1]
        if length >= self.context_length or not self._trim_ok():
            if length < self.context_length:
                ids = import_optional("torch").nn.functional.pad(
                    ids, (0, self.context_length - length))
            return net.encode_text(ids)
        from open_clip.transformer import text_global_pool

        cast = net.transformer.get_cast_dtype()
        x = net.token_embedding(ids).to(cast)
        x = x + net.positional_embedding[:length].to(cast)
        x = net.transformer(x, attn_mask=net.attn_mask[:length, :length])
        x = net.ln_final(x)
        x = text_global_pool(x, ids, net.text_pool_type,
                             eos_token_id=getattr(net, "text_eos_id", None))
        proj = net.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, import_optional("torch").nn.Linear) else x @ proj
        return x

    def _encode_windows(self, wins: list) -> np.ndarray:
        """Embeddings of the windows, encoded in batches of similar length (sorted by token
        count; each batch padded only to its longest window where the model allows)."""
        torch = import_optional("torch")
        if not wins:
            return np.zeros((0, 0), np.float32)
        ids_given = isinstance(wins[0], list)
        order = sorted(range(len(wins)), key=lambda i: len(wins[i])) if self.trim_text \
            else list(range(len(wins)))
        outs = []
        for off in range(0, len(wins), self.batch_size):
            part = [wins[i] for i in order[off : off + self.batch_size]]
            length = max(len(w) for w in part) if ids_given and self._trim_ok() else None
            toks = self._tokenize_windows(part, length)
            with torch.inference_mode():
                if self.backend == "open_clip":
                    feats = self._open_clip_text(toks["ids"].to(self.device))
                else:
                    toks = {k: v.to(self.device) for k, v in toks.items()
                            if k in ("input_ids", "attention_mask")}
                    feats = _features(self._net.get_text_features(**toks))
            self.text_forward_calls += 1
            self.text_tokens_encoded += int(np.prod(tuple(toks.get("ids", toks.get(
                "input_ids")).shape)))
            outs.append(_normalise(feats.float().cpu().numpy()))
        vecs = np.concatenate(outs)
        out = np.empty_like(vecs)
        out[np.asarray(order)] = vecs
        return out

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` normalised text embeddings; long texts are windowed and averaged.

        Identical texts are encoded once."""
        self.load()
        texts = [t or "" for t in texts]
        uniq = list(dict.fromkeys(texts))
        where = {t: i for i, t in enumerate(uniq)}
        flat, owner, weight = [], [], []
        for i, t in enumerate(uniq):
            wins, counts = self.text_windows(t)
            if len(wins) > 1:
                self.windows_split += 1
            flat += wins
            owner += [i] * len(wins)
            weight += counts
        self.texts_encoded += len(uniq)
        vecs = self._encode_windows(flat)
        if len(texts) == 0:
            return vecs
        out = np.zeros((len(uniq), vecs.shape[1]), np.float64)
        np.add.at(out, np.asarray(owner), vecs * np.asarray(weight, np.float64)[:, None])
        out = _normalise(out)
        return out[np.asarray([where[t] for t in texts])]


class _BytesDataset:
    def __init__(self, datas, prep):
        self.datas = datas
        self.prep = prep

    def __len__(self):
        return len(self.datas)

    def __getitem__(self, i):
        return self.prep(self.datas[i])


def _identity(x):
    return x


def _features(out):
    """transformers 5 returns a ModelOutput from get_*_features; older versions a tensor."""
    if hasattr(out, "shape"):
        return out
    for attr in ("pooler_output", "image_embeds", "text_embeds"):
        v = getattr(out, attr, None)
        if v is not None:
            return v
    return out[0]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def save_open_clip(net, model_cfg: dict, folder: str, preprocess_cfg: dict | None = None) -> str:
    """Save an open_clip model in the local folder layout that ``model=folder`` loads.

    Writes ``open_clip_config.json`` (``{"model_cfg": ..., "preprocess_cfg": ...}``) and
    ``open_clip_pytorch_model.bin`` (the state dict): the layout of open_clip repositories on the
    Hugging Face hub, so a model trained or converted locally scores like a published one.

    Returns the folder.
    """
    import json

    torch = import_optional("torch")
    os.makedirs(folder, exist_ok=True)
    cfg = {"model_cfg": model_cfg}
    if preprocess_cfg:
        cfg["preprocess_cfg"] = preprocess_cfg
    with open(os.path.join(folder, "open_clip_config.json"), "w", encoding="utf-8") as fh:
        json.dump(cfg, fh, indent=2)
    torch.save(net.state_dict(), os.path.join(folder, "open_clip_pytorch_model.bin"))
    return folder
