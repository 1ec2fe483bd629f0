"""Readers and writers of every format: round trips, detection, bad input."""
import base64
import importlib.util
import json
import os

import polars as pl
import pytest
from PIL import Image

import vlitq
from vlitq.data.formats import FormatError, detect, export_llava, formats, read, write

ALL = ("llava", "m3it", "mimicit", "multiinstruct", "coco_arc", "flat", "hf")


# ----------------------------------------------------------------------------- image bytes
# the image-byte builders live with the hostile corpus (tests/data/hostile.py)
_spec = importlib.util.spec_from_file_location(
    "vlitq_test_hostile", os.path.join(os.path.dirname(__file__), "hostile.py"))
_hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hostile)
png, bomb_png = _hostile.png, _hostile.bomb_png


def _bomb() -> bytes:
    return bomb_png(20000, 20000)  # 400 M pixels


OK, OK2 = png(), png((20, 20, 220), (40, 30))
CORRUPT = OK[:40]
BOMB = _bomb()
B64 = {k: base64.b64encode(v).decode() for k, v in
       {"ok": OK, "ok2": OK2, "corrupt": CORRUPT, "bomb": BOMB}.items()}


# ----------------------------------------------------------------------------- sample specs
# (id, [(instruction, response)], image kind, task); image kinds: ok, ok2, missing, corrupt,
# bomb, escape, None
GOOD = [
    ("s1", [("What color is the square?", "Red.")], "ok", "short_vqa"),
    ("s2", [("Describe the image.", "A blue rectangle on nothing else.")], "ok2", "caption"),
    ("s3", [("Is it red?", "Yes."), ("Is it large?", "No, it is small.")], "ok", "yes_no"),
    ("s4", [("Caption it, please.", "A small red image.")], "ok", "caption"),
]
BAD = [
    ("b_empty", [("What is shown?", "")], "ok", "caption"),
    ("b_huge", [("Write a lot.", "x" * 1_000_001)], "ok", "caption"),
    ("b_missing", [("What is it?", "A cat.")], "missing", "caption"),
    ("b_corrupt", [("What is it?", "A cat.")], "corrupt", "caption"),
    ("b_bomb", [("What is it?", "A cat.")], "bomb", "caption"),
]
ESCAPE = ("b_escape", [("What is it?", "A cat.")], "escape", "caption")
IMAGE_ERRORS = {"b_missing": "not", "b_corrupt": "cannot be decoded", "b_bomb": "pixel limit",
                "b_escape": "escapes the image root"}


def setup_images(root):
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    for name, data in (("ok", OK), ("ok2", OK2), ("corrupt", CORRUPT), ("bomb", BOMB)):
        with open(os.path.join(root, "img", f"{name}.png"), "wb") as fh:
            fh.write(data)
    with open(os.path.join(os.path.dirname(root), "outside.png"), "wb") as fh:
        fh.write(OK)


def path_ref(kind):
    return {"missing": "img/missing.png", "escape": "../outside.png"}.get(kind, f"img/{kind}.png")


# ----------------------------------------------------------------------------- test files
def llava_rec(sid, turns, kind, task):
    conv = []
    for k, (q, a) in enumerate(turns):
        conv += [{"from": "human", "value": ("<image>\n" if k == 0 else "") + q},
                 {"from": "gpt", "value": a}]
    return {"id": sid, "image": path_ref(kind), "conversations": conv, "task": task}


def m3it_rec(sid, turns, kind, task):
    img = {"missing": "missing.png"}.get(kind) or B64[kind]
    return {"instruction": turns[0][0], "inputs": "", "outputs": turns[0][1],
            "image_base64_str": [img], "meta": {"id": sid, "task": task}}


def mi_rec(sid, turns, kind, task):
    return {"unique_id": sid, "image_source": "test", "task_name": task,
            "image_path": path_ref(kind), "target_txt": turns[0][1], "options": ["a", "b"],
            "prompt": turns[0][0], "target": turns[0][1], "meta_data": {}}


def coco_ann(sid, turns, kind, task):
    conv = []
    for q, a in turns:
        conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return {"id": sid, "img_ids": path_ref(kind), "instruction_type": task, "conversations": conv}


