"""The bundled example data reads, and shows exactly the problems planted in it."""
import json
import os

import polars as pl
import pytest

import vlitq

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data")
LLAVA = os.path.join(ROOT, "llava", "llava.json")
LLAVA_JSONL = os.path.join(ROOT, "llava", "llava.jsonl")
M3IT = os.path.join(ROOT, "m3it", "examples.jsonl")
EXPECTED = {("bad_empty_response", "text_stats"), ("bad_missing_image", "image_check"),
            ("bad_corrupt_image", "image_check")}


def _errors(rep):
    return {(r["sample_id"], r["scorer"]) for r in rep.errors.iter_rows(named=True)}


@pytest.mark.parametrize("path,fmt", [(LLAVA, "llava"), (M3IT, "m3it")])
def test_example_reports_the_planted_problems(path, fmt):
    ds = vlitq.read(path)
    assert ds.format == fmt and len(ds) == 37
    assert ds.frame["task"].null_count() == 0
    assert set(ds.frame["task"]) == {"caption", "short_vqa", "yes_no", "multiple_choice",
                                     "reasoning", "conversation"}
    rep = vlitq.score(ds, ["text_stats", "image_check", "duplicates"], cache=False,
                      progress=False)
    assert _errors(rep) == EXPECTED
    s = rep.samples
    ok = s.filter(~pl.col("sample_id").str.starts_with("bad_") & (pl.col("sample_id") !=
                                                                   "text_only_reasoning"))
    assert ok["image_check"].to_list() == [True] * ok.height
    dup = s.filter(pl.col("sample_id").is_in(["chelsea_vqa", "bad_duplicate"]))
    assert dup["duplicates_pair"].to_list() == [1, 1]
    assert s.filter(pl.col("sample_id") == "coffee_vqa")["duplicates_pair"].to_list() == [0]


def test_example_jsonl_has_the_malformed_line():
    rep = vlitq.score(LLAVA_JSONL, ["text_stats", "image_check"], cache=False, progress=False)
    read_errs = rep.errors.filter(pl.col("scorer") == "read")
    assert read_errs["index"].to_list() == [11]
    assert "malformed JSON" in read_errs["reason"][0]
    assert _errors(rep) - {(read_errs["sample_id"][0], "read")} == EXPECTED
    assert rep.samples.height == 38


def test_example_is_small_and_consistent():
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    assert total < 3 * 2**20
    with open(LLAVA) as fh:
        recs = json.load(fh)
    for r in recs:
        if "image" in r and not r["id"].startswith("bad_"):
            assert os.path.isfile(os.path.join(ROOT, "llava", r["image"])), r["image"]
            assert r["conversations"][0]["value"].startswith("<image>\n")


def test_quickstart_runs(tmp_path, monkeypatch, capsys):
    import runpy
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    runpy.run_path(os.path.join(ROOT, "..", "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "kept 34 of 37 samples" in out
