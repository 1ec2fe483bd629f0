"""Loading the vision-language models vlitq tunes and evaluates (transformers, on first use)."""
from __future__ import annotations

import json
import logging
import os

from vlitq._dependencies import import_optional

logger = logging.getLogger("vlitq")

KINDS = ("llava", "blip2", "openflamingo")
# Hub names used when no base model is given (the paper's models).
DEFAULT_BASE = {
    "llava": "llava-hf/llava-1.5-7b-hf",
    "blip2": "Salesforce/blip2-opt-2.7b",
    "openflamingo": "openflamingo/OpenFlamingo-3B-vitl-mpt1b",
}
# Prompt templates for likelihood ranking (``{question}``; ``{options}`` optional).
DEFAULT_PROMPT = {
    "llava": "USER: <image>\n{question} ASSISTANT:",
    "blip2": "Question: {question} Answer:",
    "openflamingo": "User: {question} GPT:",  # the format vlitq tunes OpenFlamingo with
}


def detect_kind(path_or_name: str) -> str:
    """``llava`` or ``blip2`` from a checkpoint's ``config.json`` (``model_type``)."""
    cfg_file = os.path.join(os.fspath(path_or_name), "config.json")
    if os.path.isfile(cfg_file):
        with open(cfg_file, encoding="utf-8") as fh:
            model_type = json.load(fh).get("model_type", "")
    else:
        transformers = import_optional("transformers", purpose="loading a model")
        model_type = transformers.AutoConfig.from_pretrained(path_or_name).model_type
    if model_type.startswith("llava"):
        return "llava"
    if model_type in ("blip-2", "blip_2", "blip2"):
        return "blip2"
    raise ValueError(f"{path_or_name}: model_type {model_type!r} is not one vlitq can evaluate "
                     "(llava, blip-2); pass kind=... to force it")


def default_device() -> str:
    torch = import_optional("torch", purpose="running a model")
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype, device: str):
    torch = import_optional("torch", purpose="running a model")
    if dtype is None:
        return torch.float16 if str(device).startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        return {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16,
                "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32}[dtype]
    return dtype


def model_class(kind: str):
    transformers = import_optional("transformers", purpose=f"the {kind} model")
    if kind == "llava":
        return transformers.LlavaForConditionalGeneration
    if kind == "blip2":
        return transformers.Blip2ForConditionalGeneration
    raise ValueError(f"no transformers class for kind {kind!r}")


def load_model(path_or_name: str, kind: str | None = None, *, device: str | None = None,
               dtype=None, adapter: str | None = None):
    """``(model, processor, kind)`` from a hub name or a local folder (a vlitq tune output too).

    A folder holding a LoRA adapter (``adapter_config.json``) is loaded on top of its base model
    (named in the adapter config) and merged.
    """
    transformers = import_optional("transformers", purpose="loading a model")
    path_or_name = os.fspath(path_or_name)
    device = device or default_device()
    adapter_cfg = os.path.join(path_or_name, "adapter_config.json")
    base = path_or_name
    if adapter is None and os.path.isfile(adapter_cfg):
        with open(adapter_cfg, encoding="utf-8") as fh:
            base = json.load(fh)["base_model_name_or_path"]
        adapter = path_or_name
    kind = kind or detect_kind(base)
    dtype = resolve_dtype(dtype, device)
    model = model_class(kind).from_pretrained(base, dtype=dtype)
    if adapter:
        peft = import_optional("peft", purpose="LoRA adapters")
        model = peft.PeftModel.from_pretrained(model, adapter).merge_and_unload()
    proc_dir = path_or_name if os.path.isfile(
        os.path.join(path_or_name, "processor_config.json")) or os.path.isfile(
        os.path.join(path_or_name, "preprocessor_config.json")) else base
    processor = transformers.AutoProcessor.from_pretrained(proc_dir)
    model.to(device).eval()
    return model, processor, kind
