"""Helpers shared by format modules: JSON / JSON Lines iteration with per-record errors,
faithful write-back of original records, and image references.

Readers never raise on one bad record: a malformed JSON line, an element of a JSON array that
does not parse, a non-UTF-8 byte, a record of the wrong shape all become placeholder samples
with ``read_error`` set (see :func:`error_sample`), so they keep their place and show in the
report's ``errors`` with their file and line. Only a file that is not a dataset at all raises a
:class:`~vlitq.data.formats.FormatError`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from typing import Any, Iterator

from vlitq.data.dataset import make_sample

logger = logging.getLogger("vlitq")

MAX_LINE_BYTES = 64 * 1024 * 1024  # one record larger than this is refused, not parsed
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_SURROGATE = re.compile("[\udc80-\udcff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_DECODER = json.JSONDecoder()
_NO_WS = str.maketrans("", "", " \t\n\r")
# JSON parsing errors of one record: ValueError for bad syntax, RecursionError for nesting deeper
# than Python's parser recurses (the C decoder raises it cleanly; the file goes on)
PARSE_ERRORS = (ValueError, RecursionError)
_WS = re.compile(r"[ \t\n\r]*")


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class ShapeError(ValueError):
    """A record's shape is not understood; the message names the part (it becomes the row's
    ``read_error`` as it is)."""


def content_id(raw: str | None) -> str:
    """Id of a record that has none: ``rec:`` + a hash of its source text, whitespace aside.

    Writers copy a record's source text, so the id is the same when the record is read back
    from any file it is written to (JSON or JSON Lines, whole or as a subset).

    >>> content_id('{"a": 1}') == content_id('{"a":1}')
    True
    """
    data = (raw or "").translate(_NO_WS).encode("utf-8", "surrogatepass")
    return "rec:" + hashlib.blake2b(data, digest_size=8).hexdigest()


def add_warning(sample: dict, message: str) -> dict:
    """Append ``message`` to the sample's ``read_warning`` (the row is kept and scored)."""
    old = sample.get("read_warning")
    sample["read_warning"] = message if not old else f"{old}; {message}"
    return sample


def _replace_surrogates(v, hits: list):
    if isinstance(v, str):
        if _LONE_SURROGATE.search(v):
            hits.append(1)
            return _LONE_SURROGATE.sub("\ufffd", v)
        return v
    if isinstance(v, list):
        return [_replace_surrogates(x, hits) for x in v]
    if isinstance(v, dict):
        return {k: _replace_surrogates(x, hits) for k, x in v.items()}
    return v


def fix_surrogates(sample: dict, raw: str | None) -> dict:
    """Replace lone surrogates (``"\\ud800"`` escapes in the JSON) by U+FFFD and flag the row.

    Arrow cannot store them, so one such record would otherwise fail its whole chunk. Only
    records whose source text holds a surrogate escape are walked (emoji written with
    ``ensure_ascii`` are pairs: they decode to one character and are left alone).
    """
    if raw is None or not _ESCAPED_SURROGATE.search(raw):
        return sample
    hits: list = []
    for k, v in list(sample.items()):
        if k in ("original", "source"):
            continue  # the original is the file's own (escaped, valid) text
        sample[k] = _replace_surrogates(v, hits)
    if hits:
        add_warning(sample, f"{len(hits)} text value(s) held a lone surrogate (\\ud800-\\udfff):"
                            " replaced by U+FFFD")
    return sample


def _nesting_message() -> str:
    return ("record nested too deeply to parse (JSON nesting deeper than about "
            f"{sys.getrecursionlimit()} levels)")


def format_error(message: str):
    from vlitq.data.formats import FormatError

    return FormatError(message)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _resync(text: str, pos: int, marker: str | None) -> int:
    """Position of the next plausible array element start after ``pos`` (or -1)."""
    if marker:  # elements start like the first one did: none further, none left
        return text.find(marker, pos + 1)
    # no marker (the first element is not an object): the next '{' after a '},' separator
    m = re.compile(r"}\s*,\s*({)").search(text, pos + 1)
    return m.start(1) if m else -1


