"""Conversation datasets (JSON array or JSON Lines), in the dialects in use today.

One reader, registered under the names of the conventions it reads (each auto-detected):

- ``llava``: LLaVA / ShareGPT ``{"id", "image": str | [str], "conversations": [{"from":
  "human", "value": "<image>\\n..."}, {"from": "gpt", "value": "..."}]}`` — also LLaVA-NeXT,
  LLaVA-OneVision (``image`` list, ``video``) and ShareGPT4V, which share the layout.
- ``llamafactory``: LLaMA-Factory ``sharegpt`` (``messages`` with ``role``/``content`` or
  ``conversations`` with ``from``/``value``, ``images`` list, ``<image>`` tokens anywhere in a
  turn, ``system``/``function_call``/``observation`` roles, ``chosen``/``rejected`` ranking
  records), its v1 OpenAI-style content parts (``{"type": "image_url", "image_url": {"url"}}``,
  ``{"type": "image_url", "value": path}``, ``{"type": "text", "text" | "value": ...}``), and
  ``alpaca`` records (``instruction``, ``input``, ``output``, ``history``, ``images``).
- ``internvl``: InternVL / InternLM-XComposer (``<ImageHere>`` or ``<image>`` tokens, ``bot``
  role, several images per record, ``width``/``height``).
- ``qwenvl``: Qwen-VL, whose images are named in the text: ``Picture 1: <img>path</img>``.

Image tokens are removed from the instruction text used for scoring (the original record keeps
them); a record whose tokens and images do not match is read and flagged in ``read_warning``.
A record whose shape is not understood is an error row naming the part not understood (an
unknown role, a content part of an unknown type, a message without text) — never empty turns.
"""
from __future__ import annotations

import json
import os
import re

from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    ShapeError,
    content_id,
    dump_json_records,
    good_originals,
    iter_format_samples,
    original_text,
)
from vlitq.text import strip_placeholders

HUMAN = {"human", "user", "observation"}
ASSISTANT = {"gpt", "assistant", "model", "bot", "function_call"}
_KNOWN = HUMAN | ASSISTANT | {"system"}
# Qwen-VL names its images in the text: the reader takes the paths out (the tags themselves are
# removed with every other placeholder by vlitq.text, the one place placeholders are stripped)
_QWEN_IMG = re.compile(r"<img>(.{0,4096}?)</img>", re.DOTALL)
_IMAGE_PART = {"image", "image_url", "input_image"}
_VIDEO_PART = {"video", "video_url"}


def _coerce(v, where: str, warns: list) -> str:
    """Text of a value that should have been a string; the coercion is flagged."""
    if isinstance(v, (dict, list)):
        warns.append(f"{where} is a {type(v).__name__}: coerced to JSON text")
        return json.dumps(v, ensure_ascii=False)
    warns.append(f"{where} is a {type(v).__name__}: coerced to text")
    return str(v)


def _part_ref(p: dict, kind: str):
    v = next((p[k] for k in (kind, "value", "url", "path") if p.get(k) is not None), None)
    if isinstance(v, dict):
        v = v.get("url", v.get("path"))
    return v


def _parts_text(parts: list, where: str, images: list, videos: list, warns: list,
                counts: list) -> str:
    """Text of OpenAI-style content parts; image/video references go to ``images``/``videos``."""
    texts = []
    for j, p in enumerate(parts):
        if isinstance(p, str):
            texts.append(p)
            continue
        if not isinstance(p, dict):
            raise ShapeError(f"{where} content part {j} is a {type(p).__name__}, not an object")
        kind = p.get("type")
        if kind == "text":
            # first key that holds something (Arrow-backed rows carry every key, null or not)
            t = next((p[k] for k in ("text", "value", "content") if p.get(k) is not None), None)
            if t is None:
                raise ShapeError(f"{where} text part {j} has no 'text' or 'value'")
            texts.append(t if isinstance(t, str) else _coerce(t, f"{where} text part {j}", warns))
        elif kind in _IMAGE_PART:
            ref = _part_ref(p, kind)
            if ref is None:
                counts[0] += 1  # a bare {"type": "image"}: stands for one of the record's images
            elif isinstance(ref, str):
                images.append(ref)
            else:
                raise ShapeError(f"{where} {kind} part {j} has a {type(ref).__name__} reference")
        elif kind in _VIDEO_PART:
            ref = _part_ref(p, kind)
            if isinstance(ref, str):
                videos.append(ref)
            else:
                counts[1] += 1
        else:
            raise ShapeError(f"{where} content part {j} has an unknown type {kind!r} "
                             "(known: text, image, image_url, input_image, video, video_url)")
    return "\n".join(t for t in texts if t)


