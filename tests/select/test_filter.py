import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import vlitq
import vlitq.scorers
from vlitq.cli import main
from vlitq.config import ConfigError
from vlitq.data.dataset import Dataset, make_sample
from vlitq.select.gate import check
from vlitq.select.rules import NotEvaluatedError
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


# ---------------------------------------------------------------- errors by cause, not evaluated
class _NeedsModel(vlitq.scorers.Scorer):
    """A scorer whose model is missing (load fails): its samples are not evaluated."""

    name = "_needs_model_f"
    cacheable = False

    def __init__(self):
        pass

    def load(self):
        raise FileNotFoundError("no weights at /models/missing")


@pytest.fixture
def needs_model():
    vlitq.registry.register(_NeedsModel)
    yield _NeedsModel
    vlitq.registry.unregister(_NeedsModel.name)


def test_component_errors_are_not_defects(needs_model):
    rep = vlitq.score(_ds(10), ["text_stats", "_needs_model_f"], cache=False, progress=False)
    causes = dict(rep.errors.group_by("scorer").agg(pl.col("cause").first()).iter_rows())
    assert causes == {"text_stats": "sample", "_needs_model_f": "component"}
    # errors counts defects only: the empty responses go, the rest stay although the model
    # never ran on them
    sel = vlitq.filter(rep, {"errors": {"max": 0}})
    assert set(sel.dropped["sample_id"]) == {"s3"} and len(sel.kept) == 9
    assert sel.not_evaluated["errors"]["components"] == ["_needs_model_f"]
    # a rule on the column is not evaluated: refused, never a silent drop or keep
    with pytest.raises(NotEvaluatedError, match="no weights at /models/missing"):
        vlitq.filter(rep, {"errors": {"max": 0}, "_needs_model_f": {"min": 1}})
    # keep_null keeps them (no crash on the all-null column) and says so
    sel = vlitq.filter(rep, {"_needs_model_f": {"min": 1, "keep_null": True}})
    assert len(sel.kept) == 10
    assert sel.not_evaluated["_needs_model_f"]["n"] == 10
    sel = vlitq.filter(rep, {"_needs_model_f": {"min": 1, "not_evaluated": "drop"}})
    assert sel.kept == [] and sel.dropped["rule"][0].startswith("_needs_model_f not evaluated")


def test_never_computed_column_is_not_evaluated():
    rep = vlitq.score(_ds(6), ["text_stats"], cache=False, progress=False)
    rep.samples = rep.samples.with_columns(pl.lit(None).alias("text_stats_extra"))
    with pytest.raises(NotEvaluatedError, match="never computed"):
        vlitq.filter(rep, {"text_stats_extra": {"min": 1}})
    # keep_null on a Null-typed column must not crash (was: Series of type Null ... gt_eq)
    assert len(vlitq.filter(rep, {"text_stats_extra": {"min": 1, "keep_null": True}}).kept) == 6


def test_colliding_ids_never_write_a_dropped_sample(tmp_path):
    recs = [{"id": "dup", "conversations": [{"from": "human", "value": "Q good?"},
                                           {"from": "gpt", "value": "a good answer"}]},
            {"id": "dup", "conversations": [{"from": "human", "value": "Q bad?"},
                                           {"from": "gpt", "value": ""}]},
            {"id": "other", "conversations": [{"from": "human", "value": "Q?"},
                                             {"from": "gpt", "value": "fine"}]}]
    p = tmp_path / "d.json"
    p.write_text(json.dumps(recs))
    ds = vlitq.read(p)
    # force the collision even if the reader makes ids unique
    ds = ds.with_frame(ds.frame.with_columns(pl.Series("sample_id", ["dup", "dup", "other"])))
    rep = vlitq.score(ds, ["text_stats"], cache=False, progress=False)
    sel = vlitq.filter(rep, {"errors": {"max": 0}}, dataset=ds)
    assert sel.kept_rows == [0, 2] and sel.dropped["row"].to_list() == [1]
    paths = sel.write(tmp_path / "kept.json", ds, report=rep, evaluate=False)
    kept = json.loads((tmp_path / "kept.json").read_text())
    assert [r["conversations"][0]["value"] for r in kept] == ["Q good?", "Q?"]
    m = json.loads(open(paths["manifest"]).read())
    assert m["kept_rows"] == [0, 2] and m["dropped"][0]["row"] == 1
    # a selection cannot be written onto another dataset
    with pytest.raises(ValueError):
        sel.write(tmp_path / "x.json", ds.head(2))


def test_strategy_registry():
    from vlitq.select.strategies import create_strategy, strategy_names

    assert {"balanced", "top_k", "quota", "diverse"} <= set(strategy_names())
    with pytest.raises(ConfigError, match="unknown option"):
        create_strategy({"name": "top_k", "n": 3, "wieghts": {}})
    with pytest.raises(ConfigError, match="unknown strategy"):
        create_strategy("bogus")


def test_cli_filter_misconfigured_exits_2(tmp_path):
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"id": f"s{i}", "conversations": [
        {"from": "human", "value": f"Q{i}?"}, {"from": "gpt", "value": "a" * i}]}
        for i in range(4)]))
    cases = {
        '[rules.errors]\nmax = 0\n[gates]\nerrors = { max = 0 }\n': "unknown table [gates]",
        '[rules.text_stat]\nmin = 1\n': "no component writes this column",
        '[rules.text_stats]\natleast = 1\n': "unknown operator",
        '[rules\n': "not valid TOML",
        '[rules.errors]\nmax = 0\n[config.text_stats]\nbatch_size = 4\n': "unknown parameter",
        '[rules.errors]\nmax = 0\n[gate]\n': "empty",
        '[rules.errors]\nmax = 0\n[strategy]\nname = "best"\n': "unknown strategy",
    }
    for text, msg in cases.items():
        rules = tmp_path / "r.toml"
        rules.write_text(text)
        out = tmp_path / "kept.json"
        r = CliRunner().invoke(main, ["filter", str(data), "--rules", str(rules), "--out",
                                      str(out), "--quiet"])
        assert r.exit_code == 2 and msg in r.output, (text, r.output)
        assert "Traceback" not in r.output and not out.exists()