class _Window:
    """The text of a JSON array being read: the whole text, or a window of a file that grows
    at its end (``fill``) and forgets what was read (``drop``), so a 600 MiB file is never held
    whole (about ``2 × CHUNK`` characters at a time). Positions are relative to the window;
    ``line_col`` gives a position's place in the whole file."""

    #: Bytes read from the file at a time (about as many characters).
    CHUNK = 8 << 20

    def __init__(self, text: str = "", chunks: "Iterator[str] | None" = None):
        self.buf = text
        self._chunks = chunks
        self.eof = chunks is None
        self.lines = 0  # newlines before the window
        self.col0 = 0  # characters of the window's first line that lie before the window
        self.bad = False  # bytes that are not UTF-8 seen (lone surrogates in the text)

    def fill(self) -> bool:
        """Append the next chunk of the file; False at its end."""
        if self.eof:
            return False
        piece = next(self._chunks, None)
        if piece is None:
            self.eof = True
            return False
        self.buf += piece
        return True

    def ahead(self, pos: int, k: int) -> None:
        """Read on until ``k`` characters follow ``pos`` (or the file ends)."""
        while len(self.buf) - pos < k and self.fill():
            pass

    def drop(self, pos: int, keep: int = 200) -> int:
        """Forget the text before ``pos`` but its last ``keep`` characters (what an error at
        the file's end quotes); the new position of ``pos``."""
        cut = pos - keep
        if cut <= 0:
            return pos
        gone = self.buf[:cut]
        nl = gone.rfind("\n")
        if nl >= 0:
            self.lines += gone.count("\n")
            self.col0 = cut - nl - 1
        else:
            self.col0 += cut
        self.buf = self.buf[cut:]
        return pos - cut

    def ws(self, pos: int) -> int:
        """The first position at or after ``pos`` that is not whitespace (reading on)."""
        while True:
            end = _WS.match(self.buf, pos).end()
            if end < len(self.buf) or not self.fill():
                return end

    def resync(self, pos: int, marker: str | None) -> int:
        """:func:`_resync` from ``pos``, reading on until a next element start or the end."""
        nxt = _resync(self.buf, pos, marker)
        while nxt < 0 and self.fill():
            nxt = _resync(self.buf, pos, marker)
        return nxt

    def line_col(self, pos: int) -> tuple[int, int]:
        line, col = _line_col(self.buf, pos)
        if line == 1:
            col += self.col0
        return line + self.lines, col

    def rest(self, pos: int) -> int:
        """Characters from ``pos`` to the end of the file (read through, not kept)."""
        n = len(self.buf) - pos
        while not self.eof:
            piece = next(self._chunks, None)  # counted, not kept
            if piece is None:
                self.eof = True
            else:
                n += len(piece)
        return n


def _file_chunks(path: str, w: "_Window") -> Iterator[str]:
    """A file's text in pieces of about ``_Window.CHUNK`` characters, decoded as
    :func:`read_text` decodes it: UTF-8, a BOM dropped, and bytes that are not UTF-8 kept as
    lone surrogates (setting ``w.bad``; a piece that decodes strictly has none)."""
    pending = b""
    with open(path, "rb") as fh:
        first = True
        while True:
            data = fh.read(max(_Window.CHUNK, 4))
            if first and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            if not data and not first:
                break
            first = False
            data = pending + data
            cut = _complete_utf8(data)
            data, pending = data[:cut], data[cut:]
            try:
                piece = data.decode("utf-8")
            except UnicodeDecodeError:
                piece = data.decode("utf-8", errors="surrogateescape")
                w.bad = True
            if piece:
                yield piece
    if pending:  # a sequence cut by the end of the file
        w.bad = True
        yield pending.decode("utf-8", errors="surrogateescape")


