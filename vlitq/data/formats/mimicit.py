"""MIMIC-IT (Otter): an instruction JSON plus an image file of base64 strings.

Instruction file (``LADD_instructions.json``)::

    {"meta": {"version": ..., "time": ..., "author": ...},
     "data": {"LADD_INS_000000": {"instruction": "...", "answer": "...",
                                  "image_ids": ["LADD_IMG_000000", ...],
                                  "rel_ins_ids": ["LADD_INS_000001", ...]}, ...}}

Image file: a JSON object ``{image_id: base64}`` (``LA.json``) or the newer Parquet of the same
pairs (``LA.parquet``, index or ``id``/``image_id`` column + ``base64``). Pass it as
``images=path``; when omitted it is looked for next to the instruction file: for
``X_instructions.json`` the files ``X.json``, ``X_images.json``, ``X.parquet``,
``X_images.parquet``, and the same with ``X`` shortened to its first two letters (``LADD`` →
``LA``, as the release names them). One sample per instruction, with all of its images
(several for the in-context and video subsets); ``rel_ins_ids`` stay in the original record. An
image id that the image file lacks becomes an image error of that sample.

Writing produces both files: the instruction JSON (``meta`` unchanged, ``data`` holding the
kept instructions' original records) and an image JSON holding exactly the images they use
(``images=`` path, default: the name the reader would look for, next to the output).
"""
from __future__ import annotations

import json
import logging
import os
import re

from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    error_sample,
    fix_surrogates,
    format_error,
    good_originals,
    iter_json_object_members,
    read_text,
    stem,
)
from vlitq.data.images import MISSING_PREFIX, is_inline, missing_ref, to_data_uri

logger = logging.getLogger("vlitq")
_DATA = re.compile(r'"data"\s*:\s*(?=\{)')


def _base(path: str) -> str:
    s = stem(path)
    return s[: -len("_instructions")] if s.endswith("_instructions") else s


def image_file_candidates(path: str) -> list[str]:
    folder = os.path.dirname(os.path.abspath(path))
    base = _base(path)
    bases = [base] + ([base[:2]] if len(base) > 2 else [])
    out = []
    for b in bases:
        for suffix in (".json", "_images.json", ".parquet", "_images.parquet"):
            p = os.path.join(folder, b + suffix)
            if os.path.abspath(p) != os.path.abspath(path):
                out.append(p)
    return out


def find_image_file(path: str) -> str | None:
    for p in image_file_candidates(path):
        if os.path.isfile(p):
            return p
    return None


