import re

import numpy as np
import polars as pl
from click.testing import CliRunner

from vlitq.cli import main


def _write_inputs(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"ds{i}" for i in range(7)]
    x = rng.normal(size=7)
    pl.DataFrame({"dataset": names, "matching": x, "balance": rng.normal(size=7)}).write_csv(
        tmp_path / "ind.csv")
    rows = []
    for m in ("llava", "blip2"):
        for name, xx in zip(names, x):
            rows.append({"dataset": name, "model": m, "scene": 50 + 5 * xx + rng.normal(0, .3),
                         "ocr": float(rng.normal())})
    pl.DataFrame(rows).write_csv(tmp_path / "perf.csv")


def test_correlate_command_writes_heatmap_and_tables(tmp_path):
    _write_inputs(tmp_path)
    res = CliRunner().invoke(main, [
        "correlate", str(tmp_path / "ind.csv"), str(tmp_path / "perf.csv"),
        "--out", str(tmp_path / "fig.html"), "--table", str(tmp_path / "t.md")])
    assert res.exit_code == 0, res.output
    assert "| matching | scene |" in res.output
    html = (tmp_path / "fig.html").read_text()
    # self-contained: plotly.js inlined, not fetched from a CDN
    assert "<script" in html and '<script src="https://cdn' not in html
    assert len(html) > 1_000_000
    assert "Heatmap" in html or "heatmap" in html
    # the strongest cell's text is r plus its stars, e.g. "0.98***"
    assert re.search(r'"(0\.9\d|1\.00)\*\*\*"', html)
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("| indicator | benchmark | r | p | n | stars |")
    res = CliRunner().invoke(main, [
        "correlate", str(tmp_path / "ind.csv"), str(tmp_path / "perf.csv"), "--method",
        "spearman", "--table", str(tmp_path / "t.csv"), "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    t = pl.read_csv(tmp_path / "t.csv")
    assert t.columns == ["indicator", "benchmark", "r", "p", "n", "stars", "ci_low", "ci_high"]
    assert t.height == 4


def test_correlate_command_reports_bad_input(tmp_path):
    pl.DataFrame({"name": ["a"], "x": [1.0]}).write_csv(tmp_path / "bad.csv")
    res = CliRunner().invoke(main, ["correlate", str(tmp_path / "bad.csv"),
                                    str(tmp_path / "bad.csv")])
    assert res.exit_code != 0 and "dataset" in res.output


def test_icc_command(tmp_path):
    sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    pl.DataFrame({"dimension": list("abcdef"), **{f"j{i}": [r[i] for r in sf] for i in range(4)}}
                 ).write_csv(tmp_path / "r.csv")
    res = CliRunner().invoke(main, ["icc", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    assert "| 3,1 | ICC3 |" in res.output and "0.715" in res.output
    res = CliRunner().invoke(main, ["icc", str(tmp_path / "r.csv"), "--form", "3,1"])
    assert "0.715" in res.output
    _write_inputs(tmp_path)
    res = CliRunner().invoke(main, ["icc", str(tmp_path / "perf.csv"), "--table",
                                    str(tmp_path / "c.csv")])
    assert res.exit_code == 0, res.output
    assert pl.read_csv(tmp_path / "c.csv").columns == [
        "dataset", "n_models", "n_dimensions", "icc_3_1", "icc_3_k"]


def test_heatmap_cells():
    from vlitq.validate.plots import correlation_heatmap

    t = pl.DataFrame({"indicator": ["a", "a", "b", "b"], "benchmark": ["x", "y", "x", "y"],
                      "r": [0.91, -0.2, float("nan"), 0.5], "p": [0.001, 0.6, float("nan"), 0.08],
                      "n": [7, 7, 2, 7], "stars": ["***", "", "", "*"]})
    heat = correlation_heatmap(t).data[0]
    assert [list(r) for r in heat.text] == [["0.91***", "-0.20"], ["", "0.50*"]]
    assert [list(r) for r in heat.z] == [[0.91, -0.2], [None, 0.5]]
    assert (heat.zmin, heat.zmax) == (-1, 1)
    assert list(heat.y) == ["a", "b"] and list(heat.x) == ["x", "y"]


def test_tune_and_evaluate_commands(tiny_llava, colour_subset, seed_bench, tmp_path):
    import json as _json

    subset = tmp_path / "kept.json"
    from vlitq.validate.tune import to_llava_records

    recs = [r for r in to_llava_records(colour_subset) if "image" in r]
    subset.write_text(_json.dumps(recs))
    res = CliRunner().invoke(main, ["tune", str(subset), "--model", "llava", "--show-defaults",
                                    "--out", str(tmp_path / "o"), "--set", "lr=3e-5"])
    assert res.exit_code == 0, res.output
    assert _json.loads(res.output)["lr"] == 3e-5
    out = tmp_path / "o"
    res = CliRunner().invoke(main, [
        "tune", str(subset), "--model", "llava", "--base", tiny_llava, "--out", str(out),
        "--image-root", colour_subset.image_root, "--max-steps", "1", "--set", "device=cpu",
        "--set", "num_workers=0", "--set", "batch_size=2"])
    assert res.exit_code == 0, res.output
    assert "tuned llava on 4 examples" in res.output
    perf = tmp_path / "perf.csv"
    for name in ("subset-a", "subset-b"):
        res = CliRunner().invoke(main, [
            "evaluate", str(out), str(seed_bench), "--device", "cpu", "--dataset", name,
            "--model-name", "llava", "--performance", str(perf), "--quiet", "--limit", "3",
            "--predictions", str(tmp_path / "p.jsonl")])
        assert res.exit_code == 0, res.output
    table = pl.read_csv(perf)
    assert table["dataset"].to_list() == ["subset-a", "subset-b"]
    assert set(table.columns) == {"dataset", "model", "Instance Attributes", "Scene"}
    res = CliRunner().invoke(main, ["tune", str(subset), "--out", str(out), "--set", "lrr=1"])
    assert res.exit_code != 0 and "unknown hyper-parameter" in res.output


def test_correlate_at_equal_size_with_data(tmp_path):
    import json

    from click.testing import CliRunner

    import vlitq
    from vlitq.cli import main

    perf, data = [], []
    reports = tmp_path / "reports"
    for k, (n, tasks) in enumerate([(40, 2), (30, 4), (20, 6), (16, 8)]):
        recs = [{"id": f"d{k}_{i}", "task": f"t{i % tasks}",
                 "conversations": [{"from": "human", "value": f"Q{i}?"},
                                   {"from": "gpt", "value": f"A{i % 3}."}]} for i in range(n)]
        f = tmp_path / f"d{k}.json"
        f.write_text(json.dumps(recs))
        vlitq.score(str(f), ["task_diversity", "text_stats"], cache=False,
                    progress=False).save(reports / f"d{k}")
        data += ["--data", f"d{k}={f}"]
        perf.append({"dataset": f"d{k}", "bench": float(10 + 3 * k)})
    pf = tmp_path / "perf.json"
    pf.write_text(json.dumps(perf))
    table = tmp_path / "t.csv"
    res = CliRunner().invoke(main, ["correlate", str(reports), str(pf), *data, "--seeds", "2",
                                    "--table", str(table)])
    assert res.exit_code == 0, res.output
    assert "equal size: m = 16 samples per dataset, 2 seeds" in res.output
    import polars as pl

    t = pl.read_csv(table)
    assert "task_diversity" in t["indicator"].to_list()
    assert t.filter(pl.col("indicator") == "task_diversity")["n"][0] == 4