def flat_rec(sid, turns, kind, task):
    return {"id": sid, "question": turns[0][0], "answer": turns[0][1], "image": path_ref(kind),
            "task": task}


JSONL_BAD_LINES = [b'{"id": "broken", "this is": not json\n', b'{"id": "latin", "q": "caf\xe9"}\n']


def write_jsonl(path, recs, bad=True):
    with open(path, "wb") as fh:
        for k, r in enumerate(recs):
            fh.write(json.dumps(r, ensure_ascii=False).encode() + b"\n")
            if bad and k == 1:
                fh.writelines(JSONL_BAD_LINES)


def build(fmt, root, specs, bad=True):
    """Write ``specs`` in ``fmt`` under ``root``; returns (path, read options)."""
    setup_images(root)
    if fmt == "llava":
        p = os.path.join(root, "data.json")
        txt = json.dumps([llava_rec(*s) for s in specs], indent=2)
        if bad:  # break the second element: a missing comma inside it
            txt = txt.replace('"id": "s2",\n    "image"', '"id": "s2"\n    "image"', 1)
        with open(p, "w") as fh:
            fh.write(txt)
        return p, {}
    if fmt == "llava_jsonl":
        p = os.path.join(root, "data.jsonl")
        write_jsonl(p, [llava_rec(*s) for s in specs], bad)
        return p, {}
    if fmt == "m3it":
        p = os.path.join(root, "train.jsonl")
        write_jsonl(p, [m3it_rec(*s) for s in specs if s[2] != "escape"], bad)
        return p, {}
    if fmt == "multiinstruct":
        p = os.path.join(root, "train.jsonl")
        write_jsonl(p, [mi_rec(*s) for s in specs], bad)
        return p, {}
    if fmt == "coco_arc":
        p = os.path.join(root, "global.json")
        anns = json.dumps([coco_ann(*s) for s in specs])
        if bad:
            anns = anns.replace('"id": "s2", "img_ids"', '"id": "s2" "img_ids"', 1)
        with open(p, "w") as fh:
            fh.write('{"image_source": "test", "construction_time": "2023-11-16", '
                     f'"annotations": {anns}}}')
        return p, {}
    if fmt == "mimicit":
        p = os.path.join(root, "TT_instructions.json")
        data, images = {}, {}
        for sid, turns, kind, task in specs:
            if kind == "escape":
                continue
            iid = f"IMG_{kind}"
            if kind != "missing":
                images[iid] = B64[kind]
            data[sid] = {"instruction": turns[0][0], "answer": turns[0][1], "image_ids": [iid],
                         "rel_ins_ids": []}
        txt = json.dumps({"meta": {"version": "0.0.1", "author": "t"}, "data": data})
        if bad:
            txt = txt.replace('"s2": {"instruction"', '"s2": {"instruction" ', 1).replace(
                '"s2": {"instruction" : ', '"s2": {"instruction" ', 1)
            txt = txt.replace('"s2": {"instruction" "', '"s2": {"instruction" "', 1)
            i = txt.index('"s2": {') + len('"s2": {')
            txt = txt[:i] + txt[i:].replace(":", "", 1)  # drop the first ':' inside s2
        with open(p, "w") as fh:
            fh.write(txt)
        with open(os.path.join(root, "TT.json"), "w") as fh:
            json.dump(images, fh)
        return p, {}
    if fmt == "flat":
        p = os.path.join(root, "table.jsonl")
        write_jsonl(p, [flat_rec(*s) for s in specs], bad)
        return p, {"instruction": "question", "response": "answer"}
    if fmt == "flat_csv":
        import csv
        p = os.path.join(root, "table.csv")
        with open(p, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "question", "answer", "image", "task"])
            for k, s in enumerate(specs):
                r = flat_rec(*s)
                w.writerow([r["id"], r["question"], r["answer"], r["image"], r["task"]])
                if bad and k == 1:
                    w.writerow(["ragged", "only two"])
        if bad:
            with open(p, "ab") as fh:
                fh.write(b"latin,caf\xe9,x,img/ok.png,t\n")
        return p, {}
    if fmt == "flat_parquet":
        p = os.path.join(root, "table.parquet")
        pl.DataFrame([flat_rec(*s) for s in specs]).write_parquet(p)
        return p, {}
    if fmt == "hf":
        datasets = pytest.importorskip("datasets")
        rows = [flat_rec(*s) for s in specs if s[2] != "escape"]
        feats = datasets.Features({"id": datasets.Value("string"),
                                   "question": datasets.Value("string"),
                                   "answer": datasets.Value("string"),
                                   "image": datasets.Image(), "task": datasets.Value("string")})
        for r, s in zip(rows, [s for s in specs if s[2] != "escape"]):
            r["image"] = None if s[2] == "missing" else {
                "bytes": {"ok": OK, "ok2": OK2, "corrupt": CORRUPT, "bomb": BOMB}[s[2]],
                "path": None}
        hfds = datasets.Dataset.from_list(rows, features=feats)
        p = os.path.join(root, "hfds")
        hfds.save_to_disk(p)
        return p, {}
    raise AssertionError(fmt)