def parse_conversation(conv: list) -> dict:
    """Turns, in-text image references, warnings and image-token count of a message list.

    Human turns are paired with the assistant turn that follows; ``system`` turns are skipped;
    a trailing question has response ``None``.

    >>> parse_conversation([{"from": "human", "value": "<image>\\nWhat is it?"},
    ...                     {"from": "gpt", "value": "A cat."}])["turns"]
    [{'instruction': 'What is it?', 'response': 'A cat.'}]
    """
    turns: list[dict] = []
    images: list[str] = []
    videos: list[str] = []
    warns: list[str] = []
    counts = [0, 0]  # image tokens / bare image parts, bare video parts
    pending: str | None = None
    for k, msg in enumerate(conv):
        if not isinstance(msg, dict):
            raise ShapeError(f"message {k} is a {type(msg).__name__}, not an object: {msg!r:.80}")
        role = msg.get("from")
        if role is None:
            role = msg.get("role")
        if role is None:
            raise ShapeError(f"message {k} has no 'from' or 'role' (keys: "
                             f"{', '.join(map(str, list(msg)[:8]))})")
        if role not in _KNOWN:
            role = str(role).lower()
            if role not in _KNOWN:
                raise ShapeError(f"message {k} has an unknown role {role!r:.40}")
        text = msg.get("value")
        if text is None:
            text = msg.get("content")
            if text is None:
                text = msg.get("text")
        where = f"message {k}"
        if text is None:
            if role == "system":
                continue
            raise ShapeError(f"{where} ({role}) has no 'value' or 'content'")
        if not isinstance(text, str):
            if isinstance(text, list) and all(
                    isinstance(p, str) or (isinstance(p, dict) and "type" in p) for p in text):
                text = _parts_text(text, where, images, videos, warns, counts)
            else:
                text = _coerce(text, f"{where} 'value'", warns)
        if "<" in text or "[" in text:
            if "<img>" in text:
                images.extend(f.strip() for f in _QWEN_IMG.findall(text))
            n_tok = text.count("<image>") + text.count("<ImageHere>")
            counts[0] += n_tok
            if n_tok == 1 and text.startswith("<image>") and "<" not in text[7:]:
                text = text[7:]  # the usual LLaVA case, without a regex
            else:
                text = strip_placeholders(text)
        if role in HUMAN:
            if pending is not None:
                turns.append({"instruction": pending, "response": None})
            pending = text.strip()
        elif role in ASSISTANT:
            turns.append({"instruction": pending, "response": text.strip()})
            pending = None
    if pending is not None:
        turns.append({"instruction": pending, "response": None})
    return {"turns": turns, "images": images, "videos": videos, "warnings": warns,
            "tokens": counts[0]}


def conversation_turns(conv: list) -> list[dict]:
    """The turns of a message list (see :func:`parse_conversation`); raises on a bad shape.

    >>> conversation_turns([{"from": "human", "value": "<image>\\nWhat is it?"},
    ...                     {"from": "gpt", "value": "A cat."}])
    [{'instruction': 'What is it?', 'response': 'A cat.'}]
    """
    return parse_conversation(conv)["turns"]


def _opt_str(v, what: str, warns: list):
    if v is None or isinstance(v, str):
        return v
    return _coerce(v, f"'{what}'", warns)