def _complete_utf8(data: bytes) -> int:
    """Length of ``data`` without a multi-byte UTF-8 sequence cut at its end."""
    n = len(data)
    for j in range(1, min(4, n) + 1):
        b = data[n - j]
        if b & 0xC0 == 0x80:  # a continuation byte: its lead byte is further back
            continue
        if b >= 0xC0:
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return n - j if j < need else n
        return n  # ASCII
    return n


def iter_json_array_file(path: str) -> Iterator[tuple[int, Any, str | None, str | None]]:
    """:func:`iter_json_array` over a file read a window at a time (never held whole)."""
    w = _Window("")
    w._chunks, w.eof = _file_chunks(path, w), False
    w.ahead(0, 1)
    yield from _iter_array(path, w, 0, top=True)


def iter_json_array(path: str, text: str, had_bad_bytes: bool, start: int = 0
                    ) -> Iterator[tuple[int, Any, str | None, str | None]]:
    """Elements of a top-level JSON array, each with its exact source text.

    A malformed element is reported (with its line and column) and reading goes on at the next
    element that starts like the first one did, so one broken record does not lose the file.
    """
    w = _Window(text)
    w.bad = had_bad_bytes
    yield from _iter_array(path, w, start, top=start == 0)


def _cut_by_end(exc: Exception, n: int) -> bool:
    """Whether a parse error may only say that the text ended (a window cut an element: a
    string, literal or number not finished); a malformation before that is one in any window."""
    return isinstance(exc, json.JSONDecodeError) and (
        exc.pos >= n - 16 or exc.msg.startswith("Unterminated string"))


def _iter_array(path: str, w: _Window, start: int, top: bool
                ) -> Iterator[tuple[int, Any, str | None, str | None]]:
    pos = w.ws(start)
    if pos >= len(w.buf) or w.buf[pos] != "[":
        raise format_error(f"{path}: not a JSON array")
    pos = w.ws(pos + 1)
    if pos < len(w.buf) and w.buf[pos] == "]":
        return
    index = 0
    decode = _DECODER.raw_decode
    w.ahead(pos, 1 << 16)
    first = re.compile(r'\{\s*"(?:[^"\\]|\\.)*"').match(w.buf, pos)
    marker = first.group(0) if first else None  # how elements start, to resynchronise
    while pos < len(w.buf):
        if not w.eof and len(w.buf) - pos < w.CHUNK:  # keep a chunk ahead, forget behind
            pos = w.drop(pos)
            w.ahead(pos, w.CHUNK)
        text = w.buf
        try:
            while True:
                try:
                    rec, end = decode(text, pos)
                except PARSE_ERRORS as exc:
                    if not (_cut_by_end(exc, len(text)) and w.fill()):
                        raise
                else:
                    if end < len(text) or not w.fill():  # a number may go on
                        break
                text = w.buf  # read on and parse the element again
        except PARSE_ERRORS as exc:
            line, col = w.line_col(pos)
            nxt = w.resync(pos, marker)
            text = w.buf
            n = len(text)
            raw = text[pos: (nxt if nxt > 0 else min(n, pos + 2000))]
            yield index, None, _clean(raw), (
                f"malformed JSON in array element {index} (starting line {line}): "
                f"{_why(exc, w)}")
            index += 1
            if nxt < 0:
                return
            pos = nxt
            continue
        raw = text[pos:end]
        if w.bad and _SURROGATE.search(raw):
            line, _ = w.line_col(pos)
            yield index, None, _clean(raw), (
                f"array element {index} (line {line}) is not valid UTF-8")
        else:
            yield index, rec, raw, None
        index += 1
        pos = w.ws(end)
        text = w.buf
        n = len(text)
        if pos < n and text[pos] == ",":
            pos = w.ws(pos + 1)
        elif pos < n and text[pos] == "]":
            tail = w.ws(pos + 1)
            if top and tail < len(w.buf):  # text after a file's array: never dropped silently
                line, _ = w.line_col(tail)
                yield index, None, _clean(w.buf[tail: tail + 2000]), (
                    f"text after the end of the JSON array, from line {line}, is not read "
                    f"({w.rest(tail)} characters)")
            return
        elif pos < n:
            line, col = w.line_col(pos)
            nxt = w.resync(pos, marker)
            text = w.buf
            yield index, None, _clean(text[pos: pos + 200]), (
                f"malformed JSON after array element {index - 1} at line {line} column {col}: "
                "expected ',' or ']'")
            index += 1
            if nxt < 0:
                return
            pos = nxt
    # the text ended inside the array, right after a complete element: elements may be lost
    if index == 0:
        raise format_error(f"{path}: the JSON array is not closed and holds no element")
    text = w.buf
    line, _ = w.line_col(len(text))
    yield index, None, _clean(text[max(0, len(text) - 200):]), (
        f"the JSON array ends without ']' after element {index - 1} (line {line}): the file "
        "looks truncated")


