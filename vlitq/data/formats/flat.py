"""Flat tables: one sample per row of a JSON Lines / JSON / CSV / Parquet file or of a polars /
pandas DataFrame, with a field mapping.

Options name the columns: ``instruction=``, ``response=``, ``image=`` (a path, a ``data:`` URI,
bytes, or a list of them), ``task=``, ``id=``, ``language=``. Unnamed ones are looked for under
common names (``instruction``/``question``/``prompt``..., ``response``/``answer``/``output``...,
``image``/``image_path``/``images``..., ``id``, ``task``, ``language``). A table without an
instruction and a response column is refused with the columns it has.

Write-back keeps the file kind of the output path (``.jsonl``, ``.json``, ``.csv``,
``.parquet``): JSON records are written from their source text; CSV cells stay strings; Parquet
rows are taken from the source table itself, so types survive the round trip.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re

from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    PARSE_ERRORS,
    content_id,
    dump_json_records,
    error_sample,
    fix_surrogates,
    format_error,
    good_originals,
    iter_json_records,
)
from vlitq.data.images import to_data_uri

CANDIDATES = {
    "instruction": ("instruction", "question", "prompt", "query", "input", "human"),
    "response": ("response", "answer", "output", "outputs", "target", "completion", "gpt"),
    "image": ("image", "images", "image_path", "image_file", "img", "img_path", "image_url"),
    "id": ("id", "sample_id", "uid", "unique_id"),
    "task": ("task", "task_name", "category"),
    "language": ("language", "lang"),
}
_SURROGATE = re.compile("[\udc80-\udcff]")


def resolve_mapping(columns, mapping: dict) -> dict:
    """Column of each field: the one named in ``mapping`` or a common name that exists."""
    out = {}
    for field, names in CANDIDATES.items():
        given = mapping.get(field)
        if given is not None:
            if given not in columns:
                raise format_error(f"{field}={given!r}: no such column (columns: "
                                   f"{', '.join(map(str, columns))})")
            out[field] = given
        else:
            out[field] = next((c for c in names if c in columns), None)
    if out["instruction"] is None or out["response"] is None:
        raise format_error("a flat table needs an instruction and a response column: pass "
                           "instruction=... and response=... (columns: "
                           f"{', '.join(map(str, columns))})")
    return out


def image_refs(v) -> list[str]:
    """References of a cell: None, a path / data URI, bytes, {'bytes','path'}, or a list."""
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [r for x in v for r in image_refs(x)]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return [to_data_uri(bytes(v))]
    if isinstance(v, dict):
        if v.get("bytes") is not None:
            return [to_data_uri(bytes(v["bytes"]))]
        return [str(v["path"])] if v.get("path") else []
    if hasattr(v, "save") and hasattr(v, "size"):  # a PIL image
        buf = io.BytesIO()
        fmt = getattr(v, "format", None) or "PNG"
        v.save(buf, format=fmt)
        return [to_data_uri(buf.getvalue(), f"image/{fmt.lower()}")]
    s = str(v)
    if not s:
        return []
    if s.startswith("[") and s.endswith("]"):  # a list stored as JSON text (CSV)
        try:
            return image_refs(json.loads(s))
        except PARSE_ERRORS:
            pass
    return [s]


def _s(v, what: str, warns: list):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)  # numbers in a table (an answer "2", an id) are text without a flag
    warns.append(f"{what} is a {type(v).__name__}: coerced to "
                 + ("JSON text" if isinstance(v, (dict, list)) else "text"))
    return json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (dict, list)) \
        else str(v)


def row_to_sample(row: dict, m: dict, path: str, index: int, original: str | None) -> dict:
    source = {"format": "flat", "file": path, "index": index}
    warns: list[str] = []
    sid = row.get(m["id"]) if m["id"] else None
    sid = content_id(original) if sid is None or sid == "" else _s(sid, "the id", warns)
    absent = [row_key for row_key in (m["instruction"], m["response"]) if row_key not in row]
    if len(absent) == 2:
        return make_sample(sid, [], [], source=source, original=original,
                           read_error="record has neither the instruction field "
                           f"{m['instruction']!r} nor the response field {m['response']!r} "
                           f"(keys: {', '.join(map(str, list(row)[:10]))})")
    for k in absent:
        warns.append(f"record has no {k!r} field")
    try:
        images = image_refs(row.get(m["image"])) if m["image"] else []
    except RecursionError:
        images, warns = [], warns + ["the image field is nested too deeply: ignored"]
    sample = make_sample(sid, [(_s(row.get(m["instruction"]), m["instruction"], warns),
                                _s(row.get(m["response"]), m["response"], warns))], images,
                         task=_s(row.get(m["task"]), m["task"], warns) if m["task"] else None,
                         language=_s(row.get(m["language"]), m["language"], warns)
                         if m["language"] else None,
                         source=source, original=original)
    sample["read_warning"] = "; ".join(warns) if warns else None
    return sample


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(ext, "jsonl")


def _read_json(path: str, mapping: dict, probe: int = 1000) -> list[dict]:
    """Samples of a JSON Lines / JSON file of flat records.

    The mapping is resolved against the keys of the first ``probe`` records together (records
    of one file need not all hold every key; one without the mapped fields is an error row).
    """
    samples: list[dict] = []
    m = None
    n_ok = 0
    buffered: list[tuple] = []
    keys: dict = {}

    def emit(index, rec, raw, err):
        if err or not isinstance(rec, dict):
            samples.append(error_sample("flat", path, index, raw,
                                        err or f"record is a {type(rec).__name__}, not an "
                                        "object"))
            return
        try:
            samples.append(fix_surrogates(row_to_sample(rec, m, path, index, raw), raw))
        except Exception as exc:  # one odd record: an error row, not a failed file
            samples.append(error_sample("flat", path, index, raw,
                                        f"cannot read record: {type(exc).__name__}: {exc}"[:500]))

    for item in iter_json_records(path):
        index, rec, raw, err = item
        ok = not err and isinstance(rec, dict)
        n_ok += ok
        if m is None:
            buffered.append(item)
            if ok:
                keys.update(dict.fromkeys(rec))
            if len(buffered) < probe:
                continue
            if not keys:
                break
            m = resolve_mapping(list(keys), mapping)
            for b in buffered:
                emit(*b)
            buffered = []
            continue
        emit(*item)
    if n_ok == 0:
        first = next((b[3] for b in buffered if b[3]), None)
        raise format_error(f"{path}: no record of the file parses as a JSON object"
                           + (f" (first problem: {first})" if first else ""))
    if m is None:
        m = resolve_mapping(list(keys), mapping)
        for b in buffered:
            emit(*b)
    return samples


def _read_csv(path: str, mapping: dict, delimiter: str) -> tuple[list[dict], list[str]]:
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="surrogateescape")
    from vlitq.data.formats._common import MAX_LINE_BYTES

    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise format_error(f"{path}: empty CSV file") from None
    if _SURROGATE.search("".join(header)):
        raise format_error(f"{path}: the CSV header is not valid UTF-8")
    m = resolve_mapping(header, mapping)
    samples = []
    for index, cells in enumerate(reader):
        line = reader.line_num
        raw = delimiter.join(cells)
        if not cells or all(not c for c in cells):
            continue
        if len(cells) != len(header):
            samples.append(error_sample("flat", path, line, raw, f"CSV line {line} has "
                                        f"{len(cells)} fields, the header has {len(header)}"))
            continue
        if _SURROGATE.search(raw):
            samples.append(error_sample("flat", path, line, raw,
                                        f"CSV line {line} is not valid UTF-8"))
            continue
        row = dict(zip(header, cells))
        samples.append(row_to_sample(row, m, path, line, json.dumps(row, ensure_ascii=False)))
    return samples, header


def frame_samples(df, mapping: dict, path: str | None) -> list[dict]:
    """Samples of a polars frame (row index = position)."""
    m = resolve_mapping(df.columns, mapping)
    out = []
    for index, row in enumerate(df.iter_rows(named=True)):
        out.append(row_to_sample(row, m, path or "", index,
                                 json.dumps(row, ensure_ascii=False, default=_jsonable)))
    return out


def _jsonable(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return to_data_uri(bytes(v))
    return str(v)


def read(source, *, image_root=None, instruction=None, response=None, image=None, task=None,
         id=None, language=None) -> Dataset:
    mapping = {"instruction": instruction, "response": response, "image": image, "task": task,
               "id": id, "language": language}
    meta: dict = {"mapping": mapping}
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        kind = _kind(path)
        meta["kind"] = kind
        if kind in ("json", "jsonl"):
            samples = _read_json(path, mapping)
        elif kind in ("csv", "tsv"):
            samples, header = _read_csv(path, mapping, "," if kind == "csv" else "\t")
            meta["header"] = header
        else:
            import polars as pl

            try:
                df = pl.read_parquet(path)
            except Exception as exc:
                raise format_error(f"{path}: not a Parquet file: {exc}") from None
            samples = frame_samples(df, mapping, path)
            meta["table"] = df
    else:
        import polars as pl

        df = source
        if not isinstance(df, pl.DataFrame):
            if type(df).__module__.startswith("pandas"):
                df = pl.from_pandas(df)
            else:
                raise format_error(f"cannot read a {type(source).__name__} as a flat table; "
                                   "pass a polars or pandas DataFrame")
        samples = frame_samples(df, mapping, None)
        meta["kind"] = "frame"
        meta["table"] = df
    return Dataset.from_records(samples, image_root=image_root, format="flat", meta=meta)


def iter_samples(path: str, **options):
    yield from read(path, **options).frame.iter_rows(named=True)


def sniff(path: str, head: str) -> bool:
    # only tabular files sniff as flat; JSON Lines of unknown shape needs format="flat" + mapping
    kind = _kind(path)
    if kind == "parquet":
        return True
    if kind in ("csv", "tsv"):
        first = head.splitlines()[0].lower() if head else ""
        return any(c in first for c in CANDIDATES["instruction"])
    return False


def write(dataset, path: str):
    """Write the kept rows in the kind of ``path`` (``.jsonl``/``.json``/``.csv``/``.parquet``)."""
    import polars as pl

    kind = _kind(path)
    frame = dataset.frame
    if "read_error" in frame.columns:
        frame = frame.filter(frame["read_error"].is_null())
    table = dataset.meta.get("table")
    if kind == "parquet" and table is not None:
        idx = [s["index"] for s in frame["source"].to_list()]
        table[idx].write_parquet(path)
        return path
    origs = good_originals(dataset)
    if kind in ("json", "jsonl"):
        dump_json_records(origs, path, kind == "jsonl")
        return path
    records = [json.loads(o) for o in origs]
    if kind == "parquet":
        pl.DataFrame(records).write_parquet(path)
        return path
    header = dataset.meta.get("header") or (list(records[0]) if records else [])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="," if kind == "csv" else "\t")
        w.writerow(header)
        for r in records:
            w.writerow(["" if r.get(h) is None else
                        (r[h] if isinstance(r[h], str) else json.dumps(r[h], ensure_ascii=False))
                        for h in header])
    return path


register_format("flat", description="flat JSONL/JSON/CSV/Parquet or DataFrame with a field "
                "mapping (instruction=, response=, image=, task=, id=, language=)",
                sniff=sniff, iter_samples=iter_samples, write=write, read=read, priority=90)
