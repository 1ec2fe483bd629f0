"""Generate the hostile-input corpus: files and image references built to break a reader.

    python tests/data/hostile.py OUT_DIR           # writes the corpus, one line per case
    python tests/data/hostile.py OUT_DIR --table   # and reads it: the outcome table of docs/io.md

The corpus is made here, by this script, never copied from anywhere; it stays small on disk
(the 1 GiB ``.jpg`` is a sparse file, a few KiB of blocks). ``tests/data/test_hostile.py`` runs
every registered reader over every file and asserts no crash, no hang, bounded memory and every
record accounted for (rows with and without ``read_error`` = records in the file).

:func:`generate` returns two lists:

- file cases: ``{"name", "path", "format", "options", "records", "expect"}`` — ``records`` is
  the number of records the file holds (``None``: the file is not a dataset and must raise
  ``FormatError``), ``expect`` maps a record's position to a substring of its ``read_error``
  (``"warn:..."`` for ``read_warning``, ``"ok"`` for a clean row);
- image cases: ``{"name", "ref", "root", "allow_outside_root", "expect"}`` — ``expect`` is a
  substring of the ``ImageError`` every image reader must raise, without hanging.
"""
from __future__ import annotations

import io
import json
import os
import struct
import sys
import zlib

GOOD = {"from": "human", "value": "<image>\nWhat is shown?"}
ANSWER = {"from": "gpt", "value": "A red square."}


def good(i: int, **extra) -> dict:
    return {"id": f"good-{i}", "image": "img/ok.png", "conversations": [GOOD, ANSWER], **extra}


def png(color=(200, 30, 30), size=(32, 24)) -> bytes:
    """A small valid PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width=30000, height=30000) -> bytes:
    """A tiny file whose header claims width × height pixels: PIL refuses it before decoding."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _line(rec) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _sandwich(middle: list[bytes], flat: bool = False) -> bytes:
    """A good record, the hostile lines, a good record: the file must go on after them."""
    ok = ({"question": f"Q{i}?", "answer": "A."} if flat else good(i) for i in (0, 1))
    return b"\n".join([_line(next(ok)), *middle, _line(next(ok))]) + b"\n"


