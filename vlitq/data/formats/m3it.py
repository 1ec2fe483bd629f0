"""M3IT / M2BIT JSON Lines: one instruction, one image list, one answer per record.

Records look like ``{"instruction": str, "inputs": str, "outputs": str, "image_base64_str":
[base64, ...], "meta": {...}}`` (the layout of the ``MMInstruction/M3IT`` files). The scored
instruction is ``instruction`` followed by ``inputs`` on a new line when ``inputs`` is not
empty; the response is ``outputs``. Images stay base64 (``data:`` URIs), decoded only when a
scorer needs them; a short string ending in an image extension where base64 was expected is
taken as a file name relative to ``image_root``. The task is the record's ``task`` /
``meta.task`` / ``meta.dataset`` when present, else the ``task=`` option; ``language`` likewise
from ``language`` / ``meta.language``.
A JSON array of such records is read too.
"""
from __future__ import annotations

from vlitq.data.dataset import make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    IMAGE_EXTENSIONS,
    content_id,
    dump_json_records,
    good_originals,
    iter_format_samples,
    original_text,
)
from vlitq.data.images import to_data_uri

IMAGE_KEYS = ("image_base64_str", "image_base64")


def _images(rec) -> list[str]:
    for k in IMAGE_KEYS:
        if k in rec:
            v = rec[k]
            if v is None:
                return []
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list):
                raise ValueError(f"{k!r} is not a list of base64 strings")
            return [_ref(s) for s in map(str, v)]
    return []


def _ref(s: str) -> str:
    if s.startswith("data:"):
        return s
    if len(s) < 1024 and s.lower().endswith(IMAGE_EXTENSIONS):
        return s  # a file name where base64 was expected: resolved against image_root
    return to_data_uri(s)


def _meta_get(rec, *keys):
    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    for k in keys:
        for src in (rec, meta):
            v = src.get(k)
            if isinstance(v, str) and v:
                return v
    return None


def make_converter(task: str | None = None):
    def convert(rec, path, index, raw):
        if not isinstance(rec, dict):
            raise ValueError(f"record is not an object: {str(rec)[:80]!r}")
        source = {"format": "m3it", "file": path, "index": index}
        original = original_text(rec, raw)
        sid = _meta_get(rec, "id", "unique_id") or content_id(original)
        if "instruction" not in rec or "outputs" not in rec:
            return make_sample(sid, [], [], source=source, original=original,
                               read_error="record has no 'instruction'/'outputs'")
        ins = str(rec.get("instruction") or "")
        inputs = rec.get("inputs")
        if inputs:
            ins = f"{ins}\n{inputs}" if ins else str(inputs)
        out = rec.get("outputs")
        return make_sample(sid, [(ins, None if out is None else str(out))], _images(rec),
                           task=_meta_get(rec, "task", "task_name", "dataset") or task,
                           language=_meta_get(rec, "language", "lang"), source=source,
                           original=original)
    return convert


def iter_samples(path: str, *, task: str | None = None):
    yield from iter_format_samples(path, "m3it", make_converter(task))


def sniff(path: str, head: str) -> bool:
    return '"image_base64_str"' in head or (
        '"instruction"' in head and '"outputs"' in head and '"inputs"' in head)


def write(dataset, path: str, *, jsonl: bool | None = None):
    """Write the original records back as JSON Lines (or a JSON array for ``.json`` paths)."""
    if jsonl is None:
        jsonl = not path.endswith(".json")
    dump_json_records(good_originals(dataset), path, jsonl)
    return path


register_format("m3it", description="M3IT / M2BIT JSON Lines (instruction, inputs, outputs, "
                "base64 images)", sniff=sniff, iter_samples=iter_samples, write=write,
                priority=30)
