"""Instruction-tune LLaVA, BLIP-2 or OpenFlamingo on a dataset subset (the paper's §5 recipes).

``tune(subset, model="llava", out=...)`` converts the subset to the model's training input, then
runs Hugging Face's ``Trainer`` (fp16/bf16, gradient accumulation, cosine schedule with warm-up,
checkpoints every ``save_steps`` and resume, multi-GPU when launched with ``torchrun`` or
``accelerate launch``). OpenFlamingo runs in its own Python environment as a subprocess (its
package pins ``torch==2.0.1``); see :func:`tune_openflamingo`.

Defaults are the paper's hyper-parameters (Li et al., Tables 6-8, as summarised in vlitq's issue
#9); the other values are marked "vlitq" below. Every key can be overridden by keyword.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from vlitq._dependencies import import_optional

logger = logging.getLogger("vlitq")

LLAVA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                "The assistant gives helpful, detailed, and polite answers to the human's "
                "questions.")

DEFAULTS: dict[str, dict[str, Any]] = {
    # paper: 1 epoch, lr 2e-5, cosine, warm-up 0.03, batch 4, grad-accum 2, max length 2048, fp16
    "llava": {"epochs": 1, "lr": 2e-5, "scheduler": "cosine", "warmup": 0.03, "batch_size": 4,
              "grad_accum": 2, "max_length": 2048, "precision": "fp16",
              "weight_decay": 0.0,                                   # vlitq (LLaVA-1.5 script)
              "lora": False, "lora_r": 128, "lora_alpha": 256, "lora_dropout": 0.05,  # LLaVA-1.5
              "system": LLAVA_SYSTEM},
    # paper: lr 1e-5, linear warm-up then cosine, weight decay 0.05, 1 epoch
    "blip2": {"epochs": 1, "lr": 1e-5, "scheduler": "cosine", "weight_decay": 0.05,
              "warmup": 0.03, "batch_size": 4, "grad_accum": 2,      # vlitq
              "max_length": 512, "precision": "fp16",                # vlitq
              "prompt": "Question: {instruction} Answer:", "lora": False},
    # paper: cross-attention every layer, warm-up 1000 steps, LM embeddings frozen
    "openflamingo": {"epochs": 1, "cross_attn_every_n_layers": 1, "warmup": 1000,
                     "freeze_lm_embeddings": True,
                     "lr": 1e-4, "scheduler": "cosine", "weight_decay": 0.1,  # vlitq (OF train.py)
                     "batch_size": 4, "grad_accum": 2, "max_length": 512, "precision": "fp16",
                     "vision_encoder": "ViT-L-14", "vision_pretrained": "openai",
                     "lang_encoder": "anas-awadalla/mpt-1b-redpajama-200b",
                     "decoder_layers_attr_name": None, "vision_config_file": None,
                     "python": None, "env": None},
}
COMMON = {"seed": 0, "max_steps": -1, "save_steps": 500, "save_total_limit": 2,
          "logging_steps": 10, "num_workers": 2, "gradient_checkpointing": False,
          "resume": None, "device": None}


# ------------------------------------------------------------------------------------ subsets
def _as_dataset(subset, image_root: str | None = None):
    from vlitq.data.dataset import Dataset
    from vlitq.data.formats import read

    if isinstance(subset, Dataset):
        return subset
    return read(subset, image_root=image_root)


def _turns(row) -> list[tuple[str, str]]:
    return [(t["instruction"] or "", t["response"] or "") for t in (row["turns"] or [])
            if t["response"] is not None]


def to_llava_records(dataset) -> list[dict]:
    """LLaVA training records (``id``, ``image``, ``conversations``), the input of LLaVA's own
    ``train.py``; ``<image>`` opens the first human turn. Samples that failed to read are left
    out (they are not records)."""
    out = []
    for row in dataset.frame.iter_rows(named=True):
        if row["read_error"]:
            continue
        conv = []
        for i, (ins, res) in enumerate(_turns(row)):
            value = ("<image>\n" + ins) if i == 0 and row["images"] else ins
            conv += [{"from": "human", "value": value}, {"from": "gpt", "value": res}]
        rec = {"id": row["sample_id"], "conversations": conv}
        if row["images"]:
            rec["image"] = row["images"][0] if len(row["images"]) == 1 else row["images"]
        out.append(rec)
    return out


def to_blip2_records(dataset, prompt: str = "Question: {instruction} Answer:") -> list[dict]:
    """One ``{"id", "image", "prompt", "target"}`` per turn (BLIP-2/InstructBLIP style)."""
    out = []
    for row in dataset.frame.iter_rows(named=True):
        if row["read_error"] or not row["images"]:
            continue
        for i, (ins, res) in enumerate(_turns(row)):
            out.append({"id": f"{row['sample_id']}#{i}", "image": row["images"][0],
                        "prompt": prompt.replace("{instruction}", ins), "target": res})
    return out


def to_openflamingo_records(dataset) -> list[dict]:
    """Interleaved ``{"id", "images", "turns", "text"}``: ``<image>`` marks each image (all
    before the first turn), each turn is ``User: ... GPT: ...<|endofchunk|>``."""
    out = []
    for row in dataset.frame.iter_rows(named=True):
        if row["read_error"] or not row["images"]:
            continue
        turns = _turns(row)
        text = "<image>" * len(row["images"])
        for ins, res in turns:
            text += f"User: {ins} GPT: {res}<|endofchunk|>"
        out.append({"id": row["sample_id"], "images": list(row["images"]),
                    "turns": [{"instruction": i, "response": r} for i, r in turns],
                    "text": text})
    return out


def _llava_segments(rec: dict, system: str, eos: str) -> list[tuple[str, bool]]:
    """(text, supervised) pieces of a LLaVA-1.5 (vicuna_v1) conversation."""
    segs = []
    conv = rec["conversations"]
    for i in range(0, len(conv), 2):
        # the system prompt joins the first user turn, so every prefix holds the <image> token
        head = (system + " " if system and i == 0 else "")
        segs.append((f"{head}USER: {conv[i]['value']} ASSISTANT:", False))
        segs.append((f" {conv[i + 1]['value']}{eos}", True))
    return segs


# ------------------------------------------------------------------------------ torch dataset
class _Examples:
    """Lazily tokenised training examples: (image ref, [(text, supervised)])."""

    def __init__(self, items, processor, image_root, allow_outside_root, max_length):
        self.items, self.processor = items, processor
        self.image_root, self.allow = image_root, allow_outside_root
        self.max_length = max_length

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from vlitq.data.images import open_image

        ref, segs = self.items[i]
        image = open_image(ref, self.image_root, self.allow)
        return encode_example(self.processor, image, segs, self.max_length)


def encode_example(processor, image, segments, max_length: int) -> dict:
    """Token ids, labels (supervised segments only; -100 elsewhere) and pixel values.

    Segment boundaries are found by encoding each prefix of the text with the image, so the
    image-token expansion of the processor (LLaVA patches, BLIP-2 queries) is counted exactly.
    """
    torch = import_optional("torch", purpose="tuning")
    texts, acc = [], ""
    for text, _ in segments:
        acc += text
        texts.append(acc)
    enc = processor(images=[image] * len(texts), text=texts, return_tensors="pt", padding=True)
    mask = enc["attention_mask"].bool()
    lengths = [int(m.sum()) for m in mask]
    ids = enc["input_ids"][-1][mask[-1]]
    labels = torch.full_like(ids, -100)
    start = 0
    for (text, supervised), end in zip(segments, lengths):
        if supervised:
            labels[start:end] = ids[start:end]
        start = end
    image_id = getattr(processor, "image_token_id", None)
    if image_id is None:
        image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    n_image = int((ids == image_id).sum())
    if len(ids) > max_length:
        if (ids[max_length:] == image_id).any():
            raise ValueError(f"max_length {max_length} cuts into the {n_image} image tokens")
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels, "pixel_values": enc["pixel_values"][-1]}


@dataclass
class _Collator:
    pad_id: int

    def __call__(self, batch):
        torch = import_optional("torch", purpose="tuning")
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        att = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n], labels[i, :n], att[i, :n] = b["input_ids"], b["labels"], 1
        return {"input_ids": ids, "labels": labels, "attention_mask": att,
                "pixel_values": torch.stack([b["pixel_values"] for b in batch])}


# -------------------------------------------------------------------------------------- tuning
@dataclass
class TuneResult:
    """``out``: folder of the tuned model (loadable by :func:`vlitq.validate.evaluate`);
    ``losses``: training loss per logging step; ``params``: the hyper-parameters used;
    ``n_examples``, ``skipped``: examples trained on, and samples left out with the reason."""

    out: str
    losses: list[float]
    params: dict
    n_examples: int
    skipped: list[dict] = field(default_factory=list)
    trainable_parameters: int = 0


def hyperparameters(model: str, **overrides) -> dict:
    """The defaults of ``model`` (paper values where the paper gives them) with ``overrides``.

    >>> hp = hyperparameters("llava", lr=1e-5)
    >>> hp["lr"], hp["warmup"], hp["batch_size"], hp["grad_accum"], hp["max_length"]
    (1e-05, 0.03, 4, 2, 2048)
    >>> hyperparameters("blip2", lrr=1)
    Traceback (most recent call last):
    ...
    ValueError: unknown hyper-parameter(s) for blip2: lrr; known: ...
    """
    if model not in DEFAULTS:
        raise ValueError(f"model must be one of {', '.join(DEFAULTS)}, not {model!r}")
    hp = {**COMMON, **DEFAULTS[model]}
    unknown = sorted(set(overrides) - set(hp))
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) for {model}: {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(hp))}")
    hp.update(overrides)
    return hp


def tune(subset, model: str = "llava", out: str | os.PathLike = "vlitq-tuned",
         base: str | None = None, *, image_root: str | None = None,
         **overrides) -> TuneResult:
    """Instruction-tune a vision-language model on ``subset``.

    Parameters
    ----------
    subset : vlitq Dataset or path
        The samples to tune on (e.g. ``vlitq filter`` output), read with :func:`vlitq.read`.
    model : {"llava", "blip2", "openflamingo"}
        ``llava``: projector + language model tuned (vision tower frozen), fully or with LoRA
        (``lora=True``; the projector is still trained fully). ``blip2``: the Q-Former, its query
        tokens and the language projection tuned (vision encoder and OPT frozen).
        ``openflamingo``: perceiver + gated cross-attention tuned, in a subprocess.
    out : path
        Output folder: checkpoints (``checkpoint-*``), the final model and processor,
        ``vlitq_tune.json`` (hyper-parameters, losses) and the converted training data.
    base : str, optional
        Hub name or local folder of the model to start from; default
        ``llava-hf/llava-1.5-7b-hf`` / ``Salesforce/blip2-opt-2.7b`` /
        ``openflamingo/OpenFlamingo-3B-vitl-mpt1b``.
    image_root : str, optional
        Folder of relative image paths when ``subset`` is a path.
    **overrides
        Any key of :data:`DEFAULTS` / ``COMMON``: ``epochs``, ``lr``, ``scheduler``, ``warmup``
        (ratio < 1 or steps), ``batch_size`` (per device), ``grad_accum``, ``max_length``,
        ``precision`` (``fp16``/``bf16``/``fp32``; fp32 on CPU), ``weight_decay``, ``lora``,
        ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``max_steps``, ``save_steps``,
        ``save_total_limit``, ``logging_steps``, ``seed``, ``gradient_checkpointing``,
        ``resume`` (``True`` for the last checkpoint in ``out``, or a checkpoint folder),
        ``device`` (``"cpu"`` to force the CPU).

    Returns
    -------
    TuneResult
    """
    from vlitq.validate._models import DEFAULT_BASE
    from vlitq.validate.mini import is_mini, tune_mini

    if base is not None and is_mini(base):  # a miniature MLLM: its own CPU recipe
        res = tune_mini(subset, base, os.fspath(out), image_root=image_root, **overrides)
        return TuneResult(res.out, res.losses, res.params, res.n_examples, res.skipped,
                          res.trainable_parameters)
    hp = hyperparameters(model, **overrides)
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    ds = _as_dataset(subset, image_root)
    base = DEFAULT_BASE[model] if base is None else base
    if model == "openflamingo":
        return tune_openflamingo(ds, out, base, hp)
    return _tune_hf(ds, model, out, base, hp)


def _trainable(model, kind: str) -> None:
    for name, p in model.named_parameters():
        if kind == "llava":
            p.requires_grad = "vision_tower" not in name
        else:  # blip2: Q-Former, query tokens, projection to the LM
            p.requires_grad = any(k in name for k in ("qformer", "query_tokens",
                                                      "language_projection"))


def _training_args(transformers, out: str, hp: dict, on_cuda: bool):
    params = inspect.signature(transformers.TrainingArguments.__init__).parameters
    precision = hp["precision"] if on_cuda else "fp32"
    kw = dict(output_dir=out, num_train_epochs=hp["epochs"], learning_rate=hp["lr"],
              lr_scheduler_type=hp["scheduler"], per_device_train_batch_size=hp["batch_size"],
              gradient_accumulation_steps=hp["grad_accum"], weight_decay=hp["weight_decay"],
              fp16=precision == "fp16", bf16=precision == "bf16", max_steps=hp["max_steps"],
              save_strategy="steps", save_steps=hp["save_steps"],
              save_total_limit=hp["save_total_limit"], logging_steps=hp["logging_steps"],
              report_to=[], remove_unused_columns=False, seed=hp["seed"],
              dataloader_num_workers=hp["num_workers"])
    if hp["gradient_checkpointing"]:
        kw["gradient_checkpointing"] = True
    warm = hp["warmup"]
    if 0 < warm < 1 and "warmup_ratio" in params:  # transformers 4.x
        kw["warmup_ratio"] = warm
    else:
        kw["warmup_steps"] = warm if warm < 1 else int(warm)
    if hp["device"] == "cpu":
        kw["use_cpu" if "use_cpu" in params else "no_cuda"] = True
    return transformers.TrainingArguments(**{k: v for k, v in kw.items() if k in params})


def _tune_hf(ds, kind: str, out: str, base: str, hp: dict) -> TuneResult:
    torch = import_optional("torch", purpose="tuning")
    transformers = import_optional("transformers", purpose="tuning")
    from vlitq.validate._models import model_class

    on_cuda = torch.cuda.is_available() and hp["device"] != "cpu"
    processor = transformers.AutoProcessor.from_pretrained(base)
    tok = processor.tokenizer
    eos = tok.eos_token or ""
    items, skipped = [], []
    if kind == "llava":
        records = to_llava_records(ds)
        data_file = os.path.join(out, "train_llava.json")
        for rec in records:
            if "image" not in rec:
                skipped.append({"id": rec["id"], "reason": "no image"})
                continue
            img = rec["image"] if isinstance(rec["image"], str) else rec["image"][0]
            items.append((img, _llava_segments(rec, hp["system"], eos)))
    else:
        records = to_blip2_records(ds, hp["prompt"])
        data_file = os.path.join(out, "train_blip2.json")
        for rec in records:
            items.append((rec["image"], [(rec["prompt"], False), (f" {rec['target']}{eos}",
                                                                  True)]))
    if _main_process():  # under torchrun every rank runs this; one writes the files
        with open(data_file, "w", encoding="utf-8") as fh:
            json.dump(records, fh, ensure_ascii=False, indent=1)
    skipped += [{"id": r["sample_id"], "reason": r["read_error"] or "no image"}
                for r in ds.frame.iter_rows(named=True)
                if r["read_error"] or (kind == "blip2" and not r["images"])]
    items = _check_images(items, ds, skipped)
    if not items:
        raise ValueError("no trainable example in the subset (see the skipped samples)")
    dtype = torch.float32
    if on_cuda and hp["precision"] == "bf16":
        dtype = torch.bfloat16
    model = model_class(kind).from_pretrained(base, dtype=dtype)
    _trainable(model, kind)
    if hp["lora"]:
        peft = import_optional("peft", purpose="LoRA tuning")
        target = (r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|"
                  r"down_proj|fc1|fc2|out_proj)$")
        saved = ["multi_modal_projector"] if kind == "llava" else ["qformer", "language_projection"]
        cfg = peft.LoraConfig(r=hp["lora_r"], lora_alpha=hp["lora_alpha"],
                              lora_dropout=hp["lora_dropout"], target_modules=target,
                              modules_to_save=saved)
        model = peft.get_peft_model(model, cfg)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("tuning %s (%s): %d examples, %d trainable parameters", kind, base, len(items),
                n_train)
    train = _Examples(items, processor, ds.image_root, ds.allow_outside_root, hp["max_length"])
    args = _training_args(transformers, out, hp, on_cuda)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train,
                                   data_collator=_Collator(tok.pad_token_id or 0))
    resume = hp["resume"]
    if resume is True:
        resume = transformers.trainer_utils.get_last_checkpoint(out)
        if resume is None:
            logger.info("no checkpoint in %s: training from the start", out)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(out)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    result = TuneResult(out, losses, {**hp, "base": base, "model": kind}, len(items), skipped,
                        n_train)
    if trainer.is_world_process_zero():
        processor.save_pretrained(out)
        _write_summary(result)
    return result


def _main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _check_images(items, ds, skipped):
    """Leave out examples whose image cannot be read, recording why."""
    from vlitq.data.images import ImageError, read_image_bytes

    ok, bad = [], {}
    for ref, segs in items:
        if ref not in bad:
            try:
                read_image_bytes(ref, ds.image_root, ds.allow_outside_root)
                bad[ref] = None
            except ImageError as exc:
                bad[ref] = str(exc)
        if bad[ref] is None:
            ok.append((ref, segs))
        else:
            skipped.append({"image": ref, "reason": bad[ref]})
    if skipped:
        logger.warning("%d sample(s)/example(s) left out of tuning; see vlitq_tune.json",
                       len(skipped))
    return ok


def _write_summary(result: TuneResult) -> None:
    with open(os.path.join(result.out, "vlitq_tune.json"), "w", encoding="utf-8") as fh:
        json.dump({"params": result.params, "losses": result.losses,
                   "n_examples": result.n_examples, "skipped": result.skipped,
                   "trainable_parameters": result.trainable_parameters}, fh, indent=1,
                  default=str)


# ------------------------------------------------------------------------------- OpenFlamingo
def tune_openflamingo(ds, out: str, base: str, hp: dict) -> TuneResult:
    """Tune OpenFlamingo in a subprocess running ``vlitq/validate/_openflamingo_train.py``.

    The worker needs ``open_flamingo`` (which pins ``torch==2.0.1``), so it usually runs in its
    own environment: pass ``python="/path/to/of-env/bin/python"``. The worker imports only
    torch, open_flamingo, open_clip, transformers and PIL (not vlitq), reads the interleaved JSON
    Lines written here and trains the perceiver and gated cross-attention layers.
    """
    import subprocess

    python = hp["python"] or sys.executable
    records = to_openflamingo_records(ds)
    skipped = [{"id": r["sample_id"], "reason": r["read_error"] or "no image"}
               for r in ds.frame.iter_rows(named=True) if r["read_error"] or not r["images"]]
    data = os.path.join(out, "train_openflamingo.jsonl")
    with open(data, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    cfg = {**hp, "base": base, "data": data, "out": out,
           "image_root": ds.image_root, "python": python}
    cfg_file = os.path.join(out, "openflamingo_config.json")
    with open(cfg_file, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh, indent=1, default=str)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_openflamingo_train.py")
    env = dict(os.environ, **(hp["env"] or {}))
    proc = subprocess.run([python, worker, cfg_file], check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"OpenFlamingo tuning failed (exit {proc.returncode}); is open_flamingo "
                           f"installed for {python}? (pip install open-flamingo, in its own "
                           "environment: it pins torch==2.0.1)")
    with open(os.path.join(out, "vlitq_tune.json"), encoding="utf-8") as fh:
        summary = json.load(fh)
    return TuneResult(out, summary["losses"], cfg, len(records), skipped,
                      summary.get("trainable_parameters", 0))