def _refs(v, key: str, warns: list) -> list[str]:
    """References of an ``image``/``images``/``video`` value: a string, a list, {path|url}."""
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        r = v.get("path", v.get("url"))
        if isinstance(r, str):
            return [r]
        raise ShapeError(f"{key!r} is an object without a 'path' or 'url' string")
    if isinstance(v, list):
        out = []
        for j, x in enumerate(v):
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, dict) and isinstance(x.get("path", x.get("url")), str):
                out.append(x.get("path", x.get("url")))
            elif x is None:
                warns.append(f"{key!r} item {j} is null: skipped")
            else:
                raise ShapeError(f"{key!r} item {j} is a {type(x).__name__}, not a path")
        return out
    raise ShapeError(f"{key!r} is a {type(v).__name__}, not a path or a list of paths")


def _alpaca(rec: dict, warns: list) -> list[dict]:
    """Turns of an alpaca record: ``history`` pairs, then instruction (+ input) → output."""
    turns = []
    hist = rec.get("history") or []
    if not isinstance(hist, list):
        raise ShapeError(f"'history' is a {type(hist).__name__}, not a list of [q, a] pairs")
    for j, h in enumerate(hist):
        if not (isinstance(h, (list, tuple)) and len(h) == 2):
            raise ShapeError(f"'history' item {j} is not a [question, answer] pair")
        turns.append({"instruction": _opt_str(h[0], f"history {j} question", warns),
                      "response": _opt_str(h[1], f"history {j} answer", warns)})
    ins = _opt_str(rec.get("instruction"), "instruction", warns) or ""
    inp = _opt_str(rec.get("input"), "input", warns)
    if inp:
        ins = f"{ins}\n{inp}" if ins else inp
    out = rec.get("output")
    if out is None and rec.get("chosen") is not None:  # an alpaca preference record
        out = rec["chosen"]
        if rec.get("rejected") is not None:
            warns.append("ranking record: 'chosen' is scored as the response, 'rejected' is not")
    turns.append({"instruction": ins.strip(),
                  "response": None if out is None else _opt_str(out, "output", warns)})
    return turns


def record_to_sample(rec, path: str, index: int, raw: str | None, fmt: str = "llava") -> dict:
    if not isinstance(rec, dict):
        raise ShapeError(f"record is a {type(rec).__name__}, not an object: {str(rec)[:80]!r}")
    source = {"format": fmt, "file": path, "index": index}
    original = raw if raw is not None else original_text(rec, raw)
    warns: list[str] = []
    sid = rec.get("id")
    if sid is None or sid == "":
        sid = content_id(original)
    elif not isinstance(sid, str):
        sid = str(sid) if isinstance(sid, (int, float)) else _coerce(sid, "'id'", warns)
    img = rec.get("image")
    key = "image"
    if img is None:
        img, key = rec.get("images"), "images"
    images = [img] if isinstance(img, str) and img else _refs(img, key, warns)
    given = len(images)
    conv = rec.get("conversations")
    if conv is None:
        conv = rec.get("messages")
    videos = _refs(rec.get("video", rec.get("videos")), "video", warns) \
        if ("video" in rec or "videos" in rec) else []
    if conv is None:
        if "instruction" in rec and ("output" in rec or "input" in rec or "chosen" in rec):
            turns, tokens = _alpaca(rec, warns), 0
            for t in turns:
                n = (t["instruction"] or "").count("<image>")
                if n:
                    tokens += n
                    t["instruction"] = strip_placeholders(t["instruction"])
        else:
            keys = ", ".join(map(str, list(rec)[:10]))
            raise ShapeError("record has no 'conversations'/'messages' list and no "
                             f"'instruction'/'output' (keys: {keys})")
    else:
        if not isinstance(conv, list):
            raise ShapeError(f"'conversations'/'messages' is a {type(conv).__name__}, not a list")
        if not conv:
            raise ShapeError("'conversations'/'messages' is an empty list")
        parsed = parse_conversation(conv)
        turns, tokens = parsed["turns"], parsed["tokens"]
        images.extend(parsed["images"])
        videos.extend(parsed["videos"])
        warns.extend(parsed["warnings"])
        if not turns:
            raise ShapeError("the conversation has no user or assistant message")
        chosen = rec.get("chosen")
        if chosen is not None and turns[-1]["response"] is None:  # a ranking (DPO) record
            msgs = (chosen if isinstance(chosen, list) and chosen
                    and all(isinstance(m, dict) and ("role" in m or "from" in m) for m in chosen)
                    else [chosen if isinstance(chosen, dict)
                          else {"role": "assistant", "content": chosen}])
            c = parse_conversation(msgs)["turns"]
            turns[-1]["response"] = c[-1]["response"] if c else None
            if rec.get("rejected") is not None:
                warns.append("ranking record: 'chosen' is scored as the response, 'rejected' "
                             "is not")
    if tokens and tokens != given:
        warns.append(f"{tokens} image token(s) in the text but {given} image(s) in "
                     f"'{key}'")
    out = {"sample_id": sid, "images": images, "turns": turns,
           "task": _opt_str(rec.get("task"), "task", warns),
           "language": _opt_str(rec.get("language"), "language", warns),
           "source": source, "original": original, "read_error": None,
           "read_warning": "; ".join(warns) if warns else None}
    if videos:
        out["videos"] = videos
    return out