VARIANTS = ["llava", "llava_jsonl", "m3it", "mimicit", "multiinstruct", "coco_arc", "flat",
            "flat_csv", "flat_parquet", "hf"]
FORMAT_OF = {"llava_jsonl": "llava", "flat_csv": "flat", "flat_parquet": "flat"}
EXT = {"llava": "json", "llava_jsonl": "jsonl", "m3it": "jsonl", "mimicit": "json",
       "multiinstruct": "jsonl", "coco_arc": "json", "flat": "jsonl", "flat_csv": "csv",
       "flat_parquet": "parquet", "hf": ""}


def _root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    return str(root)


def _content(ds):
    f = ds.frame.filter(pl.col("read_error").is_null())
    return f.select("sample_id", "turns", "images", "task").to_dicts()


def _originals(ds):
    return [json.loads(o) for o in ds.frame.filter(pl.col("read_error").is_null())["original"]]


# ----------------------------------------------------------------------------- tests
def test_every_format_is_registered():
    assert set(ALL) <= set(formats())


@pytest.mark.parametrize("variant", VARIANTS)
def test_detect_and_read(variant, tmp_path):
    p, opts = build(variant, _root(tmp_path), GOOD, bad=False)
    fmt = FORMAT_OF.get(variant, variant)
    if variant != "flat":  # flat JSON Lines of an unknown shape needs format="flat"
        assert detect(p) == fmt
    ds = read(p, format=None if variant != "flat" else "flat", **opts)
    assert ds.format == fmt and len(ds) == len(GOOD)
    assert ds.frame["read_error"].null_count() == len(GOOD)
    assert ds.frame["sample_id"].to_list() == [s[0] for s in GOOD]
    first = ds.frame.row(0, named=True)
    assert first["turns"][0] == {"instruction": "What color is the square?", "response": "Red."}
    if variant == "mimicit":  # MIMIC-IT records carry no task: a subset-wide label is an option
        assert first["task"] is None
        assert read(p, task="TT").frame["task"].unique().to_list() == ["TT"]
    else:
        assert first["task"] == "short_vqa"
    assert len(first["images"]) == 1
    # the images decode through the dataset's references
    from vlitq.data.images import open_image
    assert open_image(first["images"][0], ds.image_root).size == (32, 24)
    if variant in ("llava", "llava_jsonl", "coco_arc"):
        s3 = ds.frame.row(2, named=True)["turns"]
        assert [t["instruction"] for t in s3] == ["Is it red?", "Is it large?"]  # multi-turn


