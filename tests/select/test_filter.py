import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import vlitq
from vlitq.cli import main
from vlitq.config import ConfigError
from vlitq.data.dataset import Dataset, make_sample
from vlitq.select.gate import check
from vlitq.select.strategies import diverse


def _ds(n=30):
    recs = []
    for i in range(n):
        resp = "" if i % 7 == 3 else "word " * (i % 11 + 1)
        recs.append(make_sample(f"s{i}", [(f"Question {i}?", resp)], task=f"t{i % 3}"))
    return Dataset.from_records(recs, format="llava")


def _partition_ok(sel, n):
    dropped = sel.dropped["sample_id"].to_list()
    assert len(set(dropped)) == len(dropped), "a sample dropped twice"
    assert not set(dropped) & set(sel.kept)
    assert len(dropped) + len(sel.kept) == n
    assert sel.dropped["rule"].null_count() == 0


def test_rules_partition_and_reasons():
    rep = vlitq.score(_ds(), ["text_stats"], cache=False, progress=False)
    sel = vlitq.filter(rep, {"errors": {"max": 0}, "text_stats": {"quantile_min": 0.25}})
    _partition_ok(sel, 30)
    by = sel.drop_counts()
    assert by["errors <= 0"] == 4  # the empty responses
    # 25% of the 26 survivors, rounded down
    assert sum(v for k, v in by.items() if k.startswith("text_stats in the bottom")) == 6
    survivors = rep.samples.filter(pl.col("sample_id").is_in(sel.kept))["text_stats"]
    dropped_q = sel.dropped.filter(pl.col("column") == "text_stats")["value"].cast(pl.Float64)
    assert dropped_q.max() <= survivors.min()


def test_null_fails_unless_keep_null():
    rep = vlitq.score(_ds(10), ["text_stats"], cache=False, progress=False)
    rep.samples = rep.samples.with_columns(
        pl.when(pl.col("sample_id") == "s0").then(None).otherwise(pl.col("text_stats"))
        .alias("text_stats"))
    assert "s0" not in vlitq.filter(rep, {"text_stats": {"min": 0}}).kept
    assert "s0" in vlitq.filter(rep, {"text_stats": {"min": 0, "keep_null": True}}).kept


def test_unknown_column_and_operator_fail():
    rep = vlitq.score(_ds(5), ["text_stats"], cache=False, progress=False)
    with pytest.raises(KeyError, match="no such column"):
        vlitq.filter(rep, {"nope": {"min": 1}})
    with pytest.raises(ValueError, match="unknown operator"):
        vlitq.filter(rep, {"text_stats": {"atleast": 1}})


def test_top_k_and_quota_deterministic():
    rep = vlitq.score(_ds(), ["text_stats"], cache=False, progress=False)
    a = vlitq.filter(rep, strategy={"name": "top_k", "n": 5, "weights": {"text_stats": 1}})
    b = vlitq.filter(rep, strategy={"name": "top_k", "n": 5, "weights": {"text_stats": 1}})
    assert a.kept == b.kept and len(a.kept) == 5
    top = rep.samples.sort("text_stats", descending=True, maintain_order=True)["text_stats"][4]
    assert rep.samples.filter(pl.col("sample_id").is_in(a.kept))["text_stats"].min() >= top
    q1 = vlitq.filter(rep, strategy={"name": "quota", "per_task": 4}, seed=1)
    q2 = vlitq.filter(rep, strategy={"name": "quota", "per_task": 4}, seed=1)
    assert q1.kept == q2.kept and len(q1.kept) == 12
    _partition_ok(q1, 30)


