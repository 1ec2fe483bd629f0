"""``vlitq correlate``, ``vlitq icc``, ``vlitq evaluate`` and ``vlitq tune``.

Picked up by :mod:`vlitq.cli` through :data:`commands`. Heavy imports happen inside the commands.
"""
from __future__ import annotations

import json

import click


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from None


@click.command("correlate")
@click.argument("indicators", type=click.Path(exists=True, dir_okay=False))
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
def correlate_cmd(indicators, performance, out, method, table_path, bootstrap, seed, title):
    """Correlate dataset INDICATORS with benchmark PERFORMANCE over datasets.

    INDICATORS: one row per dataset, a `dataset` column and one column per indicator.
    PERFORMANCE: one row per dataset and model (`dataset`, `model`, one column per benchmark
    dimension; averaged over models) or one row per dataset. Prints the table as Markdown.
    """
    from vlitq.validate.plots import to_markdown, write_heatmap, write_table
    from vlitq.validate.stats import correlate

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


commands = [correlate_cmd, icc_cmd]
