import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats as sps

import vlitq
from vlitq.validate import average_over_models, correlate, icc, model_consistency
from vlitq.validate.stats import stars, t_test_p

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
SF = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
# R psych::ICC(SF) output (aov; 95% intervals), as printed by psych for this data:
# type ICC F df1 df2 p lower upper
PSYCH = {
    "1,1": (0.17, 1.8, 5, 18, 0.16477, -0.133, 0.72),
    "2,1": (0.29, 11.0, 5, 15, 0.00013, 0.019, 0.76),
    "3,1": (0.71, 11.0, 5, 15, 0.00013, 0.342, 0.95),
    "1,k": (0.44, 1.8, 5, 18, 0.16477, -0.884, 0.91),
    "2,k": (0.62, 11.0, 5, 15, 0.00013, 0.071, 0.93),
    "3,k": (0.91, 11.0, 5, 15, 0.00013, 0.676, 0.99),
}


def test_icc_matches_shrout_fleiss_published_values():
    # Shrout & Fleiss (1979) report ICC(1,1)=.17, (2,1)=.29, (3,1)=.71, (1,4)=.44, (2,4)=.62,
    # (3,4)=.91 for this table.
    for form, expected in [("1,1", .17), ("2,1", .29), ("3,1", .71), ("1,4", .44),
                           ("2,4", .62), ("3,4", .91)]:
        assert round(icc(SF, form), 2) == expected, form


def test_icc_all_matches_psych_table():
    table = icc(SF, "all")
    assert table["form"].to_list() == ["1,1", "2,1", "3,1", "1,k", "2,k", "3,k"]
    for row in table.iter_rows(named=True):
        val, f, df1, df2, p, lo, hi = PSYCH[row["form"]]
        assert row["icc"] == pytest.approx(val, abs=0.005)
        assert row["F"] == pytest.approx(f, abs=0.05)
        assert (row["df1"], row["df2"]) == (df1, df2)
        assert row["p"] == pytest.approx(p, abs=1e-5)
        assert row["ci_low"] == pytest.approx(lo, abs=0.0005 if abs(lo) < 1 else 0.005)
        assert row["ci_high"] == pytest.approx(hi, abs=0.005)
        assert row["ci_low"] <= row["icc"] <= row["ci_high"]


def test_icc_3k_is_cronbach_alpha_and_forms_agree():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 1)) * 3 + rng.normal(size=(12, 5)) + np.arange(5)  # rater offsets
    k = x.shape[1]
    alpha = k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    assert icc(x, "3,k") == pytest.approx(alpha, rel=1e-12)
    assert icc(x, "ICC3k") == icc(x, "3,5") == icc(x, "3,k")
    assert icc(x, "3") == icc(x, "3,1")
    # Rater offsets lower absolute agreement, not consistency.
    assert icc(x, "3,1") > icc(x, "2,1") and icc(x, "3,1") > icc(x, "1,1")
    # Spearman-Brown: ICC(3,k) from ICC(3,1).
    r1 = icc(x, "3,1")
    assert icc(x, "3,k") == pytest.approx(k * r1 / (1 + (k - 1) * r1))


def test_icc_inputs_and_errors(tmp_path):
    frame = pd.DataFrame(SF, columns=list("abcd"))
    frame.insert(0, "dimension", [f"d{i}" for i in range(6)])
    assert icc(frame) == pytest.approx(icc(SF))
    assert icc(pl.from_pandas(frame)) == pytest.approx(icc(SF))
    frame.to_csv(tmp_path / "r.csv", index=False)
    assert icc(str(tmp_path / "r.csv")) == pytest.approx(icc(SF))
    with_nan = np.array(SF + [[1, np.nan, 3, 4]], float)
    assert icc(with_nan) == pytest.approx(icc(SF))  # incomplete target left out
    with pytest.raises(ValueError, match="form"):
        icc(SF, "4,1")
    with pytest.raises(ValueError, match="2 targets"):
        icc([[1, 2, 3]])
    with pytest.raises(ValueError, match="2-D"):
        icc([1, 2, 3])


def _frames(n=8, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"ds{i}" for i in range(n)]
    x = rng.normal(size=n)
    ind = pl.DataFrame({"dataset": names, "good": x, "noise": rng.normal(size=n),
                        "label": ["t"] * n})
    rows = []
    for m, off in (("llava", 10.0), ("blip2", 0.0), ("flamingo", -5.0)):
        y = 50 + 5 * x + off + rng.normal(scale=0.5, size=n)
        for name, yy, z in zip(names, y, rng.normal(size=n)):
            rows.append({"dataset": name, "model": m, "scene": yy, "ocr": z})
    return ind, pl.DataFrame(rows)