def test_diverse_is_greedy_and_bounded():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    emb = np.repeat(centres, 25, axis=0) + 0.01 * rng.normal(size=(100, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    ids = [f"x{i}" for i in range(100)]
    kept, why = diverse(ids, emb.astype(np.float32), rng.random(100), threshold=0.2, block=7)
    assert len(kept) == 4  # one per planted family
    assert len(why) == 96 and all(d <= 0.2 for _, d in why.values())


def _ds_file(tmp_path, n=30):
    recs = [{"id": f"s{i}", "task": f"t{i % 3}", "conversations": [
        {"from": "human", "value": f"<image>\nQuestion {i}?"},
        {"from": "gpt", "value": "" if i % 7 == 3 else "word " * (i % 11 + 1)}]}
        for i in range(n)]
    p = tmp_path / "data.json"
    p.write_text(json.dumps(recs))
    return vlitq.read(p)


def test_write_manifest_and_roundtrip(tmp_path):
    ds = _ds_file(tmp_path)
    rep = vlitq.score(ds, ["text_stats", "duplicates"], cache=str(tmp_path / "c"),
                      progress=False)
    sel = vlitq.filter(rep, {"errors": {"max": 0}})
    paths = sel.write(tmp_path / "kept.json", ds, report=rep, cache=str(tmp_path / "c"))
    m = json.loads(open(paths["manifest"]).read())
    assert m["n_kept"] + m["n_dropped"] == m["n_input"] == 30
    assert m["indicators_before"]["text_stats"] != m["indicators_after"]["text_stats"]
    back = vlitq.read(paths["data"])
    assert back.sample_ids == sel.kept
    rep2 = vlitq.score(back, ["text_stats"], cache=False, progress=False)
    assert rep2.indicator("text_stats") == pytest.approx(m["indicators_after"]["text_stats"])


def test_gate():
    rep = vlitq.score(_ds(), ["text_stats", "duplicates"], cache=False, progress=False)
    res = check(rep, {"errors": {"max": 0}, "n_samples": {"min": 10},
                      "duplicates.instruction_dup_share": {"max": 50}})
    assert not res.passed
    assert res.checks.filter(pl.col("name") == "n_samples")["passed"][0]
    assert "FAIL" in res.summary()
    with pytest.raises(ConfigError, match="not an indicator"):
        check(rep, {"not_an_indicator": {"min": 0}})


def test_cli_filter_and_check(tmp_path):
    data = tmp_path / "d.json"
    recs = [{"id": f"s{i}", "conversations": [
        {"from": "human", "value": f"Q{i}?"}, {"from": "gpt", "value": "" if i == 2 else "a" * i}]}
        for i in range(6)]
    data.write_text(json.dumps(recs))
    rules = tmp_path / "rules.toml"
    rules.write_text('[rules.errors]\nmax = 0\n[rules.text_stats]\nmin = 2\n')
    r = CliRunner().invoke(main, ["filter", str(data), "--rules", str(rules), "--out",
                                  str(tmp_path / "kept.json"), "--quiet"])
    assert r.exit_code == 0, r.output
    kept = json.loads((tmp_path / "kept.json").read_text())
    assert [k["id"] for k in kept] == ["s3", "s4", "s5"]
    assert kept[0] == recs[3]  # records written back untouched
    gate = tmp_path / "gate.toml"
    gate.write_text('scorers = ["text_stats"]\n[gate.errors]\nmax = 0\n')
    r = CliRunner().invoke(main, ["check", str(data), "--gate", str(gate), "--quiet"])
    assert r.exit_code == 1 and "FAIL" in r.output
    r = CliRunner().invoke(main, ["check", str(tmp_path / "kept.json"), "--gate", str(gate),
                                  "--quiet"])
    assert r.exit_code == 0, r.output


def test_balanced_strategy_uses_task_labels():
    rep = vlitq.score(_ds(), ["text_stats"], cache=False, progress=False)
    sel = vlitq.filter(rep, {"errors": {"max": 0}}, strategy={"name": "balanced", "n": 9}, seed=3)
    _partition_ok(sel, 30)
    tasks = dict(zip(rep.samples["sample_id"].to_list(), rep.samples["task"].to_list()))
    kept_tasks = [tasks[s] for s in sel.kept]
    assert len(sel.kept) == 9 and all(kept_tasks.count(t) == 3 for t in ("t0", "t1", "t2"))
    again = vlitq.filter(rep, {"errors": {"max": 0}}, strategy={"name": "balanced", "n": 9},
                         seed=3)
    assert again.kept == sel.kept
    assert sel.dropped.filter(pl.col("stage") == "balanced").height == 30 - 4 - 9
