"""``vlitq correlate``, ``vlitq icc``, ``vlitq evaluate`` and ``vlitq tune``.

Picked up by :mod:`vlitq.cli` through :data:`commands`. Heavy imports happen inside the commands.
"""
from __future__ import annotations

import json

import click


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from None


@click.command("correlate")
@click.argument("indicators", type=click.Path(exists=True))
@click.argument("performance", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Heatmap file: .html (self-contained, plotly inlined), or .png/.svg (kaleido).")
@click.option("--method", default="pearson", show_default=True,
              type=click.Choice(["pearson", "spearman"]))
@click.option("--table", "table_path", default=None, type=click.Path(dir_okay=False),
              help="Write the table: .csv, .md, .json or .parquet by extension.")
@click.option("--bootstrap", default=0, show_default=True,
              help="Bootstrap resamples for a confidence interval of r (0: none).")
@click.option("--seed", default=0, show_default=True)
@click.option("--title", default=None, help="Title of the heatmap.")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH",
              help="The data of dataset NAME (repeat): the indicators are then computed at "
                   "equal size (every dataset subsampled to the smallest, or --m, over --seeds "
                   "seeds; the mean is correlated), with the components of the saved reports.")
@click.option("--m", "m", default=None, type=int, help="With --data: subsample size.")
@click.option("--seeds", default=5, show_default=True, help="With --data: seeds.")
def correlate_cmd(indicators, performance, out, method, table_path, bootstrap, seed, title,
                  data, m, seeds):
    """Correlate dataset INDICATORS with benchmark PERFORMANCE over datasets.

    INDICATORS: one row per dataset, a `dataset` column and one column per indicator; or a
    folder of saved reports (`vlitq score DATA --out reports/NAME`), one per dataset.
    PERFORMANCE: one row per dataset and model (`dataset`, `model`, one column per benchmark
    dimension; averaged over models) or one row per dataset. Prints the table as Markdown.
    """
    from vlitq.validate.plots import to_markdown, write_heatmap, write_table
    from vlitq.validate.stats import correlate

    if data:
        try:
            indicators = _equal_size_indicators(indicators, data, m, seeds)
        except (ValueError, OSError, KeyError) as exc:
            _fail(exc)
    try:
        table = correlate(indicators, performance, method=method, bootstrap=bootstrap, seed=seed)
    except (ValueError, OSError) as exc:
        _fail(exc)
    click.echo(to_markdown(table))
    if table_path:
        write_table(table, table_path)
        click.echo(f"table written to {table_path}")
    if out:
        write_heatmap(table, out, title=title, method=method)
        click.echo(f"heatmap written to {out}")


def _equal_size_indicators(indicators, data, m, seeds):
    """The indicator table at equal size (the paper's §5.1.2 protocol) for ``vlitq correlate
    --data NAME=PATH ...``: only the datasets given with --data take part (mixing sizes is
    what the protocol avoids)."""
    import os

    import polars as pl

    from vlitq.report.comparison import equal_size
    from vlitq.report.report import Report

    pairs = []
    for d in data:
        if "=" not in d:
            raise ValueError(f"--data takes NAME=PATH, got {d!r}")
        name, path = d.split("=", 1)
        pairs.append((name.strip(), path))
    report = None
    if os.path.isdir(indicators):
        subs = sorted(os.path.join(indicators, x) for x in os.listdir(indicators)
                      if os.path.isdir(os.path.join(indicators, x)))
        if subs:
            report = Report.load(subs[0])
    t = equal_size([p for _, p in pairs], [n for n, _ in pairs], m=m, seeds=seeds,
                   report=report)
    click.echo(f"equal size: m = {t['m'][0]:,} samples per dataset, {seeds} seeds", err=True)
    rows = [{"dataset": n, **{r["indicator"]: r[n] for r in t.iter_rows(named=True)}}
            for n, _ in pairs]
    return pl.DataFrame(rows)


@click.command("icc")
@click.argument("ratings", type=click.Path(exists=True, dir_okay=False))
@click.option("--form", default="all", show_default=True,
              help='"1,1", "1,k", "2,1", "2,k", "3,1", "3,k" or "all".')
@click.option("--confidence", default=0.95, show_default=True)
@click.option("--table", "table_path", default=None, type=click.Path(dir_okay=False),
              help="Write the table: .csv, .md, .json or .parquet by extension.")
def icc_cmd(ratings, form, confidence, table_path):
    """Intraclass correlation of RATINGS (CSV).

    Either a matrix (rows = targets such as benchmark dimensions, numeric columns = raters such as
    models; a text column of names is ignored), or a performance table with `dataset` and `model`
    columns, which gives ICC(3,1) and ICC(3,k) across models for each dataset.
    """
    import polars as pl

    from vlitq.validate.plots import to_markdown, write_table
    from vlitq.validate.stats import as_frame, icc, model_consistency

    try:
        frame = as_frame(ratings)
        if {"dataset", "model"} <= set(frame.columns):
            forms = ("3,1", "3,k") if form == "all" else (form,)
            table = model_consistency(frame, forms)
        else:
            res = icc(frame, form, confidence=confidence)
            table = res if isinstance(res, pl.DataFrame) else pl.DataFrame(
                {"form": [form], "icc": [res]})
    except (ValueError, OSError) as exc:
        _fail(exc)
    click.echo(to_markdown(table))
    if table_path:
        write_table(table, table_path)
        click.echo(f"table written to {table_path}")


