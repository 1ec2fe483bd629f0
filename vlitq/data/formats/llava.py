"""LLaVA / ShareGPT conversations (JSON array or JSON Lines).

Records look like ``{"id", "image": str | [str], "conversations": [{"from": "human", "value":
"<image>\\n..."}, {"from": "gpt", "value": "..."}]}``. Also accepted: ``images`` lists, roles
``user``/``assistant``, OpenAI-style ``messages`` with ``role``/``content``, and a leading
``system`` turn (kept in the original, not scored). ``<image>`` tokens are stripped from the
instruction text used for scoring; the original record keeps them.
"""
from __future__ import annotations

import json
import re

from vlitq.data.dataset import make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    dump_json_records, error_sample, is_jsonl, iter_json_records, stem,
)

HUMAN = {"human", "user"}
ASSISTANT = {"gpt", "assistant", "model", "bot"}
IMAGE_TOKEN = re.compile(r"\s*<image>\s*")


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):  # OpenAI content parts
        return "\n".join(p.get("text", "") for p in v if isinstance(p, dict) and p.get("type") == "text")
    return str(v)


def conversation_turns(conv: list) -> list[dict]:
    """Pair human turns with the assistant turn that follows; system turns are skipped."""
    turns: list[dict] = []
    pending: str | None = None
    for msg in conv:
        if not isinstance(msg, dict):
            raise ValueError(f"conversation entry is not an object: {msg!r:.80}")
        role = str(msg.get("from", msg.get("role", ""))).lower()
        text = _text(msg.get("value", msg.get("content")))
        if role in HUMAN:
            if pending is not None:
                turns.append({"instruction": pending, "response": None})
            pending = IMAGE_TOKEN.sub(" ", text or "").strip()
        elif role in ASSISTANT:
            turns.append({"instruction": pending, "response": text})
            pending = None
        elif role == "system":
            continue
        else:
            raise ValueError(f"unknown role {role!r}")
    if pending is not None:
        turns.append({"instruction": pending, "response": None})
    return turns


def record_to_sample(rec, path: str, index: int, raw: str | None, fmt: str = "llava") -> dict:
    if not isinstance(rec, dict):
        return error_sample(fmt, path, index, raw, f"record is not an object: {str(rec)[:80]!r}")
    source = {"format": fmt, "file": path, "index": index}
    original = raw.rstrip("\n") if raw is not None else json.dumps(rec, ensure_ascii=False)
    sid = str(rec.get("id", f"{stem(path)}:{index}"))
    conv = rec.get("conversations", rec.get("messages"))
    if not isinstance(conv, list):
        return make_sample(sid, [], [], source=source, original=original,
                           read_error="record has no 'conversations' list")
    img = rec.get("image", rec.get("images"))
    images = [] if img is None else ([img] if isinstance(img, str) else [str(i) for i in img])
    try:
        turns = conversation_turns(conv)
    except ValueError as exc:
        return make_sample(sid, [], images, source=source, original=original, read_error=str(exc))
    return make_sample(sid, turns, images, task=rec.get("task"), language=rec.get("language"),
                       source=source, original=original)


def iter_samples(path: str, **_):
    for index, rec, raw, err in iter_json_records(path):
        if err:
            yield error_sample("llava", path, index, raw, err)
        else:
            yield record_to_sample(rec, path, index, raw)


def sniff(path: str, head: str) -> bool:
    return ('"conversations"' in head or '"messages"' in head) and (
        '"from"' in head or '"role"' in head)


def write(dataset, path: str, *, jsonl: bool | None = None, **_):
    """Write the original records (read errors are skipped; they are not records)."""
    frame = dataset.frame.filter(dataset.frame["read_error"].is_null())
    origs = frame["original"].to_list()
    if jsonl is None:
        jsonl = path.endswith(".jsonl")
    records = origs if jsonl else [json.loads(o) for o in origs]
    dump_json_records(records, path, jsonl)
    return path


register_format("llava", description="LLaVA / ShareGPT conversations (JSON or JSON Lines)",
                sniff=sniff, iter_samples=iter_samples, write=write, priority=40)
