"""LLaVA / ShareGPT conversations (JSON array or JSON Lines).

Records look like ``{"id", "image": str | [str], "conversations": [{"from": "human", "value":
"<image>\\n..."}, {"from": "gpt", "value": "..."}]}``. Also accepted: ``images`` lists, roles
``user``/``assistant``, OpenAI-style ``messages`` with ``role``/``content``, and a leading
``system`` turn (kept in the original, not scored). ``<image>`` tokens are stripped from the
instruction text used for scoring; the original record keeps them.
"""
from __future__ import annotations

import re

from vlitq.data.dataset import make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    dump_json_records, good_originals, iter_format_samples, original_text, stem,
)

HUMAN = {"human", "user"}
ASSISTANT = {"gpt", "assistant", "model", "bot"}
IMAGE_TOKEN = re.compile(r"\s*<image>\s*")
_KNOWN = HUMAN | ASSISTANT | {"system"}


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):  # OpenAI content parts
        return "\n".join(p.get("text", "") for p in v
                         if isinstance(p, dict) and p.get("type") == "text")
    return str(v)


def conversation_turns(conv: list) -> list[dict]:
    """Pair human turns with the assistant turn that follows; system turns are skipped.

    >>> conversation_turns([{"from": "human", "value": "<image>\\nWhat is it?"},
    ...                     {"from": "gpt", "value": "A cat."}])
    [{'instruction': 'What is it?', 'response': 'A cat.'}]
    """
    turns: list[dict] = []
    pending: str | None = None
    for msg in conv:
        if not isinstance(msg, dict):
            raise ValueError(f"conversation entry is not an object: {msg!r:.80}")
        role = msg.get("from")
        if role is None:
            role = msg.get("role", "")
        if role not in _KNOWN:
            role = str(role).lower()
        text = msg.get("value")
        if text is None:
            text = msg.get("content")
        if text is not None and not isinstance(text, str):
            text = _text(text)
        if role in HUMAN:
            if pending is not None:
                turns.append({"instruction": pending, "response": None})
            text = text or ""
            if "<image>" not in text:
                pending = text.strip()
            elif text.startswith("<image>") and text.count("<image>") == 1:
                pending = text[7:].strip()  # the usual case, without a regex
            else:
                pending = IMAGE_TOKEN.sub(" ", text).strip()
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


def _opt_str(v):
    return v if v is None or isinstance(v, str) else str(v)


def record_to_sample(rec, path: str, index: int, raw: str | None, fmt: str = "llava") -> dict:
    if not isinstance(rec, dict):
        raise ValueError(f"record is not an object: {str(rec)[:80]!r}")
    source = {"format": fmt, "file": path, "index": index}
    original = raw if raw is not None else original_text(rec, raw)
    sid = rec.get("id")
    sid = f"{stem(path)}:{index}" if sid is None else str(sid)
    conv = rec.get("conversations")
    if conv is None:
        conv = rec.get("messages")
    img = rec.get("image")
    if img is None:
        img = rec.get("images")
    images = [] if img is None else ([img] if isinstance(img, str) else [str(i) for i in img])
    if not isinstance(conv, list):
        return make_sample(sid, [], images, source=source, original=original,
                           read_error="record has no 'conversations' list")
    try:
        turns = conversation_turns(conv)
    except ValueError as exc:
        return make_sample(sid, [], images, source=source, original=original, read_error=str(exc))
    # built directly (the turns are already normalised): this runs once per record
    return {"sample_id": sid, "images": images, "turns": turns,
            "task": _opt_str(rec.get("task")), "language": _opt_str(rec.get("language")),
            "source": source, "original": original, "read_error": None}


def iter_samples(path: str):
    yield from iter_format_samples(path, "llava", record_to_sample)


def sniff(path: str, head: str) -> bool:
    return ('"conversations"' in head or '"messages"' in head) and (
        '"from"' in head or '"role"' in head)


def write(dataset, path: str, *, jsonl: bool | None = None):
    """Write the original records back (JSON array, or JSON Lines for ``.jsonl`` paths).

    Rows that could not be read are left out (they are not records); a warning says how many.
    A dataset read from another format is converted with :func:`export` instead.
    """
    if dataset.format != "llava":
        return export(dataset, path, jsonl=jsonl)["path"]
    if jsonl is None:
        jsonl = path.endswith(".jsonl")
    dump_json_records(good_originals(dataset), path, jsonl)
    return path


register_format("llava", description="LLaVA / ShareGPT conversations (JSON or JSON Lines)",
                sniff=sniff, iter_samples=iter_samples, write=write, priority=40)


