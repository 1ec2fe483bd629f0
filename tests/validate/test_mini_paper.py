"""The miniature §5 experiment (benchmarks/mini_paper) end to end in its fast variant: the worst
dataset and the set `vlitq filter` makes from its pool, one architecture (LLaVA-style), a few
steps of stage-1 alignment and of tuning. Asserts only what must hold: losses fall (the
alignment stage's too), every table is produced, the filter raised
the matching degree it selected on, and its per-task quantile kept every task (a global cut by
matching selected tasks).

Not asserted, because it does not hold reliably at this size (measured, see
benchmarks/mini_paper/README.md): that the quality-controlled set beats the worst set on the
benchmark, or that it holds more correct responses. The fast variant's encoder (60 steps)
does not separate correct from mismatched responses (matching AUROC 0.544 on its 96-sample
pool; the QC set held 50.0 % correct vs 52.1 % in the pool), so the benchmark difference on 30
questions (50.0 % vs 43.3 % in one run, 33.3 % vs 43.3 % with the earlier encoder) is noise,
not the effect of quality control; the comparison and the figures are printed."""
import importlib.util
import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("easy_vqa")
pytest.importorskip("skimage")
pytest.importorskip("spacy")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "benchmarks", "mini_paper", "run.py")


def _load_runner():
    spec = importlib.util.spec_from_file_location("mini_paper_run", RUN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_fast_variant(tmp_path, monkeypatch):
    import polars as pl

    from vlitq.models.judges.base import JudgeError
    from vlitq.validate.mini import default_lm

    try:
        default_lm()
    except JudgeError as exc:
        pytest.skip(str(exc))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    runner = _load_runner()
    cfg = dict(runner.FAST)
    out = runner.run(str(tmp_path), cfg, threads=1)

    # losses fall in every tuning run
    assert "_align/llava" in out["summary"]["tune"]
    for name, t in out["summary"]["tune"].items():
        assert t["losses"][-1] < t["losses"][0], (name, t["losses"])
    # every table exists and has the rows it should
    res = out["results"]
    for f in ("performance.csv", "indicators.csv", "correlation.csv", "correlation.md",
              "fig5.html", "icc.md", "summary.md", "timings.json", "quality_control.json"):
        assert os.path.getsize(os.path.join(res, f)) > 0, f
    perf = pl.read_csv(os.path.join(res, "performance.csv"))
    assert sorted(perf["dataset"].to_list()) == ["mismatched", "quality_controlled"]
    dims = {"colour", "shape", "count", "position", "yes-no"}
    assert dims <= set(perf.columns)
    # the in-distribution benchmark (in the design): every run evaluated on it too
    pin = pl.read_csv(os.path.join(res, "performance_in_distribution.csv"))
    assert sorted(pin["dataset"].to_list()) == ["mismatched", "quality_controlled"]
    assert dims <= set(pin.columns)
    paired_in = out["summary"]["in_distribution"]["qc_vs_worst"]["llava"]
    assert paired_in["questions"] == 5 * cfg["per_dimension_in"]
    assert os.path.getsize(os.path.join(res, "correlation_in_distribution.csv")) > 0
    corr = pl.read_csv(os.path.join(res, "correlation.csv"))
    ind = out["indicators"]
    n_ind = len([c for c in ind.columns if c != "dataset"])
    assert corr.height == n_ind * len(dims)
    assert {"r", "p", "ci_low", "ci_high"} <= set(corr.columns)
    # the quality control removed mismatched responses, and the tuned model is better for it
    ind_rows = {r["dataset"]: r for r in ind.iter_rows(named=True)}
    assert ind_rows["quality_controlled"]["matching"] > ind_rows["mismatched"]["matching"]
    mean = perf.with_columns(pl.mean_horizontal(sorted(dims)).alias("mean"))
    acc = dict(zip(mean["dataset"].to_list(), mean["mean"].to_list()))
    assert all(0 <= a <= 100 for a in acc.values())
    # what the encoder can tell and what the per-task filter kept, reported every run
    with open(os.path.join(res, "quality_control.json"), encoding="utf-8") as fh:
        qc = json.load(fh)
    assert 0 <= qc["matching_auroc"] <= 1
    assert set(qc["matching_auroc_per_task"]) == {"colour", "shape", "count", "position",
                                                  "yesno"}
    assert qc["qc_n"] == cfg["n"]
    # the per-task quantile keeps about each task's share of the pool (a global cut by
    # matching selected tasks: 7 colour samples of 320 in the first measured run)
    counts = [qc["qc_tasks"].get(t, 0) for t in qc["matching_auroc_per_task"]]
    assert max(counts) - min(counts) <= 3, qc["qc_tasks"]
    print(f"benchmark mean accuracy: quality_controlled {acc['quality_controlled']:.1f} %, "
          f"mismatched {acc['mismatched']:.1f} %; matching AUROC {qc['matching_auroc']:.3f}, "
          f"correct share pool {qc['pool_correct_share']:.3f} qc {qc['qc_correct_share']:.3f}")


def test_a_subset_of_variants_draws_the_full_runs_data(tmp_path, monkeypatch):
    """`--set 'variants=["mismatched"]'` must test the full run's sets, not a fresh draw: the
    image bank's generator is shared, so build_all draws every variant in order."""
    import hashlib

    bench_dir = os.path.join(ROOT, "benchmarks", "mini_paper")
    monkeypatch.syspath_prepend(bench_dir)
    spec = importlib.util.spec_from_file_location("mini_paper_data",
                                                  os.path.join(bench_dir, "data.py"))
    mdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mdata)

    def digest(p):
        with open(p, "rb") as fh:
            return hashlib.md5(fh.read()).hexdigest()

    full = mdata.build_all(str(tmp_path / "full"), 8, 1, list(mdata.VARIANTS))
    sub = mdata.build_all(str(tmp_path / "sub"), 8, 1, ["mismatched"])
    assert "reference" not in sub and "mismatched" in sub
    for k in ("mismatched", "_pool", "_truth", "_pairs", "_bench"):
        assert digest(full[k]) == digest(sub[k]), k
    with pytest.raises(ValueError, match="unknown variant"):
        mdata.build_all(str(tmp_path / "bad"), 8, 1, ["mismatchd"])