def test_readme_quick_start_runs_offline(tmp_path, monkeypatch):
    """The README's first Python block, on the bundled example (no CLIP weights here): it runs
    and keeps the good samples — a missing model is not a defect of the samples."""
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    code = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    code = code.replace('"examples/data/', '"' + os.path.join(root, "examples", "data") + "/")
    monkeypatch.chdir(tmp_path)
    env: dict = {}
    exec(compile(code, "README.md", "exec"), env)
    sel, ds = env["sel"], env["ds"]
    bad = {"bad_empty_response", "bad_missing_image", "bad_corrupt_image"}
    assert not bad & set(sel.kept)
    assert len(sel.kept) >= len(ds) - 10, sel
    kept = vlitq.read(tmp_path / "kept.json")
    assert kept.sample_ids == sel.kept


def test_cli_filter_gate_exit_codes(tmp_path):
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"id": f"s{i}", "conversations": [
        {"from": "human", "value": f"Q{i}?"}, {"from": "gpt", "value": "" if i == 1 else "a" * (i + 1)}]}
        for i in range(5)]))
    for gate, code in (("errors = { max = 0 }\nn_samples = { min = 4 }\n", 0),
                       ("n_samples = { min = 5 }\n", 1),
                       ('"errors.image_chek" = { max = 0 }\n', 2)):
        rules = tmp_path / "r.toml"
        rules.write_text(f'scorers = ["text_stats"]\n[rules.errors]\nmax = 0\n[gate]\n{gate}')
        r = CliRunner().invoke(main, ["filter", str(data), "--rules", str(rules), "--out",
                                      str(tmp_path / "k.json"), "--quiet", "--no-cache"])
        assert r.exit_code == code, (gate, r.output)
        if code < 2:
            assert "kept 4 of 5" in r.output and ("PASSED" if code == 0 else "FAILED") in r.output


def test_cli_filter_rule_on_missing_model(tmp_path, needs_model):
    data = tmp_path / "d.json"
    data.write_text(json.dumps([{"id": f"s{i}", "conversations": [
        {"from": "human", "value": f"Q{i}?"}, {"from": "gpt", "value": "a" * (i + 1)}]}
        for i in range(4)]))
    out = tmp_path / "k.json"
    rules = tmp_path / "r.toml"
    rules.write_text('[rules._needs_model_f]\nmin = 1\n')
    args = ["filter", str(data), "--rules", str(rules), "--out", str(out), "--quiet"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "cannot be decided for 4 of 4" in r.output, r.output
    assert not out.exists()  # not an empty file with exit 0
    rules.write_text('[rules._needs_model_f]\nmin = 1\nkeep_null = true\n')
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "kept 4 of 4" in r.output and "kept      4  not evaluated by _needs_model_f" in r.output


def test_quantile_by_task_ranks_within_each_task():
    # a score whose level differs by task: a global quantile would drop whole tasks
    recs = [make_sample(f"s{i}", [(f"Q {i}?", "word " * (1 + i % 5 + 20 * (i % 2)))],
                        task=f"t{i % 2}") for i in range(20)]
    ds = Dataset.from_records(recs, format="llava")
    rep = vlitq.score(ds, ["text_stats"], cache=False, progress=False)
    glob = vlitq.filter(rep, {"text_stats": {"quantile_min": 0.5}})
    assert {int(s[1:]) % 2 for s in glob.kept} == {1}  # the global rule kept one task only
    sel = vlitq.filter(rep, {"text_stats": {"quantile_min": 0.5, "by": "task"}})
    _partition_ok(sel, 20)
    kept = rep.samples.filter(pl.col("sample_id").is_in(sel.kept))
    assert kept.group_by("task").len().sort("task")["len"].to_list() == [5, 5]
    for t in ("t0", "t1"):
        grp = rep.samples.filter(pl.col("task") == t)
        k = kept.filter(pl.col("task") == t)["text_stats"]
        d = grp.filter(~pl.col("sample_id").is_in(sel.kept))["text_stats"]
        assert d.max() <= k.min()
    reasons = set(sel.dropped["rule"].to_list())
    assert any("of its task t0" in r for r in reasons) and any("task t1" in r for r in reasons)
    # thresholds differ by task and are recorded per drop
    assert sel.dropped["threshold"].n_unique() == 2


def test_quantile_by_column_and_misuse():
    rep = vlitq.score(_ds(12), ["text_stats"], cache=False, progress=False)
    rep.samples = rep.samples.with_columns((pl.col("text_stats") > 3).alias("long"))
    sel = vlitq.filter(rep, {"text_stats": {"quantile_max": 0.5, "by": "long"}})
    _partition_ok(sel, 12)
    with pytest.raises(KeyError, match="no such per-sample column"):
        vlitq.filter(rep, {"text_stats": {"quantile_min": 0.5, "by": "nope"}})
    with pytest.raises(ConfigError, match="quantile_min / quantile_max only"):
        vlitq.filter(rep, {"text_stats": {"min": 1, "by": "task"}})
    with pytest.raises(ConfigError, match="column name"):
        vlitq.filter(rep, {"text_stats": {"quantile_min": 0.5, "by": 3}})