def _parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return {"true": True, "false": False}.get(text.lower(), text)


@click.command("tune")
@click.argument("subset", type=click.Path(exists=True))
@click.option("--model", "kind", default="llava", show_default=True,
              type=click.Choice(["llava", "blip2", "openflamingo"]))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Output folder (checkpoints, final model, vlitq_tune.json).")
@click.option("--base", default=None,
              help="Hub name or folder of the model to start from (default: the paper's).")
@click.option("--image-root", default=None, type=click.Path(file_okay=False))
@click.option("--config", default=None, type=click.Path(exists=True, dir_okay=False),
              help="TOML/YAML/JSON file; its [llava] / [blip2] / [openflamingo] table "
                   "overrides the defaults.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override one hyper-parameter, e.g. --set lr=1e-5 (repeatable).")
@click.option("--lora", is_flag=True, help="LoRA on the language model (peft).")
@click.option("--resume", is_flag=True, help="Resume from the last checkpoint in --out.")
@click.option("--max-steps", default=None, type=int, help="Stop after this many steps.")
@click.option("--show-defaults", is_flag=True, help="Print the hyper-parameters and exit.")
def tune_cmd(subset, kind, out, base, image_root, config, assignments, lora, resume, max_steps,
             show_defaults):
    """Instruction-tune LLaVA, BLIP-2 or OpenFlamingo on SUBSET (a dataset file vlitq reads).

    Multi-GPU: launch with `torchrun --nproc_per_node 8 -m vlitq.cli tune ...` or
    `accelerate launch -m vlitq.cli tune ...`.
    """
    from vlitq.config import load_config
    from vlitq.validate.tune import hyperparameters, tune

    overrides = dict(load_config(config).get(kind, {}))
    for a in assignments:
        if "=" not in a:
            raise click.BadParameter(f"{a!r} is not KEY=VALUE", param_hint="--set")
        k, v = a.split("=", 1)
        overrides[k.strip()] = _parse_value(v.strip())
    if lora:
        overrides["lora"] = True
    if resume:
        overrides["resume"] = True
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    try:
        hp = hyperparameters(kind, **overrides)
        if show_defaults:
            click.echo(json.dumps(hp, indent=2, default=str))
            return
        res = tune(subset, model=kind, out=out, base=base, image_root=image_root, **overrides)
    except ValueError as exc:
        _fail(exc)
    last = f"{res.losses[-1]:.4f}" if res.losses else "n/a"
    click.echo(f"tuned {kind} on {res.n_examples} examples ({len(res.skipped)} left out); "
               f"last logged loss {last}; model saved to {res.out}")


@click.command("evaluate")
@click.argument("model")
@click.argument("benchmark", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", default=None, type=click.Choice(["llava", "blip2", "openflamingo"]),
              help="Model family (default: read from the checkpoint).")
@click.option("--python", "of_python", default=None, type=click.Path(dir_okay=False),
              help="OpenFlamingo only: the Python of the environment open_flamingo is "
                   "installed in (default: the tuning run's).")
@click.option("--image-root", default=None, type=click.Path(file_okay=False))
@click.option("--prompt", "prompts", multiple=True,
              help="Prompt template with {question} (and {options}); repeat it to measure "
                   "sensitivity to the instruction wording.")
@click.option("--normalize", default="mean", show_default=True,
              type=click.Choice(["mean", "sum"]),
              help="Rank options by mean per-token or summed log-likelihood.")
@click.option("--device", default=None)
@click.option("--limit", default=None, type=int)
@click.option("--dataset", "dataset_name", default=None,
              help="Name of the tuning subset, for --performance.")
@click.option("--model-name", default=None, help="Name of the model, for --performance.")
@click.option("--performance", default=None, type=click.Path(dir_okay=False),
              help="CSV to append this run's row (dataset, model, accuracy per dimension) to.")
@click.option("--predictions", default=None, type=click.Path(dir_okay=False),
              help="Write the per-question predictions (.parquet or .jsonl).")
@click.option("--quiet", is_flag=True)
def evaluate_cmd(model, benchmark, kind, of_python, image_root, prompts, normalize, device,
                 limit, dataset_name, model_name, performance, predictions, quiet):
    """Evaluate MODEL (a checkpoint folder or hub name) on the multiple-choice BENCHMARK by
    option likelihood; print accuracy per dimension."""
    import os

    import polars as pl

    from vlitq.validate.evaluate import evaluate

    try:
        res = evaluate(model, benchmark, kind=kind, image_root=image_root,
                       prompt=list(prompts) or None, normalize=normalize, device=device,
                       limit=limit, progress_bar=not quiet,
                       openflamingo={"python": of_python} if of_python else None)
    except (ValueError, RuntimeError) as exc:
        _fail(exc)
    click.echo(res.summary())
    if predictions:
        if predictions.endswith(".parquet"):
            res.predictions.write_parquet(predictions)
        else:
            res.predictions.write_ndjson(predictions)
    if performance:
        name = dataset_name or os.path.basename(os.path.normpath(model))
        row = pl.DataFrame([res.to_performance_row(name, model_name or res.info["kind"])])
        if os.path.exists(performance):
            row = pl.concat([pl.read_csv(performance), row], how="diagonal_relaxed")
        row.write_csv(performance)
        click.echo(f"performance row appended to {performance}")


commands = [correlate_cmd, icc_cmd, tune_cmd, evaluate_cmd]