def generate(root: str) -> tuple[list[dict], list[dict]]:
    """Write the corpus under ``root``; returns ``(file_cases, image_cases)``."""
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    files: list[dict] = []

    def add(name, data: bytes, records, expect=None, fmt="llava", **options):
        path = os.path.join(root, name)
        with open(path, "wb") as fh:
            fh.write(data)
        files.append({"name": name, "path": path, "format": fmt, "options": options,
                      "records": records, "expect": expect or {}})

    deep = "[" * 10_000 + "]" * 10_000
    deeper = "[" * 100_000 + "]" * 100_000
    # --- parsing
    add("deep_value.jsonl", _sandwich([
        ('{"id": "deep", "conversations": ' + deep + "}").encode()]), 3,
        {0: "ok", 1: "nested too deeply", 2: "ok"})
    add("deep_line.jsonl", _sandwich([deeper.encode()]), 3, {1: "nested too deeply"})
    add("deep_object.jsonl", _sandwich([('{"a":' * 20_000 + "1" + "}" * 20_000).encode()]), 3,
        {1: "nested too deeply"})
    add("deep_array_element.json", ("[" + json.dumps(good(0)) + ",\n" + '{"id": "deep", "x": '
                                    + deep + "},\n" + json.dumps(good(1)) + "]").encode(), 3,
        {0: "ok", 1: "nested too deeply", 2: "ok"})
    add("deep_flat.jsonl", _sandwich([('{"question": "q", "answer": ' + deep + "}").encode()],
                                     flat=True),
        3, {1: "nested too deeply"}, fmt="flat", instruction="question", response="answer")
    add("deep_image_field.jsonl", _sandwich([('{"id": "d", "image": ' + "[" * 500 + '"a.png"'
                                              + "]" * 500 + ', "conversations": []}').encode()]),
        3, {1: "'image' item 0 is a list"})
    # --- text encoding
    add("lone_surrogate.jsonl", _sandwich([
        b'{"id": "sur", "conversations": [{"from": "human", "value": "bad \\ud800 text"}, '
        b'{"from": "gpt", "value": "low \\udfff too"}]}']), 3,
        {1: "warn:lone surrogate"})
    add("surrogate_id.jsonl", _sandwich([
        b'{"id": "\\ud800x", "conversations": [{"from": "human", "value": "Q"}]}']), 3,
        {1: "warn:lone surrogate"})
    add("surrogate_pair_ok.jsonl", _sandwich([
        b'{"id": "emoji", "conversations": [{"from": "human", "value": "\\ud83d\\ude00"}, '
        b'{"from": "gpt", "value": "ok"}]}']), 3, {1: "ok"})
    add("invalid_utf8.jsonl", _sandwich([b'{"id": "latin", "conversations": [{"from": "human", '
                                         b'"value": "caf\xe9"}]}']), 3, {1: "not valid UTF-8"})
    add("nul_in_text.jsonl", _sandwich([b'{"id": "nul", "conversations": [{"from": "human", '
                                        b'"value": "a\\u0000b"}, {"from": "gpt", "value": "c"}]}']),
        3, {1: "ok"})
    add("bom_crlf.jsonl", b"\xef\xbb\xbf" + _line(good(0)) + b"\r\n" + _line(good(1)) + b"\r\n",
        2, {0: "ok", 1: "ok"})
    # --- shapes
    add("non_string_values.jsonl", _sandwich([
        _line({"id": "dict", "conversations": [{"from": "human", "value": {"a": 1}},
                                               {"from": "gpt", "value": [1, 2]}]}),
        _line({"id": "num", "conversations": [{"from": "human", "value": 3.5},
                                              {"from": "gpt", "value": True}]}),
        _line({"id": "nullv", "conversations": [{"from": "human", "value": None}]})]), 5,
        {1: "warn:coerced to JSON text", 2: "warn:coerced to text", 3: "has no 'value'"})
    add("wrong_shapes.jsonl", _sandwich([
        b"[1, 2, 3]", b'"a string"', b"42", b"null", b"{}", b"true",
        _line({"id": "s", "conversations": "What?"}),
        _line({"id": "d", "conversations": {"from": "human"}}),
        _line({"id": "e", "conversations": []}),
        _line({"id": "m", "conversations": ["not an object"]}),
        _line({"id": "r", "conversations": [{"from": "wizard", "value": "hi"}]}),
        _line({"id": "p", "messages": [{"role": "user", "content": [{"type": "laser"}]}]}),
        _line({"id": "q", "messages": [{"role": "user", "content": [7]}]}),
        _line({"id": "i", "image": 12, "conversations": [GOOD, ANSWER]}),
        _line({"id": "j", "image": {"no": "path"}, "conversations": [GOOD, ANSWER]}),
        _line({"id": {"x": 1}, "conversations": [GOOD, ANSWER]})]), 18,
        {1: "not an object", 2: "not an object", 3: "not an object", 4: "not an object",
         5: "no 'conversations'", 6: "not an object", 7: "not a list", 8: "not a list",
         9: "empty list", 10: "not an object", 11: "unknown role", 12: "unknown type 'laser'",
         13: "warn:coerced to JSON text", 14: "'image' is a int", 15: "without a 'path'",
         16: "warn:'id' is a dict", 17: "ok"})
    add("malformed_lines.jsonl", _sandwich([b'{"id": "broken", "conversations": [', b"{,}",
                                            b'{"id": "x"} trailing']), 5,
        {1: "malformed JSON", 2: "malformed JSON", 3: "malformed JSON"})
    add("cut_after_element.json", ("[" + json.dumps(good(0)) + ", " + json.dumps(good(1))
                                   ).encode(), 3, {0: "ok", 1: "ok", 2: "looks truncated"})
    add("truncated.json", ("[" + json.dumps(good(0)) + ", " + json.dumps(good(1))[:40]).encode(),
        2, {0: "ok", 1: "malformed"})
    add("trailing_comma.json", ("[" + json.dumps(good(0)) + ", " + json.dumps(good(1))
                                + ",]").encode(), 3, {0: "ok", 1: "ok", 2: "malformed"})
    add("text_after_array.json", ("[\n" + json.dumps(good(0)) + "\n]\n" + json.dumps(good(1))
                                  + "\n").encode(), 2, {0: "ok", 1: "text after the end"})
    add("jsonl_first_record_array.jsonl", b"[1, 2]\n" + _line(good(0)) + b"\n", 2,
        {0: "not an object", 1: "ok"})
    add("duplicate_ids.jsonl", b"\n".join(_line(good(0, id=i)) for i in ("x", "x", "x#1"))
        + b"\n", 3)
    add("duplicate_keys.jsonl", _sandwich([b'{"id": "a", "id": "b", "conversations": '
                                           b'[{"from": "human", "value": "Q"}]}']), 3)
    add("nan_literals.jsonl", _sandwich([b'{"id": "nan", "task": NaN, "language": Infinity, '
                                         b'"conversations": [{"from": "human", "value": "Q"}]}']),
        3, {1: "warn:'task' is a float"})
    add("many_turns.jsonl", _sandwich([_line({"id": "long", "conversations": [
        {"from": "human", "value": f"And {k}?"} if k % 2 == 0 else ANSWER
        for k in range(20_000)]})]), 3, {1: "ok"})
    add("long_id.jsonl", _sandwich([_line(good(9, id="i" * 100_000))]), 3, {1: "ok"})
    add("wide_record.jsonl", _sandwich([_line({**good(8), **{f"k{k}": k for k in range(5000)}})]),
        3, {1: "ok"})
    add("big_response.jsonl", _sandwich([_line({"id": "big", "image": "img/ok.png",
                                                "conversations": [
        GOOD, {"from": "gpt", "value": "word " * 400_000}]})]), 3, {1: "ok"})
    add("token_mismatch.jsonl", _sandwich([_line({"id": "t", "images": ["img/ok.png"],
                                                  "messages": [{"role": "user", "content":
                                                                "<image><image>Q"}]})]),
        3, {1: "warn:2 image token(s)"})
    add("xcomposer_tokens.json", json.dumps([{"id": "x", "image": ["img/ok.png"],
                                              "conversations": [
                                                  {"from": "user", "value": "<ImageHere>" * 3},
                                                  {"from": "bot", "value": "?"}]}]).encode(),
        1, {0: "warn:3 image token(s)"}, fmt="internvl")
    add("qwen_unclosed_tag.json", json.dumps([{"id": "q", "conversations": [
        {"from": "user", "value": "<img>img/ok.png</img> then <img>never closed"},
        {"from": "assistant", "value": "A."}]}]).encode(), 1, {0: "ok"})
    # --- not a dataset at all: one clear FormatError, never a crash or a hang
    add("empty.json", b"", None)
    add("blank_lines.jsonl", b"\n\n   \n\t\n", None)
    add("only_bracket.json", b"[", None)
    add("binary.jpg.json", png(), None)
    add("utf16.json", json.dumps([good(0)]).encode("utf-16"), None)
    # --- other readers
    add("flat_missing_fields.jsonl", b'{"q": "Q?", "a": "A."}\n{"zzz": 1}\n{"q": "Q?"}\n'
        b'{"q": {"nested": "dict"}, "a": ["l", "i"]}\n', 4,
        {0: "ok", 1: "neither the instruction", 2: "warn:no 'a' field",
         3: "warn:coerced to JSON text"}, fmt="flat", instruction="q", response="a")
    add("flat_ragged.csv", b"question,answer\nQ1,A1\nonly one\nQ\x00,A\xff\n\"unclosed,A\n", 4,
        {0: "ok", 1: "has 1 fields", 2: "not valid UTF-8", 3: "has 1 fields"}, fmt="flat")
    add("flat_surrogate.jsonl", b'{"question": "x\\ud800", "answer": "y"}\n', 1,
        {0: "warn:lone surrogate"}, fmt="flat")
    add("m3it_bad.jsonl", b'{"instruction": "I", "inputs": "", "outputs": "O", '
        b'"image_base64_str": 5}\n{"instruction": "I", "inputs": "", "outputs": "O", '
        b'"image_base64_str": ["!!notbase64!!"]}\n', 2, {0: "not a list", 1: "ok"}, fmt="m3it")
    add("coco_arc_hostile.json", ('{"image_source": "t", "construction_time": "2023", '
                                  '"annotations": [{"id": "a1", "img_ids": "1", '
                                  '"instruction_type": "t", "conversations": [{"from": "human", '
                                  '"value": "bad \\ud800"}, {"from": "gpt", "value": "ok"}]}, '
                                  '{"id": "a2", "img_ids": ' + deep + "}]}").encode(), 2,
        {0: "warn:lone surrogate", 1: "nested too deeply"}, fmt="coco_arc")
    add("HX_instructions.json", ('{"meta": {"version": "1"}, "data": {"K1": {"instruction": '
                                 '"x\\ud800", "answer": 5, "image_ids": [], "rel_ins_ids": []}, '
                                 '"K2": {"instruction": ' + deep + "}}}").encode(), 2,
        {0: "warn:lone surrogate", 1: "nested too deeply"}, fmt="mimicit")
    qdir = os.path.join(root, "qa")
    os.makedirs(os.path.join(qdir, "answers"), exist_ok=True)
    with open(os.path.join(qdir, "answers", "m.jsonl"), "wb") as fh:
        fh.write(b'{"question_id": 1, "text": "A1"}\n{"question_id": 99, "text": "stray"}\n'
                 b'not json\n{"text": "no id"}\n{"question_id": 1, "text": {"d": 1}}\n')
    add("qa/questions.jsonl", b'{"question_id": 1, "text": "Q1"}\n{"question_id": 2, '
        b'"text": "Q2"}\n{"text": "no id"}\n{"question_id": 3}\n[1]\n', 9,
        {0: "warn:2 answers", 1: "warn:2 answers", 2: "warn:no answer in m.jsonl",
         3: "no 'question_id'", 4: "not an object", 5: "malformed JSON", 6: "no 'question_id'",
         7: "has no text field", 8: "unknown question_id"}, fmt="qa")
    # (qa rows: one per question and answer file, a question's answers each a row; every
    # question and every answer line is in exactly one row: 5 + 5 lines -> 9 rows)

    # --- image references
    with open(os.path.join(root, "img", "ok.png"), "wb") as fh:
        fh.write(png())
    with open(os.path.join(root, "img", "bomb.png"), "wb") as fh:
        fh.write(bomb_png())
    with open(os.path.join(root, "img", "truncated.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    open(os.path.join(root, "img", "empty.jpg"), "wb").close()
    with open(os.path.join(root, "img", "huge.jpg"), "wb") as fh:
        fh.truncate(2**30)  # sparse: 1 GiB long, nearly nothing on disk
    os.makedirs(os.path.join(root, "img", "folder.jpg"), exist_ok=True)
    fifo = os.path.join(root, "img", "pipe.jpg")
    if hasattr(os, "mkfifo") and not os.path.exists(fifo):
        os.mkfifo(fifo)
    loop = os.path.join(root, "img", "loop.jpg")
    if not os.path.lexists(loop):
        os.symlink("loop.jpg", loop)
    over_cap = "data:image/png;base64," + "A" * (3 * 2**20)  # ~2.3 MiB decoded; cap 1 MiB
    r = root
    images = [
        {"name": "ok", "ref": "img/ok.png", "expect": None},
        {"name": "nul_in_path", "ref": "img/ok\x00.png", "expect": "NUL byte"},
        {"name": "fifo", "ref": "img/pipe.jpg", "expect": "FIFO"},
        {"name": "char_device", "ref": "/dev/zero", "allow": True, "expect": "character device"},
        {"name": "directory", "ref": "img/folder.jpg", "expect": "directory"},
        {"name": "1GiB_sparse_jpg", "ref": "img/huge.jpg", "expect": "exceeds the"},
        {"name": "symlink_loop", "ref": "img/loop.jpg", "expect": "image"},
        {"name": "escape_root", "ref": "../../etc/passwd", "expect": "escapes the image root"},
        {"name": "absolute_outside", "ref": "/etc/hostname", "expect": "escapes the image root"},
        {"name": "http_url", "ref": "http://example.com/a.jpg", "expect": "remote image URL"},
        {"name": "empty_ref", "ref": "", "expect": "empty image reference"},
        {"name": "long_path", "ref": "a/" * 3000 + "x.jpg", "expect": "longer than"},
        {"name": "missing", "ref": "img/nope.jpg", "expect": "not found"},
        {"name": "decompression_bomb", "ref": "img/bomb.png", "expect": "pixel limit"},
        {"name": "truncated_jpeg", "ref": "img/truncated.jpg", "expect": "cannot be decoded"},
        {"name": "zero_byte_jpg", "ref": "img/empty.jpg", "expect": "cannot be decoded"},
        {"name": "bad_base64", "ref": "data:image/png;base64,!!!*", "expect": "decoded"},
        {"name": "data_uri_no_comma", "ref": "data:image/png;base64", "expect": "no ','"},
        {"name": "data_uri_over_cap", "ref": over_cap, "max_bytes": 2**20,
         "expect": "exceeds the"},
        {"name": "file_over_small_cap", "ref": "img/ok.png", "max_bytes": 10,
         "expect": "exceeds the"},
        {"name": "surrogate_path", "ref": "img/\udcff.jpg", "expect": "not found"},
    ]
    for c in images:
        c["root"] = r
        c["allow_outside_root"] = c.pop("allow", False)
    return files, images


def outcome_table(root: str) -> str:
    """Generate the corpus under ``root``, read every case, return the outcomes as Markdown
    (the table in ``docs/io.md``)."""
    import logging

    from vlitq.data.formats import FormatError, read
    from vlitq.data.images import ImageError, open_image, read_image_bytes

    files, images = generate(root)
    level = logging.getLogger("vlitq").level
    logging.getLogger("vlitq").setLevel(logging.ERROR)
    out = ["| input | reader | outcome |", "|---|---|---|"]
    try:
        for c in files:
            try:
                ds = read(c["path"], format=c["format"] if c["records"] else None,
                          image_root=root, **c["options"])
                errs = [x for x in ds["read_error"].to_list() if x]
                warns = [x for x in ds["read_warning"].to_list() if x]
                msg = (f"{len(ds)} rows: {len(ds) - len(errs)} read ({len(warns)} flagged), "
                       f"{len(errs)} error rows")
                if errs or warns:
                    m = max(errs + warns, key=lambda x: ("nested" in x, "surrogate" in x, len(x)))
                    msg += f"; e.g. “{m[:110]}”"
            except FormatError as exc:
                msg = "FormatError: " + str(exc).split(": ", 1)[-1][:70]
            reader = c["format"] if c["records"] else "detect"
            out.append(f"| `{c['name']}` | {reader} | {msg.replace('|', '/')} |")
        for c in images:
            kw = {"max_bytes": c["max_bytes"]} if "max_bytes" in c else {}
            try:
                if kw:
                    read_image_bytes(c["ref"], c["root"], c["allow_outside_root"], **kw)
                else:
                    open_image(c["ref"], c["root"], c["allow_outside_root"])
                msg = "decoded"
            except ImageError as exc:
                msg = str(exc)[:100]
            out.append(f"| image `{c['name']}` | every image reader | "
                       f"{msg.replace('|', '/')} |")
    finally:
        logging.getLogger("vlitq").setLevel(level)
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2) or (len(argv) == 2 and argv[1] != "--table"):
        sys.exit("usage: python tests/data/hostile.py OUT_DIR [--table]")
    if len(argv) == 2:  # the outcome of every case, as the Markdown table of docs/io.md
        print(outcome_table(argv[0]), end="")
        return
    files, images = generate(argv[0])
    for f in files:
        print(f"file  {f['name']:<28} format={f['format']:<8} records={f['records']}")
    for c in images:
        print(f"image {c['name']:<28} expect={c['expect']!r}")
    print(f"{len(files)} files, {len(images)} image references in {argv[0]}")


if __name__ == "__main__":
    main()