@pytest.mark.parametrize("variant", VARIANTS)
def test_round_trip_is_lossless(variant, tmp_path):
    root = _root(tmp_path)
    p, opts = build(variant, root, GOOD, bad=False)
    fmt = FORMAT_OF.get(variant, variant)
    ds = read(p, format=fmt, **opts)
    out = os.path.join(root, "out" + ("." + EXT[variant] if EXT[variant] else ""))
    if variant == "mimicit":
        out = os.path.join(root, "OUT_instructions.json")
    write(ds, out)
    again = read(out, format=fmt, image_root=root, **opts)
    assert _content(again) == _content(ds)
    if variant not in ("flat_parquet", "hf", "flat_csv"):
        assert _originals(again) == _originals(ds)
    # a subset comes out with exactly those records, unchanged
    keep = ["s3", "s1"]
    sub = ds.subset(keep)
    write(sub, out)
    back = read(out, format=fmt, image_root=root, **opts)
    assert back.frame["sample_id"].to_list() == ["s1", "s3"]
    assert _content(back) == _content(sub)
    if variant == "mimicit":  # the image JSON holds exactly the images of the kept samples
        with open(os.path.join(root, "OUT.json")) as fh:
            assert set(json.load(fh)) == {"IMG_ok"}


def test_llava_json_round_trip_keeps_source_text(tmp_path):
    root = _root(tmp_path)
    p, _ = build("llava", root, GOOD, bad=False)
    ds = read(p)
    out = os.path.join(root, "copy.json")
    ds.write(out)
    with open(p) as a, open(out) as b:
        assert json.load(a) == json.load(b)


def test_mimicit_containers_round_trip(tmp_path):
    root = _root(tmp_path)
    p, _ = build("mimicit", root, GOOD, bad=False)
    ds = read(p)
    out = os.path.join(root, "X_instructions.json")
    paths = write(ds, out)
    assert paths == (out, os.path.join(root, "X.json"))
    with open(p) as a, open(out) as b:
        assert json.load(a) == json.load(b)
    with open(os.path.join(root, "TT.json")) as a, open(paths[1]) as b:
        assert json.load(a) == json.load(b)
    # the image file can also be given explicitly
    os.rename(paths[1], os.path.join(root, "elsewhere.json"))
    ds2 = read(out, images=os.path.join(root, "elsewhere.json"))
    assert _content(ds2) == _content(ds)


def test_explicit_format_wins(tmp_path):
    root = _root(tmp_path)
    p, _ = build("m3it", root, GOOD, bad=False)
    assert detect(p) == "m3it"
    ds = read(p, format="flat", instruction="instruction", response="outputs")
    assert ds.format == "flat"
    assert ds.frame["turns"][0][0]["response"] == "Red."


def test_unknown_option_is_refused(tmp_path):
    p, _ = build("llava", _root(tmp_path), GOOD, bad=False)
    with pytest.raises(FormatError, match="takes no option 'instructon'"):
        read(p, instructon="q")


def test_flat_mapping_errors_name_the_columns(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"a": 1, "b": 2}\n')
    with pytest.raises(FormatError, match="columns: a, b"):
        read(str(p), format="flat")
    with pytest.raises(FormatError, match="no such column"):
        read(str(p), format="flat", instruction="a", response="zzz")


def test_dataframes_read_as_flat(tmp_path):
    df = pl.DataFrame({"question": ["Q1?", "Q2?"], "answer": ["A1.", "A2."],
                       "image": [OK, None]})
    ds = read(df)
    assert ds.format == "flat" and len(ds) == 2
    assert ds.frame["images"][0][0].startswith("data:")
    pd = pytest.importorskip("pandas")
    ds2 = read(pd.DataFrame({"prompt": ["Q"], "output": ["A"]}))
    assert ds2.frame["turns"][0][0] == {"instruction": "Q", "response": "A"}
    out = tmp_path / "sub.parquet"
    write(ds.subset([ds.sample_ids[1]]), out)
    assert pl.read_parquet(out)["question"].to_list() == ["Q2?"]


def test_hf_dataset_object(tmp_path):
    datasets = pytest.importorskip("datasets")
    hfds = datasets.Dataset.from_dict({
        "conversations": [[{"from": "human", "value": "<image>\nWhat?"},
                           {"from": "gpt", "value": "A red square."}]],
        "image": [{"bytes": OK, "path": None}]},
        features=datasets.Features({"conversations": [{"from": datasets.Value("string"),
                                                       "value": datasets.Value("string")}],
                                    "image": datasets.Image()}))
    ds = read(hfds)
    assert ds.format == "hf"
    assert ds.frame["turns"][0][0] == {"instruction": "What?", "response": "A red square."}
    from vlitq.data.images import open_image
    assert open_image(ds.frame["images"][0][0]).size == (32, 24)