def _why(exc: Exception, w: "_Window | None" = None) -> str:
    if isinstance(exc, RecursionError):
        return _nesting_message()
    if isinstance(exc, json.JSONDecodeError):
        line, col = w.line_col(exc.pos) if w is not None else (exc.lineno, exc.colno)
        return f"{exc.msg} at line {line} column {col}"
    return str(exc)


def _clean(s: str | None) -> str | None:
    """Text safe to store (lone surrogates from undecodable bytes → U+FFFD)."""
    if s is None:
        return None
    return _SURROGATE.sub("\ufffd", s) if _SURROGATE.search(s) else s


def read_text(path: str) -> tuple[str, bool]:
    """File text and whether it held bytes that are not UTF-8 (kept as lone surrogates)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="surrogateescape"), True


def first_char(path: str) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(4096)
    head = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    s = head.lstrip()
    return s[:1]


def _bounded_lines(fh, cap: int):
    """Lines of a binary file, never holding more than ``cap`` bytes of one line: a longer
    line is read past in 1 MiB pieces and stands as its length (an ``int``)."""
    while True:
        line = fh.readline(cap + 1)
        if not line:
            return
        if len(line) <= cap or line.endswith(b"\n"):
            yield line
            continue
        n = len(line)
        del line
        while True:
            piece = fh.readline(2**20)
            n += len(piece)
            if not piece or piece.endswith(b"\n"):
                break
        yield n


def iter_json_records(path: str) -> Iterator[tuple[int, Any, str | None, str | None]]:
    """Yield ``(index, record, raw_text, error)`` from a JSON array file or a JSON Lines file.

    JSON Lines: index is the 1-based line number; a malformed line yields ``record=None`` with
    the error and its raw text. JSON: index is the position in the top-level array, and the raw
    text is the element's exact source text.
    """
    if not is_jsonl(path):  # read a window at a time, never whole
        yield from iter_json_array_file(path)
        return
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(_bounded_lines(fh, MAX_LINE_BYTES), start=1):
            if isinstance(raw, int):  # a line longer than the cap, skipped without holding it
                yield lineno, None, None, (
                    f"line of {raw} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
                continue
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                yield lineno, None, text.rstrip("\r\n"), (
                    f"line is not valid UTF-8: {exc.reason} at byte {exc.start}")
                continue
            text = text.rstrip("\r\n")
            try:
                rec = json.loads(text)
            except RecursionError:
                yield lineno, None, text[:2000], _nesting_message()
                continue
            except ValueError as exc:
                yield lineno, None, text, f"malformed JSON: {_why(exc)}"
                continue
            yield lineno, rec, text, None


def iter_format_samples(path: str, fmt: str, convert) -> Iterator[dict]:
    """Samples of a JSON / JSON Lines file: ``convert(rec, path, index, raw)`` per record.

    Raises :class:`FormatError` when the file is not JSON at all (no record parses).
    """
    n_ok = n_bad = 0
    first_err = None
    buffered: list[dict] = []
    for index, rec, raw, err in iter_json_records(path):
        if err:
            n_bad += 1
            first_err = first_err or err
            sample = error_sample(fmt, path, index, raw, err)
        else:
            n_ok += 1
            try:
                sample = fix_surrogates(convert(rec, path, index, raw), raw)
            except RecursionError:
                sample = error_sample(fmt, path, index, raw, _nesting_message())
            except ShapeError as exc:
                sample = error_sample(fmt, path, index, raw, str(exc)[:500], _own_id(rec))
            except Exception as exc:  # a record of an unexpected shape: an error row, not a crash
                sample = error_sample(fmt, path, index, raw,
                                      f"cannot read record: {type(exc).__name__}: {exc}"[:500],
                                      _own_id(rec))
        if n_ok == 0:
            # until one record parses we do not know whether this is a dataset at all
            buffered.append(sample)
            if n_bad >= 20:
                raise format_error(f"{path}: not a {fmt} dataset (the first {n_bad} records do "
                                   f"not parse; first problem: {first_err})")
            continue
        if buffered:
            yield from buffered
            buffered = []
        yield sample
    if n_ok == 0 and n_bad:
        raise format_error(f"{path}: not a {fmt} dataset (no record parses; first problem: "
                           f"{first_err})")
    yield from buffered


def _own_id(rec) -> str | None:
    if isinstance(rec, dict):
        for k in ("id", "unique_id", "sample_id", "question_id"):
            v = rec.get(k)
            if isinstance(v, (str, int)) and not isinstance(v, bool) and v != "":
                return _clean(str(v))
    return None


def error_sample(fmt: str, path: str, index: int, raw: str | None, reason: str,
                 sid: str | None = None) -> dict:
    """A placeholder sample for a record that could not be read: it keeps its place (its own id
    when it has one, else ``<file stem>:<index>``)."""
    if sid is not None and _LONE_SURROGATE.search(sid):
        sid = _LONE_SURROGATE.sub("\ufffd", sid)
    return make_sample(sid or f"{stem(path)}:{index}", [], [], original=_clean(raw),
                       read_error=reason,
                       source={"format": fmt, "file": path, "index": index})


def original_text(rec, raw: str | None) -> str:
    """The record's own source text when we have it, else its JSON."""
    if raw is not None:
        return raw
    return json.dumps(rec, ensure_ascii=False)