def load_images(images_path: str, wanted: set[str]) -> dict[str, str]:
    """``{image_id: base64}`` of the wanted ids from a MIMIC-IT image JSON or Parquet file."""
    if images_path.endswith(".parquet"):
        import polars as pl

        df = pl.read_parquet(images_path)
        id_col = next((c for c in ("__index_level_0__", "id", "image_id", "key")
                       if c in df.columns), df.columns[0])
        b64_col = "base64" if "base64" in df.columns else df.columns[-1]
        df = df.filter(pl.col(id_col).cast(pl.Utf8).is_in(list(wanted)))
        return dict(zip(df[id_col].cast(pl.Utf8).to_list(), df[b64_col].to_list()))
    with open(images_path, "rb") as fh:
        try:
            data = json.loads(fh.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise format_error(f"{images_path}: MIMIC-IT image file is not valid JSON: {exc}"
                               ) from None
    if not isinstance(data, dict):
        raise format_error(f"{images_path}: MIMIC-IT image file is not a JSON object "
                           "{image_id: base64}")
    return {k: v for k, v in data.items() if k in wanted}


def read(path: str, *, image_root=None, images: str | None = None,
         task: str | None = None) -> Dataset:
    text, bad = read_text(path)
    m = _DATA.search(text)
    if m is None:
        raise format_error(f"{path}: not a MIMIC-IT instruction file (no 'data' object)")
    meta = None
    try:
        whole = json.loads(text)
        meta = whole.get("meta") if isinstance(whole, dict) else None
        order = list(whole) if isinstance(whole, dict) else ["meta", "data"]
    except (ValueError, RecursionError):  # broken or too deep: read member by member
        order = ["meta", "data"]
        mm = re.search(r'"meta"\s*:\s*(?=\{)', text)
        if mm:
            try:
                meta = json.JSONDecoder().raw_decode(text, mm.end())[0]
            except (ValueError, RecursionError):
                meta = None
    rows = []
    for key, index, rec, raw, err in iter_json_object_members(path, text, bad, m.end()):
        if err:
            s = error_sample("mimicit", path, index, raw, err)
            s["sample_id"] = key
            s["record_key"] = key
            rows.append((s, None))
            continue
        rows.append((key, index, rec, raw))
    images_path = images or find_image_file(path)
    wanted = set()
    for r in rows:
        if len(r) == 4 and isinstance(r[2], dict) and isinstance(r[2].get("image_ids"), list):
            wanted.update(map(str, r[2]["image_ids"]))
    pool: dict[str, str] = {}
    no_file_reason = None
    if images_path is not None:
        pool = load_images(images_path, wanted)
    elif wanted:
        looked = ", ".join(os.path.basename(p) for p in image_file_candidates(path))
        no_file_reason = (f"no MIMIC-IT image file next to {os.path.basename(path)} "
                          f"(looked for {looked}); pass images=...")
        logger.warning(no_file_reason)
    samples = []
    for r in rows:
        if len(r) == 2:
            samples.append(r[0])
            continue
        key, index, rec, raw = r
        source = {"format": "mimicit", "file": path, "index": index}
        if not isinstance(rec, dict):
            samples.append(make_sample(key, [], [], source=source, original=raw, record_key=key,
                                       read_error=f"instruction is not an object: {raw[:80]!r}"))
            continue
        ids = rec.get("image_ids") or []
        if not isinstance(ids, list):
            ids = [ids]
        refs = []
        for i in map(str, ids):
            if i in pool:
                refs.append(to_data_uri(pool[i]))
            else:
                refs.append(missing_ref(no_file_reason or f"image id {i!r} is not in "
                                        f"{os.path.basename(images_path)}"))
        ins, ans = rec.get("instruction"), rec.get("answer")
        if ins is None and ans is None:
            samples.append(make_sample(key, [], refs, source=source, original=raw,
                                       record_key=key,
                                       read_error="instruction has no 'instruction'/'answer'"))
            continue
        warns = [f"'{k}' is a {type(v).__name__}: coerced to text"
                 for k, v in (("instruction", ins), ("answer", ans))
                 if v is not None and not isinstance(v, str)]
        samples.append(fix_surrogates(make_sample(
            key, [(None if ins is None else str(ins), None if ans is None else str(ans))], refs,
            task=str(rec["task"]) if rec.get("task") is not None else task, source=source,
            original=raw, record_key=key, read_warning="; ".join(warns) or None), raw))
    return Dataset.from_records(samples, image_root=image_root, format="mimicit",
                                meta={"meta": meta, "order": order,
                                      "images_path": images_path})


def iter_samples(path: str, **options):
    yield from read(path, **options).frame.iter_rows(named=True)


def sniff(path: str, head: str) -> bool:
    return '"data"' in head and ('"image_ids"' in head or '"rel_ins_ids"' in head)


def default_images_path(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    s = stem(path)
    name = _base(path) + ".json" if s.endswith("_instructions") else s + "_images.json"
    return os.path.join(folder, name)


def write(dataset, path: str, *, images: str | None = None):
    """Write the instruction JSON and its image JSON (only the images the kept samples use).

    Returns the two paths.
    """
    images = images or default_images_path(path)
    frame = dataset.frame
    if "read_error" in frame.columns:
        frame = frame.filter(frame["read_error"].is_null())
    origs = good_originals(dataset)
    out_images: dict[str, str] = {}
    for sid, orig, refs in zip(frame["sample_id"].to_list(), origs, frame["images"].to_list()):
        rec = json.loads(orig)
        ids = rec.get("image_ids") or []
        ids = ids if isinstance(ids, list) else [ids]
        for i, ref in zip(map(str, ids), refs or []):
            if ref.startswith(MISSING_PREFIX) or i in out_images:
                continue
            if is_inline(ref):
                out_images[i] = ref.split(",", 1)[1]
            else:  # a path reference (dataset built by hand): inline the file
                import base64

                from vlitq.data.images import read_image_bytes

                out_images[i] = base64.b64encode(read_image_bytes(
                    ref, dataset.image_root, dataset.allow_outside_root)).decode("ascii")
    keys = (frame["record_key"] if "record_key" in frame.columns else frame["sample_id"]).to_list()
    meta = dataset.meta.get("meta")
    order = dataset.meta.get("order") or ["meta", "data"]
    parts = []
    for k in order:
        if k == "data":
            body = ", ".join(f"{json.dumps(sid, ensure_ascii=False)}: {o}"
                             for sid, o in zip(keys, origs))
            parts.append('"data": {' + body + "}")
        elif k == "meta":
            parts.append('"meta": ' + json.dumps(meta, ensure_ascii=False))
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    _atomic_write(path, "{" + ", ".join(parts) + "}\n")
    _atomic_write(images, json.dumps(out_images))
    return path, images


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


register_format("mimicit", description="MIMIC-IT instruction JSON + image JSON/Parquet of "
                "base64 (images=... or found next to it)", sniff=sniff,
                iter_samples=iter_samples, write=write, read=read, priority=20)