def test_conversion_between_formats_is_refused(tmp_path):
    p, _ = build("m3it", _root(tmp_path), GOOD, bad=False)
    with pytest.raises(FormatError, match="cannot be written as coco_arc"):
        write(read(p), tmp_path / "x.json", format="coco_arc")


@pytest.mark.parametrize("variant", ["m3it", "mimicit", "coco_arc", "hf", "llava"])
def test_export_llava(variant, tmp_path):
    root = _root(tmp_path)
    specs = GOOD + ([BAD[2]] if variant in ("mimicit",) else [])
    p, opts = build(variant, root, specs, bad=False)
    ds = read(p, **opts)
    out_dir = tmp_path / "export"
    res = export_llava(ds, out_dir / "train.json", copy_images=variant == "coco_arc")
    assert res["written"] == len(GOOD)
    if variant == "mimicit":  # the image id absent from the image file cannot be exported
        assert [s["sample_id"] for s in res["skipped"]] == ["b_missing"]
    # image files outside the export folder are referenced by absolute path unless copied
    back = read(out_dir / "train.json", allow_outside_root=variant == "llava")
    assert back.format == "llava"
    assert [t for t in back.frame["turns"].to_list()] == \
        [t for t in ds.frame.filter(pl.col("sample_id").is_in(back.sample_ids))["turns"].to_list()]
    tasks = [None] * len(GOOD) if variant == "mimicit" else [s[3] for s in GOOD]
    assert back.frame["task"].to_list() == tasks
    r = vlitq.score(back, ["image_check"], cache=False, progress=False)
    assert r.samples["image_check"].to_list() == [True] * len(GOOD)
    if variant in ("m3it", "mimicit", "hf"):  # inline images were written out once each
        assert res["images_written"] == 2
        assert len(os.listdir(out_dir / "images")) == 2


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_input_becomes_error_rows(variant, tmp_path):
    root = _root(tmp_path)
    specs = GOOD + BAD + [ESCAPE]
    p, opts = build(variant, root, specs, bad=True)
    fmt = FORMAT_OF.get(variant, variant)
    ds = read(p, format=fmt, **opts)
    rep = vlitq.score(ds, ["text_stats", "image_check"], cache=False, progress=False)
    errors = rep.errors
    by_id = {}
    for row in errors.iter_rows(named=True):
        by_id.setdefault(row["sample_id"], []).append(row)
    ids = ds.frame["sample_id"].to_list()
    # nothing dropped: every good and bad sample that the format can hold is a row
    holds_escape = variant not in ("m3it", "mimicit", "hf")
    for sid, *_ in GOOD + BAD + ([ESCAPE] if holds_escape else []):
        if variant in ("llava", "coco_arc", "mimicit") and sid == "s2":
            continue  # the malformed element: it is a read-error row instead
        assert sid in ids, sid
    # malformed records: read-error rows with file and line/index, null scores
    read_errs = errors.filter(pl.col("scorer") == "read")
    n_bad_records = 1 if variant in ("llava", "coco_arc", "mimicit") else 2
    if variant in ("hf", "flat_parquet"):
        n_bad_records = 0  # typed tables have no malformed records
    assert read_errs.height == n_bad_records, read_errs
    assert all(read_errs["file"].to_list()) and read_errs["index"].null_count() == 0
    assert read_errs["file"].to_list() == [p] * n_bad_records
    bad_rows = rep.samples.filter(pl.col("read_error").is_not_null())
    assert bad_rows.height == n_bad_records
    assert bad_rows["text_stats"].null_count() == n_bad_records
    if variant in ("llava_jsonl", "m3it", "multiinstruct", "flat"):
        assert sorted(read_errs["index"].to_list()) == [3, 4]  # JSON Lines: line numbers
        reasons = " ".join(read_errs["reason"].to_list())
        assert "malformed JSON" in reasons and "UTF-8" in reasons
    if variant in ("llava", "coco_arc"):
        assert read_errs["index"].to_list() == [1]
        assert "line" in read_errs["reason"][0]
    # text problems
    assert "empty response" in by_id["b_empty"][0]["reason"]
    assert any("characters" in r["reason"] for r in by_id["b_huge"])
    # image problems: each a row naming the reason, the sample kept with image_check False
    for sid, what in IMAGE_ERRORS.items():
        if sid == "b_escape" and not holds_escape:
            continue
        rows = [r for r in by_id.get(sid, []) if r["scorer"] == "image_check"]
        if variant == "hf" and sid == "b_missing":
            assert rows == []  # no image at all is not an image error
            continue
        assert rows and what in rows[0]["reason"], (sid, by_id.get(sid))
        assert rep.samples.filter(pl.col("sample_id") == sid)["image_check"].to_list() == [False]
    good = rep.samples.filter(pl.col("sample_id").is_in(["s1", "s4"]))
    assert good["image_check"].to_list() == [True, True]


