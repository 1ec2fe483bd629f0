"""The paper's §5 in miniature: build datasets → score → filter → tune 3 MLLMs → evaluate →
correlate / ICC. One command:

    python benchmarks/mini_paper/run.py --out /tmp/mini-paper            # full run
    python benchmarks/mini_paper/run.py --out /tmp/mini-fast --fast      # CI-sized

Writes ``<out>/results/``: ``performance.csv`` (Table-3-style: accuracy per benchmark dimension
per dataset and model), ``indicators.csv``, ``correlation.md`` / ``.csv`` (Pearson r, p and
bootstrap interval of every indicator against every dimension, mean over models: Table 15 /
Figure 5), ``fig5.html`` (the heatmap), ``icc.md`` (Table 4: ICC(3,1), ICC(3,k) per dataset
across models), ``timings.json`` and ``summary.md`` (everything above, with the per-step times).
The analysis steps run through the ``vlitq`` CLI exactly as a user would.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data as mdata  # noqa: E402

KINDS = ("llava", "blip2", "openflamingo")
SCORERS = ["text_stats", "duplicates", "matching", "elements", "tasks", "task_diversity",
           "balance", "instruction_diversity", "response_diversity"]
FULL = {"n": 320, "per_dimension": 24, "encoder_steps": 600, "encoder_batch": 96,
        "encoder_images": 2000, "pool_factor": 2, "align_steps": 300, "align_batch": 16,
        "align_lr": 1e-3, "tune_steps": 300, "batch": 8, "tune_lr": 1e-3,
        "lm_layers": 2, "variants": list(mdata.VARIANTS), "kinds": list(KINDS),
        "bootstrap": 1000, "scorers": SCORERS, "per_dimension_in": 40}
FAST = {"n": 48, "per_dimension": 6, "encoder_steps": 60, "encoder_batch": 96,
        "encoder_images": 400, "pool_factor": 2, "align_steps": 20, "align_batch": 16,
        "align_lr": 1e-3, "tune_steps": 30, "batch": 8, "tune_lr": 1e-3,
        "lm_layers": 2, "variants": [mdata.WORST], "kinds": ["llava"], "bootstrap": 200,
        "scorers": ["text_stats", "matching", "tasks", "task_diversity", "balance",
                    "instruction_diversity"], "per_dimension_in": 6}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def vlitq(*args: str, check: bool = True) -> str:
    """Run the vlitq CLI (``python -m vlitq.cli``) and return its output."""
    proc = subprocess.run([sys.executable, "-m", "vlitq.cli", *args], capture_output=True,
                          text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"vlitq {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def auroc(pos, neg) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half):
    the Mann-Whitney form of the area under the ROC curve.

    >>> auroc([3, 4], [1, 2]), auroc([1], [1]), auroc([1, 2], [2, 3])
    (1.0, 0.5, 0.125)
    """
    import numpy as np

    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return None
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def pool_check(pool_report: str, truth_file: str, qc_file: str | None = None) -> dict:
    """How well the ``matching`` degree separates correct from mismatched responses in the pool
    (AUROC overall and per task), and the share of correct responses in the pool and in the
    quality-controlled set. Uses the pool's truth sidecar, which no filter reads."""
    import polars as pl

    with open(truth_file, encoding="utf-8") as fh:
        truth = json.load(fh)
    samples = pl.read_parquet(os.path.join(pool_report, "samples.parquet"))
    with open(os.path.join(os.path.dirname(truth_file), "data", "_pool.json"),
              encoding="utf-8") as fh:
        task = {r["id"]: r["task"] for r in json.load(fh)}
    rows = [(sid, m, truth[sid], task[sid]) for sid, m in
            zip(samples["sample_id"].to_list(), samples["matching"].to_list()) if m is not None]
    out = {"pool_n": len(truth), "pool_correct_share": round(
        sum(truth.values()) / len(truth), 4), "matching_auroc": auroc(
        [m for _, m, c, _ in rows if c], [m for _, m, c, _ in rows if not c])}
    out["matching_auroc_per_task"] = {
        t: auroc([m for _, m, c, tt in rows if c and tt == t],
                 [m for _, m, c, tt in rows if not c and tt == t])
        for t in sorted({r[3] for r in rows})}
    if qc_file and os.path.isfile(qc_file):
        with open(qc_file, encoding="utf-8") as fh:
            qc = json.load(fh)
        ids = [r["id"] for r in qc]
        out["qc_n"] = len(ids)
        out["qc_correct_share"] = round(sum(truth[i] for i in ids) / len(ids), 4)
        counts: dict = {}
        for i in ids:
            counts[task[i]] = counts.get(task[i], 0) + 1
        out["qc_tasks"] = dict(sorted(counts.items()))
    return out


