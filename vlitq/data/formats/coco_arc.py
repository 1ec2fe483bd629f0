"""COCO_ARC: the instruction data released with Li et al., "Vision-Language Instruction Tuning:
A Review and Analysis" (``palchenli/VL-Instruction-Tuning``; Global / Negative / Region files).

One JSON object per file: ``{"image_source": "", "construction_time": "", "annotations":
[{"img_ids": ..., "instruction_type": "", "conversations": [...]}, ...]}``. One sample per
annotation: ``instruction_type`` → ``task``; the conversation (multi-turn, kept whole) →
``turns``; ``img_ids`` (a string or a list) → image paths ``image_pattern.format(id=...)``
relative to ``image_root`` (default ``"{id}"``, plus ``.jpg`` when the id has no image
extension; e.g. ``image_pattern="train2014/COCO_train2014_{id:0>12}.jpg"`` for bare numbers).

Conversations may be LLaVA-style ``{"from"/"role", "value"/"content"}`` messages, strings
prefixed ``User:`` / ``AI:`` (or alternating), or ``[question, answer]`` pairs. A malformed
annotation is an error row; the others are read (the array is parsed element by element).
"""
from __future__ import annotations

import json
import re

from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    IMAGE_EXTENSIONS,
    content_id,
    error_sample,
    fix_surrogates,
    format_error,
    good_originals,
    iter_json_array,
    read_text,
)
from vlitq.data.formats.llava import conversation_turns

_ANN = re.compile(r'"annotations"\s*:\s*(?=\[)')
_USER = re.compile(r"^\s*(user|human|question|q)\s*:\s*", re.I)
_AI = re.compile(r"^\s*(ai|assistant|gpt|answer|a)\s*:\s*", re.I)
HEADER_KEYS = ("image_source", "construction_time")


def _turns(conv) -> list[dict]:
    if not isinstance(conv, list):
        raise ValueError("'conversations' is not a list")
    if all(isinstance(m, dict) for m in conv):
        if all(("question" in m or "answer" in m) for m in conv):
            return [{"instruction": m.get("question"), "response": m.get("answer")} for m in conv]
        return conversation_turns(conv)
    if all(isinstance(m, (list, tuple)) and len(m) == 2 for m in conv):
        return [{"instruction": None if q is None else str(q),
                 "response": None if a is None else str(a)} for q, a in conv]
    if all(isinstance(m, str) for m in conv):
        msgs = []
        for k, m in enumerate(conv):
            if _USER.match(m):
                msgs.append({"from": "human", "value": _USER.sub("", m, count=1)})
            elif _AI.match(m):
                msgs.append({"from": "gpt", "value": _AI.sub("", m, count=1)})
            else:
                msgs.append({"from": "human" if k % 2 == 0 else "gpt", "value": m})
        return conversation_turns(msgs)
    raise ValueError("'conversations' mixes messages of different shapes")


def _image_refs(img_ids, pattern: str | None) -> list[str]:
    if img_ids is None or img_ids == "":
        return []
    ids = img_ids if isinstance(img_ids, list) else [img_ids]
    refs = []
    for i in ids:
        i = str(i)
        if pattern:
            refs.append(pattern.format(id=i))
        elif i.lower().endswith(IMAGE_EXTENSIONS):
            refs.append(i)
        else:
            refs.append(i + ".jpg")
    return refs


def _convert(rec, path, index, raw, image_pattern):
    if not isinstance(rec, dict):
        raise ValueError(f"annotation is not an object: {str(rec)[:80]!r}")
    source = {"format": "coco_arc", "file": path, "index": index}
    sid = str(rec.get("id") or content_id(raw))
    images = _image_refs(rec.get("img_ids"), image_pattern)
    if "conversations" not in rec:
        return make_sample(sid, [], images, source=source, original=raw,
                           read_error="annotation has no 'conversations'")
    return make_sample(sid, _turns(rec["conversations"]), images,
                       task=None if rec.get("instruction_type") is None
                       else str(rec["instruction_type"]), source=source, original=raw)


def read(path: str, *, image_root=None, image_pattern: str | None = None) -> Dataset:
    text, bad = read_text(path)
    header: dict = {}
    whole = None
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):  # broken or too deep: read member by member
        pass
    if whole is not None:
        if not isinstance(whole, dict) or not isinstance(whole.get("annotations"), list):
            raise format_error(f"{path}: not a COCO_ARC file (no top-level 'annotations' list)")
        header = {k: v for k, v in whole.items() if k != "annotations"}
        header["__order__"] = list(whole)
    m = _ANN.search(text)
    if m is None:
        raise format_error(f"{path}: not a COCO_ARC file (no 'annotations' array)")
    if whole is None:  # malformed file: recover the header fields we can find
        for k in HEADER_KEYS:
            hm = re.search(rf'"{k}"\s*:\s*("(?:[^"\\]|\\.)*")', text)
            if hm:
                header[k] = json.loads(hm.group(1))
        header["__order__"] = [*[k for k in HEADER_KEYS if k in header], "annotations"]
    samples = []
    for index, rec, raw, err in iter_json_array(path, text, bad, start=m.end()):
        if err:
            samples.append(error_sample("coco_arc", path, index, raw, err))
            continue
        try:
            samples.append(fix_surrogates(_convert(rec, path, index, raw, image_pattern), raw))
        except Exception as exc:
            samples.append(error_sample("coco_arc", path, index, raw,
                                        f"cannot read annotation: {type(exc).__name__}: {exc}"))
    return Dataset.from_records(samples, image_root=image_root, format="coco_arc",
                                meta={"header": header})


def sniff(path: str, head: str) -> bool:
    return '"annotations"' in head and ('"instruction_type"' in head or '"img_ids"' in head
                                        or '"construction_time"' in head)


def write(dataset, path: str):
    """Write the header fields and the samples' original annotations back as one JSON object."""
    header = dict(dataset.meta.get("header") or {})
    order = header.pop("__order__", None) or [*header, "annotations"]
    anns = "[" + ",".join(good_originals(dataset)) + "]"
    parts = []
    for k in order:
        v = anns if k == "annotations" else json.dumps(header.get(k), ensure_ascii=False)
        parts.append(f"{json.dumps(k)}: {v}")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("{" + ", ".join(parts) + "}\n")
    import os

    os.replace(tmp, path)
    return path


def iter_samples(path: str, **options):
    yield from read(path, **options).frame.iter_rows(named=True)


register_format("coco_arc", description="COCO_ARC (Li et al. 2023): {image_source, "
                "construction_time, annotations[img_ids, instruction_type, conversations]}",
                sniff=sniff, iter_samples=iter_samples, write=write, read=read, priority=20)