def test_outside_root_allowed_when_asked(tmp_path):
    root = _root(tmp_path)
    p, _ = build("llava_jsonl", root, [ESCAPE], bad=False)
    refused = vlitq.score(read(p), ["image_check"], cache=False, progress=False)
    assert refused.samples["image_check"].to_list() == [False]
    allowed = vlitq.score(read(p, allow_outside_root=True), ["image_check"], cache=False,
                          progress=False)
    assert allowed.samples["image_check"].to_list() == [True]


def test_decompression_bomb_limit_is_kept():
    from vlitq.data.images import ImageError, decode_image
    assert Image.MAX_IMAGE_PIXELS and Image.MAX_IMAGE_PIXELS < 20000 * 20000
    with pytest.raises(ImageError, match="pixel limit"):
        decode_image(BOMB)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, b"hello world\n",
                                     b'{"a": 1}', b"[1, 2, 3]", b"\xff\xfe\x00garbage"])
def test_not_a_dataset_is_one_clear_error(content, tmp_path):
    p = tmp_path / "thing.json"
    p.write_bytes(content)
    with pytest.raises(FormatError, match="not a dataset in any known format"):
        read(str(p))


@pytest.mark.parametrize("fmt", ["llava", "m3it", "multiinstruct", "coco_arc", "mimicit"])
def test_forced_format_on_garbage_is_one_clear_error(fmt, tmp_path):
    p = tmp_path / "thing.json"
    p.write_bytes(b"this is not json\nnor is this\n")
    with pytest.raises(FormatError, match=r"not a|no record"):
        read(str(p), format=fmt)


def test_missing_path_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read(str(tmp_path / "nope.json"))


def test_mimicit_without_image_file_keeps_samples(tmp_path, caplog):
    root = _root(tmp_path)
    p, _ = build("mimicit", root, GOOD, bad=False)
    os.remove(os.path.join(root, "TT.json"))
    ds = read(p)
    assert len(ds) == len(GOOD)
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [False] * len(GOOD)
    assert "pass images=" in rep.errors["reason"][0]


def test_json_array_element_recovery_compact(tmp_path):
    recs = [llava_rec(*s) for s in GOOD]
    txt = json.dumps(recs).replace('"id": "s2", ', '"id": "s2" ', 1)
    p = tmp_path / "compact.json"
    p.write_text(txt)
    ds = read(str(p))
    assert ds.frame["read_error"].is_not_null().to_list() == [False, True, False, False]
    assert ds.frame["sample_id"].to_list()[2:] == ["s3", "s4"]


def test_streaming_iter_samples(tmp_path):
    from vlitq.data.formats import iter_samples
    p, _ = build("llava_jsonl", _root(tmp_path), GOOD, bad=True)
    rows = list(iter_samples(p))
    assert len(rows) == len(GOOD) + 2
    assert [r["read_error"] is not None for r in rows] == [False, False, True, True, False, False]


@pytest.mark.parametrize("variant", ["llava", "coco_arc", "mimicit"])
def test_non_utf8_byte_in_json_container(variant, tmp_path):
    root = _root(tmp_path)
    p, _ = build(variant, root, GOOD, bad=False)
    with open(p, "rb") as fh:
        data = fh.read()
    data = data.replace(b"Describe the image.", b"Describe the caf\xe9.", 1)  # inside s2
    with open(p, "wb") as fh:
        fh.write(data)
    ds = read(p)
    errs = ds.frame.filter(pl.col("read_error").is_not_null())
    assert errs.height == 1 and "UTF-8" in errs["read_error"][0]
    assert ds.frame.filter(pl.col("read_error").is_null())["sample_id"].to_list() == \
        ["s1", "s3", "s4"]


