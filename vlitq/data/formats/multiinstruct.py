"""MultiInstruct JSON Lines (``VT-NLP/MultiInstruct`` ``train.jsonl`` / ``test.jsonl``).

Records look like ``{"unique_id", "image_source", "task_name", "image_path", "prompt",
"target", "target_txt", "options": [...], "question", "text", "meta_data": {...}}``. The
instruction is ``prompt`` (which already holds the options after ``[Options]:``; ``instruction``
or ``question`` when there is no prompt), the response ``target`` (else ``target_txt``), the
task ``task_name``, the image ``image_path`` — relative to ``image_root`` (the repository root
the dataset was built in, since paths read ``raw_datasets/...``). Absolute paths outside the
image root are refused unless ``allow_outside_root=True``.
"""
from __future__ import annotations

from vlitq.data.dataset import make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    content_id,
    dump_json_records,
    good_originals,
    iter_format_samples,
    original_text,
)


def _str(v):
    return None if v is None else str(v)


def convert(rec, path, index, raw):
    if not isinstance(rec, dict):
        raise ValueError(f"record is not an object: {str(rec)[:80]!r}")
    source = {"format": "multiinstruct", "file": path, "index": index}
    original = original_text(rec, raw)
    sid = str(rec.get("unique_id") or content_id(original))
    ins = rec.get("prompt", rec.get("instruction", rec.get("question")))
    res = rec.get("target", rec.get("target_txt"))
    if ins is None and res is None:
        return make_sample(sid, [], [], source=source, original=original,
                           read_error="record has no 'prompt'/'target'")
    img = rec.get("image_path", rec.get("image"))
    images = [] if not img else ([str(img)] if isinstance(img, str) else [str(i) for i in img])
    return make_sample(sid, [(_str(ins), _str(res))], images, task=_str(rec.get("task_name")),
                       source=source, original=original)


def iter_samples(path: str):
    yield from iter_format_samples(path, "multiinstruct", convert)


def sniff(path: str, head: str) -> bool:
    return '"unique_id"' in head and ('"target_txt"' in head or '"task_name"' in head)


def write(dataset, path: str, *, jsonl: bool | None = None):
    """Write the original records back as JSON Lines."""
    if jsonl is None:
        jsonl = not path.endswith(".json")
    dump_json_records(good_originals(dataset), path, jsonl)
    return path


register_format("multiinstruct", description="MultiInstruct JSON Lines (unique_id, task_name, "
                "image_path, prompt, target)", sniff=sniff, iter_samples=iter_samples,
                write=write, priority=30)
