import json
import os

import polars as pl
import pytest

import vlitq
from vlitq.report import Comparison, compare


def test_vlitq_compare_is_the_function():
    assert vlitq.compare is compare
    assert vlitq.report.compare is compare


def test_side_by_side_and_deltas(make_paper_report):
    a, b = make_paper_report(shift=0.0), make_paper_report(seed=1, shift=2.0)
    c = compare([a, b], names=["v1", "v2"])
    assert isinstance(c, Comparison)
    t = c.table
    assert t.columns == ["indicator", "principle", "direction", "v1", "v2", "Δ v2"]
    assert t["indicator"].to_list()[:8] == ["matching", "correctness", "task_diversity",
                                            "instruction_diversity", "response_diversity",
                                            "elements", "llm_complexity", "balance"]
    row = dict(zip(t["indicator"], t.iter_rows(named=True)))
    assert row["correctness"]["v1"] == 80.0 and row["correctness"]["v2"] == 82.0
    assert row["correctness"]["Δ v2"] == pytest.approx(2.0)
    assert row["balance"]["Δ v2"] == pytest.approx(-2.0)
    assert row["response_diversity"]["Δ v2"] == pytest.approx(-0.2)
    imp = c.improved("v2")
    # higher correctness and lower balance variance are improvements; lower R is not
    assert imp["correctness"] is True and imp["balance"] is True
    assert imp["response_diversity"] is False and imp["task_diversity"] is None
    with pytest.raises(KeyError):
        c.improved("v1")


def test_missing_indicators_give_null_deltas(make_paper_report):
    a = make_paper_report()
    b = make_paper_report(shift=1.0)
    b.indicators = b.indicators.filter(pl.col("indicator") != "correctness")
    t = compare([a, b], names=["a", "b"]).table
    r = t.filter(pl.col("indicator") == "correctness").row(0, named=True)
    assert r["a"] == 80.0 and r["b"] is None and r["Δ b"] is None


def test_normalised_takes_direction_into_account(make_paper_report):
    reps = [make_paper_report(shift=s) for s in (0.0, 3.0, 1.0)]
    norm = compare(reps, names=["x", "y", "z"]).normalised()
    r = {row[0]: row[1:] for row in norm.rows()}
    assert r["correctness"] == (0.0, 1.0, pytest.approx(1 / 3))
    assert r["balance"] == (0.0, 1.0, pytest.approx(1 / 3))  # lower balance is better
    assert r["task_diversity"] == (1.0, 1.0, 1.0)  # equal everywhere
    assert all(0.0 <= v <= 1.0 for row in norm.rows() for v in row[1:])


def test_per_task_deltas(make_paper_report):
    a = make_paper_report(tasks=("caption", "vqa", "reasoning"))
    b = make_paper_report(tasks=("caption", "vqa", "ocr", "reasoning"), n=80, shift=1.0)
    c = compare([a, b], names=["a", "b"])
    share = c.tasks.filter(pl.col("metric") == "share")
    rows = {r["task"]: r for r in share.iter_rows(named=True)}
    assert rows["caption"]["Δ b"] == pytest.approx(25.0 - 100 / 3)
    assert rows["ocr"]["a"] is None and rows["ocr"]["Δ b"] is None
    idiv = {r["task"]: r for r in
            c.tasks.filter(pl.col("metric") == "instruction_diversity").iter_rows(named=True)}
    assert idiv["caption"]["a"] == 3.0 and idiv["caption"]["b"] == 4.0
    assert idiv["caption"]["Δ b"] == pytest.approx(1.0)


def test_names_from_folders_and_validation(tmp_path, make_paper_report):
    make_paper_report().save(tmp_path / "before")
    make_paper_report(shift=1.0).save(tmp_path / "after")
    c = compare([tmp_path / "before", str(tmp_path / "after")])
    assert c.names == ["before", "after"]
    assert compare([make_paper_report(), make_paper_report()]).names == ["report_1", "report_2"]
    assert compare([make_paper_report(name="x"), make_paper_report(name="x")]).names == \
        ["x", "x#1"]
    with pytest.raises(ValueError, match="unique"):
        compare([make_paper_report(), make_paper_report()], names=["a", "a"])
    with pytest.raises(ValueError):
        compare([make_paper_report()], names=["a", "b"])
    with pytest.raises(ValueError):
        compare([])
    with pytest.raises(TypeError):
        compare([42])