def test_mimicit_parquet_images(tmp_path):
    root = _root(tmp_path)
    p, _ = build("mimicit", root, GOOD, bad=False)
    with open(os.path.join(root, "TT.json")) as fh:
        images = json.load(fh)
    os.remove(os.path.join(root, "TT.json"))
    pl.DataFrame({"id": list(images), "base64": list(images.values())}).write_parquet(
        os.path.join(root, "TT.parquet"))
    ds = read(p)  # found next to the instruction file
    assert ds.meta["images_path"].endswith("TT.parquet")
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [True] * len(GOOD)


def test_m3it_multilingual_and_inputs(tmp_path):
    p = tmp_path / "zh.jsonl"
    rec = {"instruction": "请描述这张图片。", "inputs": "简短回答", "outputs": "一个红色的方块。",
           "image_base64_str": [B64["ok"]], "meta": {"task": "caption", "language": "zh"}}
    p.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    ds = read(str(p))
    row = ds.frame.row(0, named=True)
    assert row["turns"][0] == {"instruction": "请描述这张图片。\n简短回答",
                               "response": "一个红色的方块。"}
    assert (row["task"], row["language"]) == ("caption", "zh")
    out = tmp_path / "out.jsonl"
    ds.write(out)
    assert out.read_text(encoding="utf-8") == p.read_text(encoding="utf-8")  # byte-identical


def test_truncated_json_array_keeps_the_complete_records(tmp_path):
    txt = json.dumps([llava_rec(*s) for s in GOOD])
    p = tmp_path / "cut.json"
    p.write_text(txt[: txt.index('"id": "s4"') + 30])  # a download cut off inside s4
    ds = read(str(p))
    assert ds.frame["sample_id"].to_list()[:3] == ["s1", "s2", "s3"]
    assert ds.frame["read_error"].is_not_null().to_list() == [False, False, False, True]


def test_hf_multi_image_and_datasetdict_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({"question": datasets.Value("string"),
                               "answer": datasets.Value("string"),
                               "images": datasets.Sequence(datasets.Image())})
    d = datasets.Dataset.from_dict(
        {"question": ["Q?"], "answer": ["A."],
         "images": [[{"bytes": OK, "path": None}, {"bytes": OK2, "path": None}]]},
        features=feats)
    datasets.DatasetDict({"train": d, "test": d}).save_to_disk(str(tmp_path / "dd"))
    ds = read(str(tmp_path / "dd"), split="test")
    assert ds.format == "hf" and len(ds.frame["images"][0]) == 2
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [True]
    with pytest.raises(FormatError, match="no split 'dev'"):
        read(str(tmp_path / "dd"), split="dev")


def test_llava_image_token_anywhere_and_openai_messages(tmp_path):
    recs = [
        {"id": "000000000001", "image": "000000000001.jpg", "conversations": [
            {"from": "human", "value": "What color is the bus?\n<image>"},
            {"from": "gpt", "value": "White and red."},
            {"from": "human", "value": "Where is it parked?"},
            {"from": "gpt", "value": "At the side of a street."}]},
        {"id": 7, "images": ["a.jpg", "b.jpg"], "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Same?"}]},
            {"role": "assistant", "content": "No."}]},
    ]
    p = tmp_path / "mixed.json"
    p.write_text(json.dumps(recs))
    ds = read(str(p))
    t = ds.frame["turns"].to_list()
    assert t[0] == [{"instruction": "What color is the bus?", "response": "White and red."},
                    {"instruction": "Where is it parked?", "response": "At the side of a street."}]
    assert t[1] == [{"instruction": "Same?", "response": "No."}]
    assert ds.frame["sample_id"].to_list() == ["000000000001", "7"]
    assert ds.frame["images"].to_list() == [["000000000001.jpg"], ["a.jpg", "b.jpg"]]
