"""``vlitq report``: render saved reports (``vlitq score --out DIR``) as HTML, Markdown or
JSON, or compare several of them."""
from __future__ import annotations

import os

import click

_KINDS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in _KINDS:
        raise click.BadParameter(f"{path!r}: the extension must be .html, .md or .json",
                                 param_hint="--out")
    return _KINDS[ext]


@click.command("report")
@click.argument("report_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Output file: .html, .md or .json by extension.")
@click.option("--compare", "do_compare", is_flag=True,
              help="Compare the reports side by side (deltas against the first).")
@click.option("--name", "names", multiple=True,
              help="Name of each report in a comparison (repeat, in order; default: folder names).")
@click.option("--data", "data", multiple=True, type=click.Path(exists=True),
              help="The scored dataset, to show the text and image thumbnails of the worst and "
                   "best samples. With --compare: the dataset of each report (repeat, in "
                   "order), to compare at equal size (subsampled to the smallest, or --m).")
@click.option("--m", "m", default=None, type=int,
              help="With --compare and --data: subsample size (default: the smallest dataset).")
@click.option("--seeds", default=5, show_default=True,
              help="With --compare and --data: subsamples per dataset.")
@click.option("--format", "fmt", default=None, help="Format of --data (default: detected).")
@click.option("--image-root", default=None, type=click.Path(),
              help="Folder of the relative images of --data.")
@click.option("--allow-outside-root", is_flag=True,
              help="Allow image paths of --data that resolve outside the image root.")
@click.option("--read-option", "read_opts", multiple=True, metavar="KEY=VALUE",
              help="Format option for reading --data (as for vlitq score).")
@click.option("--title", default=None, help="Title of the page.")
@click.option("--examples", default=5, show_default=True,
              help="Worst and best samples shown per scorer (HTML).")
@click.option("--plotlyjs", default="inline", show_default=True,
              type=click.Choice(["inline", "cdn", "none"]),
              help="How the HTML gets plotly.js: inlined (works offline), from the CDN, or not.")
def report_cmd(report_dirs, out, do_compare, names, data, m, seeds, fmt, image_root,
               allow_outside_root, read_opts, title, examples, plotlyjs):
    """Render the report saved in REPORT_DIR, or compare several with --compare."""
    from vlitq.report.comparison import compare
    from vlitq.report.report import Report

    kind = _kind(out)
    if len(report_dirs) > 1 and not do_compare:
        raise click.UsageError("several report folders given: add --compare to compare them")
    if names and not do_compare:
        raise click.UsageError("--name is for comparisons (--compare)")
    if data and do_compare and len(data) != len(report_dirs):
        raise click.UsageError(f"--compare with --data needs one --data per report "
                               f"({len(report_dirs)}), got {len(data)}")
    if len(data) > 1 and not do_compare:
        raise click.UsageError("several --data are for comparisons (--compare)")
    try:
        reports = [Report.load(d) for d in report_dirs]
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load the report: {exc}") from None
    if do_compare:
        try:
            datasets = None
            if data:
                from vlitq.cli import parse_read_options
                from vlitq.data.formats import read

                datasets = [read(d, format=fmt, image_root=image_root,
                                 allow_outside_root=allow_outside_root,
                                 **parse_read_options(read_opts)) for d in data]
            comp = compare(reports, names=list(names) or
                           [os.path.basename(os.path.normpath(d)) for d in report_dirs],
                           datasets=datasets, m=m, seeds=seeds)
        except (ValueError, OSError, TypeError) as exc:
            raise click.ClickException(str(exc)) from None
        if kind == "html":
            comp.to_html(out, title=title, plotlyjs=plotlyjs)
        elif kind == "md":
            comp.to_markdown(out)
        else:
            comp.to_json(out)
        click.echo(f"comparison of {len(reports)} reports written to {out}")
        return
    rep = reports[0]
    if kind == "json":
        rep.to_json(out)
    elif kind == "md":
        rep.to_markdown(out, title=title)
    else:
        dataset = None
        if data:
            from vlitq.cli import parse_read_options
            from vlitq.data.formats import FormatError, read

            try:
                dataset = read(data[0], format=fmt, image_root=image_root,
                               allow_outside_root=allow_outside_root,
                               **parse_read_options(read_opts))
            except (FormatError, ValueError, OSError, TypeError) as exc:
                raise click.ClickException(f"cannot read --data: {exc}") from None
        rep.to_html(out, dataset=dataset, title=title, n_examples=examples, plotlyjs=plotlyjs)
    click.echo(f"report written to {out}")


commands = [report_cmd]
