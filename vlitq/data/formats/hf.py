"""Hugging Face ``datasets``: a ``datasets.Dataset`` object, or a folder written by
``save_to_disk`` (``load_from_disk``; a ``DatasetDict`` folder takes ``split=``, default the
first split).

Columns are mapped like the ``flat`` format (``instruction=``, ``response=``, ``image=``,
``task=``, ``id=``, ``language=``, with the same common-name defaults); a ``conversations`` /
``messages`` column (LLaVA style) is used for the turns when there is no instruction column.
Image columns may hold ``datasets.Image`` values (read undecoded: their bytes become ``data:``
URIs, decoded only when a scorer needs them), PIL images, ``{"bytes", "path"}`` dicts, bytes or
paths. Write-back selects the kept rows of the source dataset and saves them with
``save_to_disk``, so every column and feature type survives.
"""
from __future__ import annotations

import json
import os

from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import ShapeError, content_id, format_error
from vlitq.data.formats.flat import CANDIDATES, _jsonable, _s, image_refs
from vlitq.data.formats.llava import parse_conversation


def _load(source, split):
    from vlitq._dependencies import import_optional

    datasets = import_optional("datasets")
    if isinstance(source, (str, os.PathLike)):
        try:
            obj = datasets.load_from_disk(os.fspath(source))
        except Exception as exc:
            raise format_error(f"{source}: not a Hugging Face dataset folder "
                               f"(load_from_disk failed: {type(exc).__name__}: {exc})") from None
    else:
        obj = source
    if isinstance(obj, datasets.DatasetDict):
        if not obj:
            raise format_error("the DatasetDict has no splits")
        split = split or next(iter(obj))
        if split not in obj:
            raise format_error(f"no split {split!r}; splits: {', '.join(obj)}")
        obj = obj[split]
    if not isinstance(obj, datasets.Dataset):
        raise format_error(f"cannot read a {type(obj).__name__} as a Hugging Face dataset")
    return datasets, obj


def read(source, *, image_root=None, split: str | None = None, instruction=None, response=None,
         image=None, task=None, id=None, language=None) -> Dataset:
    datasets, hfds = _load(source, split)
    cols = hfds.column_names
    given = {"instruction": instruction, "response": response, "image": image, "task": task,
             "id": id, "language": language}
    m = {}
    for field, names in CANDIDATES.items():
        if given[field] is not None:
            if given[field] not in cols:
                raise format_error(f"{field}={given[field]!r}: no such column "
                                   f"(columns: {', '.join(cols)})")
            m[field] = given[field]
        else:
            m[field] = next((c for c in names if c in cols), None)
    conv_col = next((c for c in ("conversations", "messages") if c in cols), None)
    if (m["instruction"] is None or m["response"] is None) and conv_col is None:
        raise format_error("a Hugging Face dataset needs instruction and response columns (or "
                           "a 'conversations' column): pass instruction=... and response=... "
                           f"(columns: {', '.join(cols)})")
    view = hfds
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the casts below are quick; their bars are noise
    try:
        for c, feat in hfds.features.items():  # read images undecoded: bytes, not PIL objects
            if isinstance(feat, datasets.Image) and feat.decode:
                view = view.cast_column(c, datasets.Image(decode=False))
            elif (isinstance(feat, datasets.Sequence)
                  and isinstance(feat.feature, datasets.Image)):
                view = view.cast_column(c, datasets.Sequence(datasets.Image(decode=False)))
            elif isinstance(feat, list) and feat and isinstance(feat[0], datasets.Image):
                view = view.cast_column(c, [datasets.Image(decode=False)])
    finally:
        if bars:
            datasets.enable_progress_bars()
    name = getattr(hfds, "info", None) and hfds.info.dataset_name
    where = os.fspath(source) if isinstance(source, (str, os.PathLike)) else (name or "hf")
    samples = []
    for index, row in enumerate(view):
        source_d = {"format": "hf", "file": where, "index": index}
        text_row = {k: v for k, v in row.items() if k != m["image"]}
        original = json.dumps(text_row, ensure_ascii=False, default=_jsonable)
        warns: list[str] = []
        sid = row.get(m["id"]) if m["id"] else None
        sid = content_id(original) if sid in (None, "") else str(sid)
        err = None
        try:
            images = image_refs(row.get(m["image"])) if m["image"] else []
            if m["instruction"] is not None and m["response"] is not None:
                ins, res = row.get(m["instruction"]), row.get(m["response"])
                turns = [(_s(ins, m["instruction"], warns), _s(res, m["response"], warns))]
            else:
                conv = row.get(conv_col)
                if not conv:
                    raise ShapeError(f"row has an empty {conv_col!r}")
                parsed = parse_conversation(conv)
                turns = parsed["turns"]
                images += parsed["images"]
                warns += parsed["warnings"]
        except ShapeError as exc:
            images, turns, err = [], [], str(exc)
        except Exception as exc:
            images, turns, err = [], [], f"cannot read row: {type(exc).__name__}: {exc}"
        samples.append(make_sample(
            sid, turns, images,
            task=None if not m["task"] or row.get(m["task"]) is None else str(row[m["task"]]),
            language=None if not m["language"] or row.get(m["language"]) is None
            else str(row[m["language"]]),
            source=source_d, read_error=err, read_warning="; ".join(warns) or None,
            original=original))
    return Dataset.from_records(samples, image_root=image_root, format="hf",
                                meta={"hf_dataset": hfds})


def iter_samples(path: str, **options):
    yield from read(path, **options).frame.iter_rows(named=True)


def sniff(path: str, head: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, f))
        for f in ("dataset_info.json", "state.json", "dataset_dict.json"))


def write(dataset, path: str):
    """Save the kept rows of the source dataset with ``save_to_disk`` (a folder)."""
    hfds = dataset.meta.get("hf_dataset")
    if hfds is None:
        raise format_error("this dataset was not read from a Hugging Face dataset; use "
                           "format='flat' (a .parquet/.jsonl path) or export_llava")
    frame = dataset.frame
    if "read_error" in frame.columns:
        frame = frame.filter(frame["read_error"].is_null())
    idx = [s["index"] for s in frame["source"].to_list()]
    hfds.select(idx).save_to_disk(os.fspath(path))
    return path


register_format("hf", description="Hugging Face datasets.Dataset object or save_to_disk folder "
                "(field mapping as flat)", sniff=sniff, iter_samples=iter_samples, write=write,
                read=read, priority=10)