def is_jsonl(path: str) -> bool:
    """Whether ``path`` is JSON Lines rather than one JSON array.

    A file starting with ``[`` is JSON Lines when its first line is a complete JSON value and
    more lines follow (JSON Lines whose first record is an array); a JSON array spans lines or
    is alone on its one line.
    """
    if first_char(path) != b"[":
        return True
    with open(path, "rb") as fh:
        n = 0
        while True:  # find the first line's end without holding a long line
            chunk = fh.read(2**20)
            if not chunk:
                return False  # one line: a JSON array
            k = chunk.find(b"\n")
            if k >= 0:
                n += k
                rest = chunk[k + 1:k + 4097]
                if len(rest) < 4096:
                    rest += fh.read(4096)
                break
            n += len(chunk)
            if n > MAX_LINE_BYTES:
                return False
        if not rest.strip():
            return False
        fh.seek(0)
        first = fh.read(n)
    try:
        json.loads(first.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return True


def good_originals(dataset) -> list[str]:
    """Original record texts of the rows that were read (read errors are not records)."""
    frame = dataset.frame
    if "read_error" in frame.columns:
        bad = frame["read_error"].is_not_null().sum()
        if bad:
            logger.warning("writing %d records; %d rows that could not be read are left out",
                           frame.height - bad, bad)
        frame = frame.filter(frame["read_error"].is_null())
    origs = frame["original"].to_list()
    missing = sum(o is None for o in origs)
    if missing:
        raise format_error(f"{missing} samples have no original record; write them with "
                           "format='llava' (export) instead")
    return origs


def dump_json_records(records: list, path: str, jsonl: bool) -> None:
    """Write records (dicts, or their JSON source text) as a JSON array or JSON Lines.

    Source texts are written as they are, so unchanged records keep even their formatting.
    """
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        if jsonl:
            for r in records:
                fh.write(r.replace("\n", " ") if isinstance(r, str)
                         else json.dumps(r, ensure_ascii=False))
                fh.write("\n")
        else:
            fh.write("[")
            for i, r in enumerate(records):
                fh.write(",\n" if i else "\n")
                fh.write(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
            fh.write("\n]\n" if records else "]\n")
    os.replace(tmp, path)


def missing_ref(reason: str) -> str:
    """An image reference that stands for an image the data names but does not hold."""
    from vlitq.data.images import missing_ref as _m

    return _m(reason)


_NEXT_MEMBER = re.compile(r',\s*("(?:[^"\\]|\\.)*")\s*:\s*(?=[{\[])')


def iter_json_object_members(path: str, text: str, had_bad_bytes: bool, start: int
                             ) -> Iterator[tuple[str, int, Any, str | None, str | None]]:
    """Members ``(key, index, value, raw_value_text, error)`` of the JSON object at ``start``.

    Like :func:`iter_json_array`, a malformed member is reported with its line and reading goes
    on at the next ``, "key": {`` that follows.
    """
    n = len(text)
    pos = _WS.match(text, start).end()
    if pos >= n or text[pos] != "{":
        raise format_error(f"{path}: expected a JSON object at offset {start}")
    pos = _WS.match(text, pos + 1).end()
    index = 0
    decode = _DECODER.raw_decode
    # members are recognised by how the first one starts ('"key": {"instruction"'), so that a
    # resync does not land on a key nested inside the broken member
    first = re.compile(r'"(?:[^"\\]|\\.)*"\s*:\s*\{\s*("(?:[^"\\]|\\.)*")').match(text, pos)
    next_member = (re.compile(r',\s*("(?:[^"\\]|\\.)*")\s*:\s*(?=\{\s*' + re.escape(first.group(1))
                              + ")") if first else _NEXT_MEMBER)
    while pos < n and text[pos] != "}":
        key = None
        try:
            key, end = decode(text, pos)
            if not isinstance(key, str):
                raise ValueError("expected a string key")
            pos2 = _WS.match(text, end).end()
            if pos2 >= n or text[pos2] != ":":
                raise ValueError("expected ':'")
            vstart = _WS.match(text, pos2 + 1).end()
            value, vend = decode(text, vstart)
        except PARSE_ERRORS as exc:
            line, col = _line_col(text, pos)
            m = next_member.search(text, pos + 1)
            yield (key if isinstance(key, str) else f"#{index}"), index, None, \
                _clean(text[pos: m.start() if m else min(n, pos + 2000)]), (
                    f"malformed JSON in member {index} (starting line {line}): {_why(exc)}")
            index += 1
            if not m:
                return
            pos = m.start(1)
            continue
        raw = text[vstart:vend]
        if had_bad_bytes and (_SURROGATE.search(raw) or _SURROGATE.search(key)):
            line, _ = _line_col(text, pos)
            yield _clean(key), index, None, _clean(raw), (
                f"member {index} (line {line}) is not valid UTF-8")
        else:
            yield key, index, value, raw, None
        index += 1
        pos = _WS.match(text, vend).end()
        if pos < n and text[pos] == ",":
            pos = _WS.match(text, pos + 1).end()
        elif pos < n and text[pos] != "}":
            line, col = _line_col(text, pos)
            m = next_member.search(text, pos)
            yield f"#{index}", index, None, _clean(text[pos: pos + 200]), (
                f"malformed JSON after member {index - 1} at line {line} column {col}: "
                "expected ',' or '}'")
            index += 1
            if not m:
                return
            pos = m.start(1)
