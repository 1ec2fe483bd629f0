import polars as pl
import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.cache import Cache
from vlitq.registry import register, unregister
from vlitq.scorers.base import Scorer


@pytest.fixture
def counting_scorer():
    calls = {"n": 0}

    @register
    class _Count(Scorer):
        name = "_count"
        batch_size = 2

        def __init__(self, *, factor: float = 1.0):
            self.factor = factor

        def score_batch(self, batch):
            calls["n"] += len(batch["sample_id"])
            vals, errs = [], []
            for turns in batch["turns"]:
                r = turns[0]["response"]
                if r == "boom":
                    raise RuntimeError("boom")
                vals.append(len(r) * self.factor)
                errs.append(None)
            return {"_count": vals, "_count_error": errs}

    yield _Count, calls
    unregister("_count")


def _ds(responses):
    return Dataset.from_records(
        [make_sample(f"s{i}", [("Q?", r)]) for i, r in enumerate(responses)]
    )


def test_cache_hit_on_rerun(counting_scorer, tmp_path):
    _, calls = counting_scorer
    ds = _ds(["a", "bb", "ccc", "dddd", "e"])
    r1 = vlitq.score(ds, ["_count"], cache=str(tmp_path), progress=False)
    assert calls["n"] == 5
    r2 = vlitq.score(ds, ["_count"], cache=str(tmp_path), progress=False)
    assert calls["n"] == 5  # nothing recomputed
    assert r1.samples["_count"].to_list() == r2.samples["_count"].to_list() == [1, 2, 3, 4, 1]
    # other params → other results
    vlitq.score(ds, ["_count"], config={"_count": {"factor": 2.0}}, cache=str(tmp_path),
                progress=False)
    assert calls["n"] == 10


def test_resume_after_partial_run(counting_scorer, tmp_path):
    _, calls = counting_scorer
    ds = _ds([str(i) * (i + 1) for i in range(10)])
    vlitq.score(ds.head(4), ["_count"], cache=str(tmp_path), progress=False, chunk_size=2)
    calls["n"] = 0
    r = vlitq.score(ds, ["_count"], cache=str(tmp_path), progress=False, chunk_size=2)
    assert calls["n"] == 6
    assert r.samples["_count"].to_list() == [float(i + 1) for i in range(10)]


def test_bad_sample_isolated(counting_scorer):
    ds = _ds(["ok", "boom", "fine"])
    r = vlitq.score(ds, ["_count"], cache=False, progress=False)
    assert r.samples["_count"].to_list() == [2, None, 4]
    assert r.errors.filter(pl.col("scorer") == "_count")["sample_id"].to_list() == ["s1"]
    assert r.indicator("_count") == pytest.approx(3.0)


def test_unknown_param_fails():
    with pytest.raises(TypeError, match="unknown parameter"):
        vlitq.score(_ds(["a"]), ["text_stats"], config={"text_stats": {"max_char": 3}},
                    cache=False, progress=False)


def test_cache_store_ignores_partial_files(tmp_path):
    c = Cache(str(tmp_path))
    s = c.store("x", {"a": 1})
    s.put_many_json({"k1": {"x": 1}})
    # a temp file left by a killed writer is never read
    import os

    open(os.path.join(s.path, ".tmp-part-dead.parquet"), "wb").write(b"garbage")
    open(os.path.join(s.path, "part-broken.parquet"), "wb").write(b"garbage")
    assert Cache(str(tmp_path)).store("x", {"a": 1}).get_many_json(["k1", "k2"]) == {"k1": {"x": 1}}


def test_report_save_load(tmp_path):
    ds = _ds(["a", "", "abc"])
    r = vlitq.score(ds, ["text_stats", "duplicates"], cache=False, progress=False)
    r.save(tmp_path / "rep")
    r2 = vlitq.Report.load(tmp_path / "rep")
    assert r2.samples.equals(r.samples)
    assert r2.indicator("text_stats") == r.indicator("text_stats")
    assert r2.error_counts() == {"text_stats": 1}
    assert "<table>" in r._repr_html_()


def test_errors_carry_their_samples_location_and_components_their_peak_rss(
        counting_scorer, tmp_path):
    import json
    import sys

    p = tmp_path / "d.jsonl"
    rows = [{"id": f"s{i}", "conversations": [{"from": "human", "value": "Q?"},
                                              {"from": "gpt", "value": r}]}
            for i, r in enumerate(["ok", "boom", "fine", "boom"])]
    p.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n{not json\n"
                 + "\n".join(json.dumps(r) for r in rows[2:]) + "\n")
    rep = vlitq.score(str(p), ["_count", "duplicates"], cache=False, progress=False)
    errs = rep.errors
    by = {(r["scorer"], r["sample_id"]): r for r in errs.iter_rows(named=True)}
    assert sorted(k for k in by if k[0] == "_count") == [("_count", "s1"), ("_count", "s3")]
    assert by[("_count", "s1")]["file"] == str(p) and by[("_count", "s1")]["index"] == 2
    assert by[("_count", "s3")]["index"] == 5  # line numbers; the malformed line 3 is a read error
    (read,) = [r for r in errs.iter_rows(named=True) if r["scorer"] == "read"]
    assert read["file"] == str(p) and read["index"] == 3
    if sys.platform.startswith("linux"):
        peaks = {k: v.get("peak_rss_mib") for k, v in rep.info["components"].items()}
        assert all(v and v > 10 for v in peaks.values()), peaks


COLUMN_MIXES = [
    [None, None, 1, 2, 3],                      # null slices, then ints
    [1, 2, 1.5, None, 4],                       # ints and floats: Float64
    [[], [], ["a"], None, ["b", "c"]],          # empty lists first
    [[1], [1.5], [2], [], None],
    ["a", 1, "b", 2, None],                     # str and int: String
    [{"a": 1}, {"b": 2}, None, {"a": 3, "b": 4}, {"c": 5}],  # structs of other fields
    [True, False, None, True, False],
    [1, 2, [3], [4], 5],                        # no supertype: JSON text
    [[1, "a"], [2], None, [3.5], ["x"]],
]


@pytest.mark.parametrize("values", COLUMN_MIXES, ids=range(len(COLUMN_MIXES)))
@pytest.mark.parametrize("slice_rows", [1, 2, 3, 100])
def test_column_built_in_slices_equals_one_conversion(values, slice_rows):
    from vlitq.engine.local import ColumnBuilder, _to_series

    b = ColumnBuilder("c", slice_rows=slice_rows)
    for v in values:  # a value at a time, as chunks of one row arrive
        b.extend([v])
    got, want = b.finish(), _to_series("c", values)
    assert got.dtype == want.dtype
    assert got.to_list() == want.to_list()


def test_column_builder_holds_slices_not_python_values():
    from vlitq.engine.local import ColumnBuilder

    b = ColumnBuilder("c", slice_rows=4)
    b.extend(list(range(10)))
    assert len(b._pending) < 4 and sum(len(p) for p in b._parts) >= 8
    assert b.finish().to_list() == list(range(10))
    assert ColumnBuilder("e").finish().len() == 0