def test_correlate_against_scipy():
    ind, perf = _frames()
    table = correlate(ind, perf)
    assert table.columns == ["indicator", "benchmark", "r", "p", "n", "stars"]
    assert table.select("indicator", "benchmark").rows() == [
        ("good", "scene"), ("good", "ocr"), ("noise", "scene"), ("noise", "ocr")]
    mean = perf.group_by("dataset").agg(pl.col("scene", "ocr").mean())
    joined = ind.join(mean, on="dataset")
    for row in table.iter_rows(named=True):
        ref = sps.pearsonr(joined[row["indicator"]], joined[row["benchmark"]])
        assert row["r"] == pytest.approx(ref.statistic, abs=1e-12)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert row["n"] == 8
        assert row["stars"] == stars(row["p"])
    good = table.filter(pl.col("indicator") == "good", pl.col("benchmark") == "scene").row(
        0, named=True)
    assert good["r"] > 0.9 and good["stars"] == "***"
    sp = correlate(ind, perf, method="spearman")
    for row in sp.iter_rows(named=True):
        ref = sps.spearmanr(joined[row["indicator"]], joined[row["benchmark"]])
        assert row["r"] == pytest.approx(ref.statistic, abs=1e-12)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_correlate_inputs_missing_and_bootstrap(tmp_path):
    ind, perf = _frames()
    ind.write_csv(tmp_path / "ind.csv")
    perf.to_pandas().to_csv(tmp_path / "perf.csv", index=False)
    a = correlate(str(tmp_path / "ind.csv"), perf.to_pandas())
    b = correlate(ind, str(tmp_path / "perf.csv"))
    assert a["r"].to_list() == pytest.approx(b["r"].to_list())
    # one-row-per-dataset performance gives the same table
    c = correlate(ind, average_over_models(perf))
    assert c["r"].to_list() == pytest.approx(a["r"].to_list())
    # a missing indicator value drops that dataset for that indicator only
    holes = ind.with_columns(pl.when(pl.col("dataset") == "ds0").then(None)
                             .otherwise(pl.col("good")).alias("good"))
    t = correlate(holes, perf)
    assert t.filter(pl.col("indicator") == "good")["n"].to_list() == [7, 7]
    assert t.filter(pl.col("indicator") == "noise")["n"].to_list() == [8, 8]
    # too few datasets: NaN, no stars
    tiny = correlate(ind.head(2), perf)
    assert tiny["r"].is_nan().all() and tiny["stars"].to_list() == [""] * 4
    boot = correlate(ind, perf, bootstrap=300, seed=3)
    again = correlate(ind, perf, bootstrap=300, seed=3)
    assert boot.equals(again)
    for row in boot.iter_rows(named=True):
        assert -1 <= row["ci_low"] <= row["r"] <= row["ci_high"] <= 1
    good = boot.row(0, named=True)
    noise = boot.filter(pl.col("indicator") == "noise").row(0, named=True)
    assert good["ci_high"] - good["ci_low"] < noise["ci_high"] - noise["ci_low"]


def test_correlate_errors():
    ind, perf = _frames()
    with pytest.raises(ValueError, match="method"):
        correlate(ind, perf, method="kendall")
    with pytest.raises(ValueError, match="dataset"):
        correlate(ind.drop("dataset"), perf)
    with pytest.raises(ValueError, match="one row per dataset"):
        correlate(pl.concat([ind, ind]), perf)
    with pytest.raises(ValueError, match="model"):
        correlate(ind, perf.drop("model"))


def test_t_test_p_and_lazy_exports():
    assert t_test_p(0.0, 10) == pytest.approx(1.0)
    assert t_test_p(1.0, 10) == 0.0
    assert np.isnan(t_test_p(0.5, 2))
    assert vlitq.correlate is correlate and vlitq.icc is icc


def test_model_consistency_per_dataset():
    _, perf = _frames()
    t = model_consistency(perf)
    assert t.columns == ["dataset", "n_models", "n_dimensions", "icc_3_1", "icc_3_k"]
    assert t.height == 8 and t["n_models"].to_list() == [3] * 8
    part = perf.filter(pl.col("dataset") == "ds0")
    ratings = part.select("scene", "ocr").to_numpy().T
    assert t["icc_3_1"][0] == pytest.approx(icc(ratings, "3,1"))


def test_indicator_table_from_saved_reports(tmp_path):
    from vlitq.report.report import Report
    from vlitq.validate import indicator_table

    _, perf = _frames(n=4)
    for i in range(4):
        Report(pl.DataFrame({"sample_id": ["a"]}), indicators=pl.DataFrame(
            {"indicator": ["matching", "balance"], "value": [20.0 + i, 5.0 - i * i]})
        ).save(tmp_path / "reports" / f"ds{i}")
    table = indicator_table(tmp_path / "reports")
    assert table.columns == ["dataset", "matching", "balance"]
    assert table["dataset"].to_list() == ["ds0", "ds1", "ds2", "ds3"]
    assert table["balance"].to_list() == [5.0, 4.0, 1.0, -4.0]
    a = correlate(str(tmp_path / "reports"), perf)
    b = correlate(table, perf)
    assert a.equals(b) and a.height == 4


def test_package_exports_functions_and_stays_light():
    import subprocess
    import sys

    code = ("import sys, vlitq.validate as v, vlitq.validate.evaluate, vlitq.validate.tune; "
            "from vlitq.validate import evaluate, tune; "
            "assert callable(evaluate) and evaluate is v.evaluate and callable(tune), evaluate; "
            "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
