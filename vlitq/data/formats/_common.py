"""Helpers shared by format modules: JSON / JSON Lines iteration with per-record errors."""
from __future__ import annotations

import json
import os
from typing import Any, Iterator

from vlitq.data.dataset import make_sample

MAX_LINE_BYTES = 64 * 1024 * 1024  # one record larger than this is refused, not parsed


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def iter_json_records(path: str) -> Iterator[tuple[int, Any, str | None, str | None]]:
    """Yield ``(index, record, raw_text, error)`` from a JSON array file or a JSON Lines file.

    JSON Lines: index is the 1-based line number; a malformed line yields ``record=None`` with
    the error and its raw text. JSON: index is the position in the top-level array.
    """
    with open(path, "rb") as fh:
        first = fh.read(4096).lstrip()
    if first.startswith(b"["):
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8", errors="surrogateescape"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        for i, rec in enumerate(data):
            yield i, rec, None, None
        return
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield lineno, None, raw[:200].decode("utf-8", "replace"), (
                    f"line of {len(raw)} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                yield lineno, None, text, f"line is not valid UTF-8: {exc.reason} at byte {exc.start}"
                continue
            try:
                yield lineno, json.loads(text), text, None
            except ValueError as exc:
                yield lineno, None, text, f"malformed JSON: {exc}"


def error_sample(fmt: str, path: str, index: int, raw: str | None, reason: str) -> dict:
    """A placeholder sample for a record that could not be read: it keeps its place."""
    return make_sample(f"{stem(path)}:{index}", [], [], original=raw, read_error=reason,
                       source={"format": fmt, "file": path, "index": index})


def is_jsonl(path: str) -> bool:
    with open(path, "rb") as fh:
        return not fh.read(4096).lstrip().startswith(b"[")


def dump_json_records(records: list, path: str, jsonl: bool) -> None:
    """Write records as a JSON array or JSON Lines (UTF-8, non-ASCII kept)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        if jsonl:
            for r in records:
                fh.write(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                fh.write("\n")
        else:
            json.dump(records, fh, ensure_ascii=False, indent=1)
    os.replace(tmp, path)