def qc_rules(path: str, n: int, pool_n: int) -> str:
    """The quality control: readable samples only, then within each task the better matched
    (CLIP) share that leaves n of the pool (a per-task quantile: the matching degree's level
    differs by kind of question, and a global cut would select tasks, not correct samples),
    then the n best by matching should rounding leave a few more."""
    q = max(0.0, 1.0 - n / pool_n)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("scorers = [\"matching\"]\n\n[rules.errors]\nmax = 0\n\n"
                 f"[rules.matching]\nquantile_min = {q:g}\nby = \"task\"\n\n"
                 f"[strategy]\nname = \"top_k\"\nn = {n}\nweights = {{ matching = 1.0 }}\n")
    return path


def score_config(path: str, encoder: str) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"[matching]\nmodel = \"{encoder}\"\n\n[tasks]\ntask_source = \"given\"\n")
    return path


def run(out: str, cfg: dict, threads: int | None = None, resume: bool = False,
        analyse_only: bool = False) -> dict:
    """Run every step; with ``resume``, reuse what a previous run with the same ``out`` left
    (data, encoder, reports, finished tuning runs and their benchmark rows); with
    ``analyse_only`` (implies ``resume``), tune nothing new: analyse the finished runs."""
    resume = resume or analyse_only
    import torch

    if threads:
        torch.set_num_threads(threads)
    from vlitq.validate.mini import build_mini
    from vlitq.validate.tune import tune

    os.makedirs(out, exist_ok=True)
    res_dir = os.path.join(out, "results")
    os.makedirs(res_dir, exist_ok=True)
    times: dict[str, float] = {}
    t_all = time.time()

    # 1. data
    t = time.time()
    manifest = os.path.join(out, "paths.json")
    if resume and os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as fh:
            paths = json.load(fh)
    else:
        paths = mdata.build_all(out, cfg["n"], cfg["per_dimension"], cfg["variants"],
                                pool_factor=cfg["pool_factor"],
                                encoder_images=cfg["encoder_images"],
                                per_dimension_in=cfg.get("per_dimension_in", 0))
        with open(manifest, "w", encoding="utf-8") as fh:
            json.dump(paths, fh)
    if cfg.get("per_dimension_in") and "_bench_in" not in paths:  # a run from before it
        paths["_bench_in"] = mdata.write_in_distribution_benchmark(out, cfg["per_dimension_in"])
        with open(manifest, "w", encoding="utf-8") as fh:
            json.dump(paths, fh)
    bench_in = paths.get("_bench_in")
    images = paths["_images"]
    if "_align" not in paths:  # a run made before the alignment stage existed
        with open(paths["_pairs"], encoding="utf-8") as fh:
            paths["_align"] = mdata.write_alignment(out, json.load(fh))
    times["data"] = time.time() - t
    log(f"data: {len(cfg['variants'])} datasets of {cfg['n']} samples, benchmark of "
        f"{5 * cfg['per_dimension']} questions ({times['data']:.0f} s)")

    # 2. the vision encoder (also the matching scorer's CLIP)
    from encoder import train_encoder

    t = time.time()
    enc_file = os.path.join(out, "encoder", "training.json")
    if resume and os.path.isfile(enc_file):
        with open(enc_file, encoding="utf-8") as fh:
            enc = json.load(fh)
    else:
        enc = train_encoder(paths["_pairs"], images, os.path.join(out, "encoder"),
                            steps=cfg["encoder_steps"], batch=cfg["encoder_batch"], log=log)
        with open(enc_file, "w", encoding="utf-8") as fh:
            json.dump(enc, fh)
    times["encoder"] = time.time() - t
    log(f"encoder: {enc['steps']} steps, loss {enc['losses'][0]:.2f} -> "
        f"{enc['losses'][-1]:.2f} ({times['encoder']:.0f} s)")

    # 3. score every dataset; filter the worst set's pool into the quality-controlled set
    t = time.time()
    conf = score_config(os.path.join(out, "score.toml"), enc["folder"])
    reports = os.path.join(out, "reports")
    pool_rep = os.path.join(out, "pool_report")
    qc = os.path.join(out, "data", "quality_controlled.json")
    if not (resume and os.path.isfile(qc)):
        vlitq("score", paths["_pool"], "--image-root", images, "--scorers", "matching",
              "--config", conf, "--out", pool_rep, "--no-cache", "--quiet")
        vlitq("filter", paths["_pool"], "--image-root", images, "--from-report", pool_rep,
              "--rules", qc_rules(os.path.join(out, "qc.toml"), cfg["n"],
                                  cfg["pool_factor"] * cfg["n"]), "--out", qc,
              "--out-format", "llava", "--quiet")
    # what the matching degree (the encoder) can tell, and what the filter kept: reported every
    # run, from the pool's truth sidecar (which nothing selects on)
    check = pool_check(pool_rep, paths["_truth"], qc)
    with open(os.path.join(res_dir, "quality_control.json"), "w", encoding="utf-8") as fh:
        json.dump(check, fh, indent=1)
    log(f"matching AUROC on the pool (correct vs mismatched) {check['matching_auroc']:.3f}; "
        f"correct responses: pool {check['pool_correct_share']:.1%}, quality_controlled "
        f"{check.get('qc_correct_share', float('nan')):.1%}")
    datasets = {}
    for v in cfg["variants"]:  # the quality-controlled set right after the set it repairs
        datasets[v] = paths[v]
        if v == mdata.WORST:
            datasets["quality_controlled"] = qc
    datasets.setdefault("quality_controlled", qc)
    # the datasets are scored in this process (vlitq.score, what `vlitq score` runs), so the
    # spaCy / MiniLM / CLIP models load once rather than once per dataset
    import vlitq as vq

    score_times = {}
    for name, p in datasets.items():
        if resume and os.path.isdir(os.path.join(reports, name)):
            continue
        ts = time.time()
        rep = vq.score(p, cfg["scorers"], config=conf, cache=False, progress=False,
                       image_root=images)
        rep.save(os.path.join(reports, name))
        n_err = rep.errors.height if hasattr(rep.errors, "height") else len(rep.errors)
        score_times[name] = time.time() - ts
        log(f"scored {name}: {n_err} error row(s) ({score_times[name]:.0f} s)")
    times["score+filter"] = time.time() - t
    log(f"scored {len(datasets)} datasets + the pool, filtered ({times['score+filter']:.0f} s)")

    # 4. tune each architecture on each dataset, 5. evaluate on the benchmark
    from vlitq.validate.evaluate import evaluate

    perf_rows, perf_in_rows, tune_log = [], [], {}
    rows_file = os.path.join(res_dir, "runs.jsonl")  # one line per finished tune + evaluate
    done = {}
    if resume and os.path.isfile(rows_file):
        with open(rows_file, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                done[(r["dataset"], r["model"])] = r
    elif os.path.isfile(rows_file):
        os.remove(rows_file)
    times["tune"], times["evaluate"] = 0.0, 0.0
    for kind in cfg["kinds"]:
        base = os.path.join(out, "runs", f"base-{kind}")
        aligned = os.path.join(out, "runs", f"aligned-{kind}")
        need = not (analyse_only or all((n, kind) in done for n in datasets))
        if need and not os.path.isfile(os.path.join(base, "connector.pt")):
            model, _ = build_mini(kind, enc["folder"], lm_layers=cfg["lm_layers"])
            model.save(base)
            del model
        if cfg.get("align_steps"):
            # stage 1 (feature alignment), once per architecture: the paper tunes models whose
            # connectors were pretrained (LLaVA's stage-1 projector, BLIP-2's Q-Former,
            # OpenFlamingo's resampler); every dataset then starts from the same aligned model
            info = os.path.join(aligned, "vlitq_tune.json")
            if resume and os.path.isfile(info):
                with open(info, encoding="utf-8") as fh:
                    a = json.load(fh)
                tune_log[f"_align/{kind}"] = {"losses": a["losses"], "seconds": a["seconds"],
                                              "trainable": a["trainable_parameters"]}
            elif need:
                t = time.time()
                r = tune(paths["_align"], model=kind, base=base, out=aligned, image_root=images,
                         max_steps=cfg["align_steps"], batch_size=cfg["align_batch"],
                         lr=cfg["align_lr"])
                tune_log[f"_align/{kind}"] = {"losses": r.losses, "seconds": time.time() - t,
                                              "trainable": r.trainable_parameters}
                times["align"] = times.get("align", 0.0) + time.time() - t
                log(f"{kind:12} stage-1 alignment on {cfg['align_steps']} x "
                    f"{cfg['align_batch']} captions: loss {r.losses[0]:.2f} -> "
                    f"{r.losses[-1]:.2f} ({time.time() - t:.0f} s)")
            base = aligned
        for name, p in datasets.items():
            if analyse_only and (name, kind) not in done:
                continue
            if (name, kind) in done:
                r = done[(name, kind)]
                perf_rows.append(r["row"])
                tune_log[f"{name}/{kind}"] = r["tune"]
                times["tune"] += r["tune"]["seconds"]
                times["evaluate"] += r["eval_seconds"]
                if bench_in:
                    perf_in_rows.append(r.get("row_in") or _evaluate_in(
                        os.path.join(out, "runs", f"{name}-{kind}"), bench_in, name, kind))
                continue
            t = time.time()
            run_dir = os.path.join(out, "runs", f"{name}-{kind}")
            r = tune(p, model=kind, base=base, out=run_dir, image_root=images,
                     max_steps=cfg["tune_steps"], batch_size=cfg["batch"], lr=cfg["tune_lr"])
            dt = time.time() - t
            times["tune"] += dt
            tune_log[f"{name}/{kind}"] = {"losses": r.losses, "seconds": dt,
                                          "trainable": r.trainable_parameters}
            t = time.time()
            ev = evaluate(run_dir, paths["_bench"], progress_bar=False)
            de = time.time() - t
            times["evaluate"] += de
            save_predictions(ev, run_dir)
            perf_rows.append(ev.to_performance_row(name, kind))
            line = {"dataset": name, "model": kind, "row": perf_rows[-1],
                    "tune": tune_log[f"{name}/{kind}"], "eval_seconds": de}
            if bench_in:
                t = time.time()
                perf_in_rows.append(_evaluate_in(run_dir, bench_in, name, kind))
                line["row_in"] = perf_in_rows[-1]
                times["evaluate_in"] = times.get("evaluate_in", 0.0) + time.time() - t
            with open(rows_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
            log(f"{kind:12} {name:20} loss {r.losses[0]:.2f} -> {r.losses[-1]:.2f}  "
                f"benchmark {ev.overall:5.1f} %  (tune {dt:.0f} s, eval {de:.0f} s)")
    import polars as pl

    perf = pl.DataFrame(perf_rows)
    perf_csv = os.path.join(res_dir, "performance.csv")
    perf.write_csv(perf_csv)

    # 6. analysis through the CLI
    t = time.time()
    corr = _correlate(reports, perf_csv, cfg["bootstrap"], res_dir, "correlation",
                      "--out", os.path.join(res_dir, "fig5.html"),
                      "--title", "mini §5: Pearson r, indicators x benchmark dimensions")
    icc = vlitq("icc", perf_csv, "--table", os.path.join(res_dir, "icc.csv"),
                check=len(cfg["kinds"]) > 1) if len(cfg["kinds"]) > 1 else "(one model)\n"
    with open(os.path.join(res_dir, "icc.md"), "w", encoding="utf-8") as fh:
        fh.write(icc.split("table written")[0])
    from vlitq.validate.stats import indicator_table

    ind = indicator_table(reports)
    ind.write_csv(os.path.join(res_dir, "indicators.csv"))
    times["analysis"] = time.time() - t
    times["total"] = time.time() - t_all
    prev_file = os.path.join(res_dir, "timings.json")
    if resume and os.path.isfile(prev_file):  # steps reused from the earlier run keep its times
        with open(prev_file, encoding="utf-8") as fh:
            prev = json.load(fh).get("times_s", {})
        for k in ("data", "encoder", "score+filter"):
            if prev.get(k) and times.get(k, 0) < 1:
                times[k] = prev[k]
        times["total"] = max(times["total"], prev.get("total", 0))
    paired = qc_vs_worst(out, cfg["kinds"], paths["_bench"])
    in_dist = None
    if bench_in and perf_in_rows:
        perf_in = pl.DataFrame(perf_in_rows)
        perf_in_csv = os.path.join(res_dir, "performance_in_distribution.csv")
        perf_in.write_csv(perf_in_csv)
        _correlate(reports, perf_in_csv, cfg["bootstrap"], res_dir, "correlation_in_distribution")
        in_dist = {"questions_per_dimension": cfg["per_dimension_in"],
                   "qc_vs_worst": qc_vs_worst(out, cfg["kinds"], bench_in,
                                              file="predictions_in_distribution.csv"),
                   "performance": perf_in_rows}
    summary = {"config": cfg, "times_s": {k: round(v, 1) for k, v in times.items()},
               "qc_vs_worst": paired, "in_distribution": in_dist,
               "quality_control": check, "worst": mdata.WORST,
               "tune": tune_log, "datasets": {k: mdata.VARIANTS.get(
                   k, "vlitq filter of the worst set's pool: the n best matched samples")
                   for k in datasets}}
    with open(os.path.join(res_dir, "timings.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    write_summary(res_dir, perf, ind, corr, icc, summary)
    log(f"total {times['total']:.0f} s; results in {res_dir}")
    return {"perf": perf, "indicators": ind, "summary": summary, "results": res_dir,
            "correlation": corr, "icc": icc}


def _correlate(reports, perf_csv: str, bootstrap: int, res_dir: str, stem: str,
               *extra: str) -> str:
    """`vlitq correlate` of the reports against one performance table: `<stem>.csv` and the
    printed table as `<stem>.md` under res_dir; returns what the CLI printed."""
    out = vlitq("correlate", reports, perf_csv, "--bootstrap", str(bootstrap),
                "--table", os.path.join(res_dir, stem + ".csv"), *extra)
    with open(os.path.join(res_dir, stem + ".md"), "w", encoding="utf-8") as fh:
        fh.write(out.split("table written")[0])
    return out


def save_predictions(ev, run_dir: str, file: str = "predictions.csv") -> str:
    """``<run_dir>/<file>``: each benchmark question's answer, prediction, correct."""
    path = os.path.join(run_dir, file)
    ev.predictions.select("question_id", "dimension", "answer", "prediction",
                          "correct").write_csv(path)
    return path


def _evaluate_in(run_dir: str, bench_in: str, name: str, kind: str) -> dict:
    """The tuned model of ``run_dir`` on the in-distribution benchmark: its performance row
    (predictions in ``predictions_in_distribution.csv``)."""
    from vlitq.validate.evaluate import evaluate

    ev = evaluate(run_dir, bench_in, progress_bar=False)
    save_predictions(ev, run_dir, "predictions_in_distribution.csv")
    return ev.to_performance_row(name, kind)


def qc_vs_worst(out: str, kinds, bench: str, file: str = "predictions.csv") -> dict:
    """Per model, the quality-controlled set against the worst one on the same benchmark
    questions: how many each gets right that the other gets wrong, and the exact two-sided
    McNemar p (binomial test on those discordant questions) — whether a difference in accuracy
    is more than the luck of 5 × ``per_dimension`` questions."""
    import polars as pl
    from scipy.stats import binomtest

    res = {}
    for kind in kinds:
        preds = {}
        for name in ("quality_controlled", mdata.WORST):
            run_dir = os.path.join(out, "runs", f"{name}-{kind}")
            f = os.path.join(run_dir, file)
            if not os.path.isfile(f) and os.path.isfile(os.path.join(run_dir, "connector.pt")):
                from vlitq.validate.evaluate import evaluate  # a run from before the file

                save_predictions(evaluate(run_dir, bench, progress_bar=False), run_dir, file)
            if os.path.isfile(f):
                preds[name] = pl.read_csv(f).select("question_id", "correct")
        if len(preds) < 2:
            continue
        j = preds["quality_controlled"].join(preds[mdata.WORST], on="question_id",
                                             suffix="_worst")
        b = int((j["correct"] & ~j["correct_worst"]).sum())
        c = int((~j["correct"] & j["correct_worst"]).sum())
        res[kind] = {"questions": j.height, "qc_right_worst_wrong": b,
                     "qc_wrong_worst_right": c,
                     "p_mcnemar": float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0}
    return res


def _mean_pivot(perf):
    """perf with a per-row "mean" over the dimensions, the dataset x model pivot of that mean
    with a "mean over models" column, and the model names."""
    import polars as pl

    dims = [c for c in perf.columns if c not in ("dataset", "model")]
    perf = perf.with_columns(pl.mean_horizontal(dims).alias("mean"))
    pivot = perf.pivot(on="model", index="dataset", values="mean", aggregate_function="first")
    models = [c for c in pivot.columns if c != "dataset"]
    return perf, pivot.with_columns(pl.mean_horizontal(models).alias("mean over models")), models


def _qc_lines(pivot, models, worst, paired) -> list[str]:
    """Summary lines: quality_controlled vs the worst set per model (mean accuracy), how many
    models it beats, and the paired McNemar test per model."""
    lines, wins = [], []
    for m in models:
        row = {r["dataset"]: r[m] for r in pivot.iter_rows(named=True)}
        if "quality_controlled" in row and worst in row:
            a, b = row["quality_controlled"], row[worst]
            wins.append(a > b)
            lines.append(f"- {m}: quality_controlled {a:.1f} % vs {worst} "
                         f"{b:.1f} % ({'beats' if a > b else 'does not beat'} it)")
    if wins:
        lines.append(f"- the quality-controlled set beats the worst set for {sum(wins)} of "
                     f"{len(wins)} model(s)")
    for m, t in (paired or {}).items():
        lines.append(f"- {m}, paired over {t['questions']} questions: quality_controlled "
                     f"right where {worst} is wrong {t['qc_right_worst_wrong']}, "
                     f"the reverse {t['qc_wrong_worst_right']} (exact McNemar p "
                     f"{t['p_mcnemar']:.3f})")
    return lines


def write_summary(res_dir, perf, ind, corr, icc, summary) -> None:
    import polars as pl

    from vlitq.validate.plots import to_markdown

    perf, pivot, models = _mean_pivot(perf)
    try:
        ct = pl.read_csv(os.path.join(res_dir, "correlation.csv"))
        cells = ct.with_columns(pl.when(pl.col("r").is_null()).then(pl.lit("n/a")).otherwise(
            pl.format("{} (p {}){}", pl.col("r").round(2), pl.col("p").round(3),
                      pl.col("stars").fill_null(""))).alias("cell"))
        rmat = to_markdown(cells.pivot(on="benchmark", index="indicator", values="cell",
                                       aggregate_function="first"))
    except (OSError, pl.exceptions.PolarsError) as exc:
        rmat = f"(no correlation table: {exc})"
    lines = ["# mini §5 results", "", "## Datasets", ""]
    lines += [f"- `{k}`: {v}" for k, v in summary["datasets"].items()]
    qc = summary.get("quality_control") or {}
    if qc:
        per = ", ".join(f"{t} {a:.3f}" for t, a in qc["matching_auroc_per_task"].items()
                        if a is not None)
        lines += ["", "## Encoder and quality control", "",
                  f"- `matching` AUROC, correct vs mismatched responses in the "
                  f"{qc['pool_n']}-sample pool: {qc['matching_auroc']:.3f} (per task: {per})",
                  f"- correct responses: pool {qc['pool_correct_share']:.1%}, "
                  f"`quality_controlled` {qc.get('qc_correct_share', float('nan')):.1%} "
                  f"(tasks kept: {qc.get('qc_tasks')})"]
        lines += _qc_lines(pivot, models, summary.get("worst"), summary.get("qc_vs_worst"))
    ind_sum = summary.get("in_distribution")
    if ind_sum:
        _, piv, ms = _mean_pivot(pl.DataFrame(ind_sum["performance"]))
        lines += ["", "## In-distribution benchmark (in the design since 2026-12-02, fresh seeds)",
                  "", f"{5 * ind_sum['questions_per_dimension']} questions, the same dimensions, "
                  "images drawn like the datasets' (easy-vqa train shapes in new scenes; "
                  "`data.write_in_distribution_benchmark`). Claim fixed before its first run: "
                  f"quality_controlled beats {summary['worst']} for at least 2 of 3 models. "
                  "Mean accuracy (%) over the dimensions:", "", to_markdown(piv), ""]
        lines += _qc_lines(piv, ms, summary.get("worst"), ind_sum["qc_vs_worst"])
        lines += ["", "Per-dimension table: `performance_in_distribution.csv`; Pearson r: "
                  "`correlation_in_distribution.md`."]
    lines += ["", "## Benchmark accuracy (%) per dataset and model (Table 3)", "",
              to_markdown(perf.sort("model", "dataset")), "",
              "Mean over the dimensions, per dataset and model:", "", to_markdown(pivot), "",
              "## r (p) per indicator and dimension, mean over models", "", rmat, "",
              "## Indicators per dataset", "", to_markdown(ind), "",
              "## Pearson r of indicators vs benchmark dimensions, mean over models "
              "(Table 15 / Figure 5)", "", corr.split("table written")[0].split(
                  "heatmap written")[0], "", "## ICC across models (Table 4)", "", icc, "",
              "## Time (s)", "", "```", json.dumps(summary["times_s"], indent=1), "```", ""]
    with open(os.path.join(res_dir, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="mini-paper-run")
    ap.add_argument("--fast", action="store_true", help="CI size: 2 datasets, 1 model")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--analyse-only", action="store_true",
                    help="with the finished runs under --out only: the tables, no new tuning")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the data, encoder, reports and finished runs under --out")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a size, e.g. --set tune_steps=100 (JSON values)")
    args = ap.parse_args(argv)
    cfg = dict(FAST if args.fast else FULL)
    for s in args.sets:
        k, v = s.split("=", 1)
        if k not in cfg:
            ap.error(f"unknown setting {k!r}; known: {', '.join(cfg)}")
        cfg[k] = json.loads(v) if not isinstance(cfg[k], str) else v
    run(args.out, cfg, args.threads, args.resume, args.analyse_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