# ------------------------------------------------------------------------------- export
_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
          (b"RIFF", ".webp"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def _ext(data: bytes) -> str:
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    return ".img"


def export(dataset, path, *, images_dir: str = "images", copy_images: bool = False,
           jsonl: bool | None = None, keep_task: bool = True) -> dict:
    """Write any dataset as LLaVA conversations JSON, the format trainers take.

    Each sample becomes ``{"id", "image" | "images", "conversations": [{"from": "human",
    "value": "<image>\\n..."}, {"from": "gpt", "value": ...}, ...], "task"}``. Images held
    inline (``data:`` URIs from M3IT, MIMIC-IT, Hugging Face datasets) are written once each,
    named by content hash, into ``images_dir`` next to the JSON. Image files are referenced
    relative to the JSON's folder when they lie inside it and by absolute path otherwise
    (LLaVA trainers join paths with ``os.path.join(image_folder, path)``, which keeps an
    absolute path; vlitq reads such an export back with ``allow_outside_root=True``), or are
    copied into ``images_dir`` with ``copy_images=True`` so the export is self-contained.

    Samples that cannot be exported faithfully are left out and listed in the result: rows that
    could not be read, and samples whose images are not available (a MIMIC-IT image id absent
    from its image file).

    Parameters
    ----------
    dataset : Dataset
    path : str
        Output file (``.json``; ``.jsonl`` writes JSON Lines).
    images_dir : str
        Folder for inline (and copied) images, relative to the output file's folder.
    copy_images : bool
        Copy image files into ``images_dir`` too (named by content hash).
    jsonl : bool, optional
        Default: by the extension of ``path``.
    keep_task : bool
        Write the ``task`` label of each sample (an extra key LLaVA trainers ignore).

    Returns
    -------
    dict
        ``{"path", "written", "images_written", "skipped": [{"sample_id", "reason"}]}``.

    Examples
    --------
    >>> import tempfile, os
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> ds = Dataset.from_records([make_sample("a", [("What is it?", "A cat.")])])
    >>> out = export(ds, os.path.join(tempfile.mkdtemp(), "train.json"))
    >>> out["written"], out["skipped"]
    (1, [])
    """
    import os

    from vlitq._utils import blake2b
    from vlitq.data.images import (
        MISSING_PREFIX, ImageError, is_inline, read_image_bytes, resolve_path,
    )

    path = os.fspath(path)
    out_dir = os.path.dirname(os.path.abspath(path))
    if jsonl is None:
        jsonl = path.endswith(".jsonl")
    img_dir = os.path.join(out_dir, images_dir)
    records, skipped = [], []
    written_images: set[str] = set()
    frame = dataset.frame
    cols = ["sample_id", "images", "turns", "task", "read_error"]
    for sid, refs, turns, task, err in zip(*(frame[c].to_list() for c in cols)):
        if err:
            skipped.append({"sample_id": sid, "reason": f"not read: {err}"})
            continue
        refs = refs or []
        out_refs, problem = [], None
        for ref in refs:
            if ref.startswith(MISSING_PREFIX):
                problem = "image not available: " + ref[len(MISSING_PREFIX):]
                break
            if is_inline(ref) or copy_images:
                try:
                    data = read_image_bytes(ref, dataset.image_root, dataset.allow_outside_root)
                except ImageError as exc:
                    problem = str(exc)
                    break
                name = blake2b(data) + _ext(data)
                if name not in written_images:
                    os.makedirs(img_dir, exist_ok=True)
                    dest = os.path.join(img_dir, name)
                    if not os.path.exists(dest):
                        with open(dest, "wb") as fh:
                            fh.write(data)
                    written_images.add(name)
                out_refs.append(f"{images_dir}/{name}")
            else:
                try:
                    absolute = resolve_path(ref, dataset.image_root, dataset.allow_outside_root)
                except ImageError as exc:
                    problem = str(exc)
                    break
                if os.path.commonpath([out_dir, absolute]) == out_dir:
                    out_refs.append(os.path.relpath(absolute, out_dir).replace(os.sep, "/"))
                else:
                    out_refs.append(absolute)
        if problem:
            skipped.append({"sample_id": sid, "reason": problem})
            continue
        conv = []
        for k, t in enumerate(turns or []):
            ins = t.get("instruction") or ""
            if k == 0 and out_refs:
                ins = "<image>\n" * len(out_refs) + ins
            conv.append({"from": "human", "value": ins})
            if t.get("response") is not None:
                conv.append({"from": "gpt", "value": t["response"]})
        rec: dict = {"id": sid}
        if len(out_refs) == 1:
            rec["image"] = out_refs[0]
        elif out_refs:
            rec["images"] = out_refs
        rec["conversations"] = conv
        if keep_task and task is not None:
            rec["task"] = task
        records.append(rec)
    dump_json_records(records, path, jsonl)
    if skipped:
        import logging

        logging.getLogger("vlitq").warning("export_llava: %d samples left out (see 'skipped')",
                                           len(skipped))
    return {"path": path, "written": len(records), "images_written": len(written_images),
            "skipped": skipped}