def test_html_has_table_radar_and_task_deltas(make_paper_report):
    a = make_paper_report(tasks=("caption", "vqa", '<img src=x onerror="window.__pwned=1">'))
    b = make_paper_report(tasks=("caption", "vqa", '<img src=x onerror="window.__pwned=1">'),
                          shift=2.0)
    page = compare([a, b], names=["v1", "<b>v2</b>"]).to_html()
    assert "<img src=x" not in page and "<b>v2</b>" not in page
    assert "&lt;b&gt;v2&lt;/b&gt;" in page
    blocks = page.split('<script type="application/json"')[1:]
    specs = [json.loads(b.split(">", 1)[1].split("</script>", 1)[0]) for b in blocks]
    radar = [s for s in specs if s["data"][0]["type"] == "scatterpolar"]
    assert len(radar) == 1 and len(radar[0]["data"]) == 2
    assert len(radar[0]["data"][0]["theta"]) == 9 + 1  # closed loop over directed indicators
    assert any(s["layout"].get("barmode") == "group" for s in specs)
    # Table-4 layout: a row per dataset, columns grouped by principle, best in bold
    t4 = page[page.index("Table 4</h3>"):page.index("<h3>Side by side</h3>")]
    assert '<th colspan="2" style="text-align:center">correctness</th>' in t4
    assert "MD ↑" in t4 and "B ↓" in t4
    assert "<b>82</b>" in t4 and "<b>8</b>" in t4 and "<b>2</b>" in t4  # C, balance, R
    # the improvement of v2 in correctness is green, its lower response diversity red
    assert '<span class="good">+2</span>' in page
    assert '<span class="bad">-0.2</span>' in page


def test_markdown_marks_better_and_worse(make_paper_report):
    md = compare([make_paper_report(), make_paper_report(shift=2.0)],
                 names=["v1", "v2"]).to_markdown()
    line = next(x for x in md.splitlines() if x.startswith("| **Correctness (C)**"))
    assert line.endswith("| +2 ✓ |")
    line = next(x for x in md.splitlines() if x.startswith("| **Balance (B)**"))
    assert line.endswith("| -2 ✓ |")
    line = next(x for x in md.splitlines() if x.startswith("| **Response diversity (R)**"))
    assert line.endswith("| -0.2 ✗ |")
    assert "### Task shares (%)" in md


def test_json(tmp_path, make_paper_report):
    c = compare([make_paper_report(), make_paper_report(shift=1.0)], names=["a", "b"])
    c.to_json(tmp_path / "c.json")
    d = json.loads((tmp_path / "c.json").read_text())
    assert d["names"] == ["a", "b"] and d["indicators"][0]["indicator"] == "matching"


def _llava_file(path, n, n_tasks):
    import json

    recs = [{"id": f"{path.stem}{i}", "task": f"t{i % n_tasks}",
             "conversations": [{"from": "human", "value": f"Question {i % 7}?"},
                               {"from": "gpt", "value": f"Answer {i % 5}."}]} for i in range(n)]
    path.write_text(json.dumps(recs))
    return str(path)


def test_equal_size_protocol_api_and_cli(tmp_path):
    from click.testing import CliRunner

    import vlitq
    from vlitq.cli import main
    from vlitq.report.comparison import compare

    big = _llava_file(tmp_path / "big.json", 90, 9)
    small = _llava_file(tmp_path / "small.json", 18, 3)
    comps = ["text_stats", "task_diversity", "duplicates"]
    reps = []
    for p in (big, small):
        r = vlitq.score(p, comps, cache=False, progress=False)
        r.save(tmp_path / ("rep_" + os.path.basename(p)[:-5]))
        reps.append(r)
    c = compare(reps, names=["big", "small"], datasets=[big, small], seeds=4, cache=False)
    eq = c.equal_size
    row = {r["indicator"]: r for r in eq.iter_rows(named=True)}
    assert row["task_diversity"]["size_dependent"] is True
    assert row["text_stats"]["size_dependent"] is False
    assert row["task_diversity"]["m"] == 18 and row["task_diversity"]["seeds"] == 4
    # at full size big has 9 tasks, at 18 samples fewer; the spread over seeds is reported
    assert row["task_diversity"]["big"] < 9 and row["task_diversity"]["small"] == 3
    assert row["task_diversity"]["big sd"] is not None
    assert "task_diversity" in c.size_dependent()
    md = c.to_markdown()
    assert "At equal size" in md and "‡" in md and "±" in md
    assert "equal-size" in c.to_html(plots=False)
    means = c.equal_size_means()
    assert means["dataset"].to_list() == ["big", "small"]
    # without the datasets the comparison says the sizes differ
    plain = compare(reps, names=["big", "small"])
    assert plain.equal_size is None and "differ in size" in plain.to_markdown()
    out = tmp_path / "cmp.md"
    res = CliRunner().invoke(main, ["report", "--compare", str(tmp_path / "rep_big"),
                                    str(tmp_path / "rep_small"), "--data", big, "--data", small,
                                    "--m", "10", "--seeds", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "m = 10 samples, 2 seeds" in out.read_text()
    res = CliRunner().invoke(main, ["report", "--compare", str(tmp_path / "rep_big"),
                                    str(tmp_path / "rep_small"), "--data", big,
                                    "--out", str(out)])
    assert res.exit_code != 0 and "one --data per report" in res.output


def test_compare_datasets_directly_scores_them(tmp_path):
    from vlitq.report.comparison import equal_size

    a = _llava_file(tmp_path / "a.json", 30, 3)
    b = _llava_file(tmp_path / "b.json", 12, 2)
    with pytest.raises(ValueError, match="exceeds the smallest"):
        equal_size([a, b], ["a", "b"], m=20, components=["text_stats"], cache=False)
    t = equal_size([a, b], ["a", "b"], m=12, seeds=1, components=["duplicates"], cache=False)
    assert t["b sd"].to_list() == [None]  # one seed: no spread