def _converter(fmt: str, remap=None):
    def convert(rec, path, index, raw):
        return record_to_sample(remap(rec) if remap else rec, path, index, raw, fmt)
    return convert


# ------------------------------------------------------------------ LLaMA-Factory dataset_info
def dataset_info_entry(path: str, dataset_info: str | None = None,
                       dataset: str | None = None) -> dict | None:
    """The ``dataset_info.json`` entry describing ``path`` (LLaMA-Factory's column and role
    names), or ``None`` when there is none.

    ``dataset_info`` defaults to the ``dataset_info.json`` beside the file; ``dataset`` names
    the entry, else the entry whose ``file_name`` is the file's name is used.
    """
    from vlitq.data.formats._common import format_error

    explicit = dataset_info is not None or dataset is not None
    info_path = dataset_info or os.path.join(os.path.dirname(os.path.abspath(path)),
                                             "dataset_info.json")
    if not os.path.isfile(info_path):
        if explicit:
            raise format_error(f"dataset_info={info_path!r}: no such file")
        return None
    try:
        with open(info_path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        if explicit:
            raise format_error(f"{info_path}: not a dataset_info.json ({exc})") from None
        return None
    if not isinstance(info, dict):
        return None
    if dataset is not None:
        if not isinstance(info.get(dataset), dict):
            raise format_error(f"dataset={dataset!r} is not in {info_path} (entries: "
                               f"{', '.join(list(info)[:20])})")
        return info[dataset]
    name = os.path.basename(path)
    return next((e for e in info.values() if isinstance(e, dict) and e.get("file_name") == name),
                None)


def dataset_info_remap(entry: dict):
    """A function turning records described by a ``dataset_info.json`` entry into the default
    LLaMA-Factory shape (``messages`` with ``role``/``content``, or alpaca keys)."""
    cols = entry.get("columns") or {}
    tags = entry.get("tags") or {}
    if entry.get("formatting", "alpaca") == "sharegpt":
        mcol = cols.get("messages", "conversations")
        role_tag, content_tag = tags.get("role_tag", "from"), tags.get("content_tag", "value")
        roles = {tags.get("user_tag", "human"): "user",
                 tags.get("assistant_tag", "gpt"): "assistant",
                 tags.get("observation_tag", "observation"): "observation",
                 tags.get("function_tag", "function_call"): "function_call",
                 tags.get("system_tag", "system"): "system"}

        def msg(m):
            if not isinstance(m, dict) or role_tag not in m:
                return m
            r = m.get(role_tag)
            return {"role": roles.get(r, r) if isinstance(r, str) else r,
                    "content": m.get(content_tag)}

        def remap(rec):
            if not isinstance(rec, dict):
                return rec
            out = {k: rec[k] for k in ("id", "task", "language") if k in rec}
            if mcol in rec:
                m = rec[mcol]
                out["messages"] = [msg(x) for x in m] if isinstance(m, list) else m
            for std in ("images", "videos", "chosen", "rejected"):
                k = cols.get(std, std)
                if k in rec:
                    out[std] = msg(rec[k]) if std in ("chosen", "rejected") else rec[k]
            return out
        return remap
    names = {"instruction": cols.get("prompt", "instruction"), "input": cols.get("query", "input"),
             "output": cols.get("response", "output"), "history": cols.get("history", "history"),
             "images": cols.get("images", "images"), "videos": cols.get("videos", "videos"),
             "chosen": cols.get("chosen", "chosen"), "rejected": cols.get("rejected", "rejected")}

    def remap_alpaca(rec):
        if not isinstance(rec, dict):
            return rec
        out = {k: rec[k] for k in ("id", "task", "language") if k in rec}
        out.update({std: rec[k] for std, k in names.items() if k in rec})
        return out
    return remap_alpaca


def iter_llamafactory(path: str, *, dataset_info: str | None = None,
                      dataset: str | None = None):
    """LLaMA-Factory records; column and role names from ``dataset_info.json`` when it names the
    file (see :func:`dataset_info_entry`)."""
    entry = dataset_info_entry(path, dataset_info, dataset)
    remap = dataset_info_remap(entry) if entry else None
    yield from iter_format_samples(path, "llamafactory", _converter("llamafactory", remap))


def iter_samples(path: str):
    yield from iter_format_samples(path, "llava", record_to_sample)


def sniff(path: str, head: str) -> bool:
    return ('"conversations"' in head or '"messages"' in head) and (
        '"from"' in head or '"role"' in head)


_BOT = re.compile(r'"(?:from|role)"\s*:\s*"bot"')


def sniff_internvl(path: str, head: str) -> bool:
    return sniff(path, head) and ("<ImageHere>" in head or bool(_BOT.search(head)) or (
        '"width"' in head and '"height"' in head and '"conversations"' in head))


def sniff_qwenvl(path: str, head: str) -> bool:
    return sniff(path, head) and "<img>" in head and "</img>" in head


def sniff_llamafactory(path: str, head: str) -> bool:
    if not os.path.isdir(path):
        try:  # a LLaMA-Factory data folder: its dataset_info.json names the file
            if dataset_info_entry(path) is not None:
                return True
        except Exception:  # noqa: BLE001 - a broken dataset_info.json only means "not named"
            pass
    if sniff(path, head):
        return '"messages"' in head and '"role"' in head and '"content"' in head
    # alpaca records: instruction/input/output (M3IT's have inputs/outputs and sniff first)
    return '"instruction"' in head and ('"output"' in head or '"chosen"' in head) \
        and '"outputs"' not in head


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


def _writer(fmt: str):
    def write_fmt(dataset, path: str, *, jsonl: bool | None = None):
        if dataset.format != fmt:
            return export(dataset, path, jsonl=jsonl)["path"]
        if jsonl is None:
            jsonl = path.endswith(".jsonl")
        dump_json_records(good_originals(dataset), path, jsonl)
        return path
    write_fmt.__doc__ = write.__doc__
    return write_fmt


def _iter(fmt: str):
    def iter_fmt(path: str):
        yield from iter_format_samples(path, fmt, _converter(fmt))
    return iter_fmt


register_format("llava", description="LLaVA / ShareGPT conversations (JSON or JSON Lines); "
                "also LLaVA-NeXT, LLaVA-OneVision, ShareGPT4V", sniff=sniff,
                iter_samples=iter_samples, write=write, priority=40)
register_format("llamafactory", description="LLaMA-Factory sharegpt / OpenAI messages (content "
                "parts too) / alpaca records, images list", sniff=sniff_llamafactory,
                iter_samples=iter_llamafactory, write=_writer("llamafactory"), priority=36)
register_format("internvl", description="InternVL / InternLM-XComposer conversations "
                "(<ImageHere>, bot role, several images)", sniff=sniff_internvl,
                iter_samples=_iter("internvl"), write=_writer("internvl"), priority=35)
register_format("qwenvl", description="Qwen-VL conversations with images in the text "
                "(<img>path</img>)", sniff=sniff_qwenvl, iter_samples=_iter("qwenvl"),
                write=_writer("qwenvl"), priority=35)


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
        MISSING_PREFIX,
        ImageError,
        is_inline,
        read_image_bytes,
        resolve_path,
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
