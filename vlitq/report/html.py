"""One self-contained HTML file for a :class:`~vlitq.report.Report`.

The page holds the indicator table in the layout of the paper's Table 4, the per-task
breakdown with a task-share chart, a histogram per numeric per-sample score, the error
summary, the models / parameters / versions / timings, warnings, and a drill-down of the
worst and best samples of each scorer with their text and image thumbnails (when the dataset
is given). plotly.js is inlined (about 4.8 MB), so the file opens with no network; without
plotly installed the page keeps every table and leaves the plots out.

Dataset text is untrusted: every string is HTML-escaped, figure data is embedded as JSON that
cannot close its ``<script>`` block, and images become ``data:`` URIs of thumbnails re-encoded
here (never the original bytes or URI).
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import logging
import math
from typing import Any

import polars as pl

from vlitq.report._common import (
    PAPER_NAMES,
    Figures,
    arrow,
    details_text,
    directions,
    error_counts_by_cause,
    esc,
    fmt,
    html_table,
    indicator_rows,
    is_missing,
    label,
    numeric_score_columns,
    page,
    plot_text,
    resolve_plots,
    scorer_names,
    task_table,
)

logger = logging.getLogger("vlitq")

_PALETTE = "#2f6fde"


def render_html(report, *, dataset=None, title: str | None = None, plots: bool | None = None,
                plotlyjs: str = "inline", n_examples: int = 5, thumb_size: int = 128,
                max_images: int = 4, max_text_chars: int = 1500, max_error_rows: int = 50,
                max_tasks_plotted: int = 40, max_histograms: int = 36) -> str:
    """Render ``report`` as one self-contained HTML document.

    Parameters
    ----------
    report : vlitq.Report
    dataset : vlitq.Dataset, optional
        The scored dataset; gives the drill-down its text and image thumbnails (the report
        holds scores only). Without it the drill-down lists sample ids and scores.
    title : str, optional
        Page title (default: ``info["name"]`` or "vlitq report").
    plots : bool, optional
        Draw plotly figures; default: when plotly is installed. ``True`` without plotly raises
        an error naming the extra to install.
    plotlyjs : {"inline", "cdn", "none"}
        How the page gets plotly.js: inlined (self-contained, the default), from the plotly CDN
        (a small file that needs the network) or not at all (for pages that load it already).
    n_examples : int
        Worst and best samples shown per scorer.
    thumb_size : int
        Longest side of the image thumbnails, in pixels.
    max_images : int
        Thumbnails shown per sample.
    max_text_chars : int
        Instruction/response text is cut after this many characters.
    max_error_rows : int
        Error rows listed (the counts cover all).
    max_tasks_plotted : int
        Tasks in the share chart (the largest; the table lists all).
    max_histograms : int
        Distribution plots at most (scorers' main columns first).

    Returns
    -------
    str

    Examples
    --------
    >>> import polars as pl
    >>> from vlitq.report import Report
    >>> r = Report(samples=pl.DataFrame({"sample_id": ["a"], "x": [1.0]}))
    >>> page = render_html(r, plots=False)
    >>> page.startswith("<!DOCTYPE html>"), "vlitq report" in page
    (True, True)
    """
    draw = resolve_plots(plots, plotlyjs)
    figs = Figures(draw)
    info = report.info or {}
    title = title or info.get("name") or "vlitq report"
    n = report.samples.height
    errors = report.errors if report.errors is not None else pl.DataFrame()
    warnings = report.warnings
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (f"{n:,} samples · format {info.get('format') or 'n/a'} · "
                f"vlitq {info.get('vlitq_version') or 'n/a'} · rendered {when}")

    sections = [
        ("indicators", "Indicators", _indicators_section(report)),
        ("tasks", "Tasks", _tasks_section(report, figs, max_tasks_plotted)),
        ("distributions", "Distributions", _distributions_section(report, figs, max_histograms)),
        ("samples", "Worst & best samples",
         _drilldown_section(report, dataset, n_examples, thumb_size, max_images, max_text_chars)),
        ("errors", "Errors", _errors_section(report, figs, max_error_rows)),
        ("warnings", "Warnings", _warnings_section(warnings)),
        ("run", "Models & run", _run_section(report)),
    ]
    cards = _summary_cards(report, errors, warnings)
    body = cards + "".join(
        f'<section id="{a}"><h2>{esc(t)}</h2>{content}</section>' for a, t, content in sections)
    if not draw:
        body = ('<p class="plot-note">Plots are off (install plotly: pip install '
                '"vlitq[report]").</p>' + body)
    return page(title, subtitle, [(a, t) for a, t, _ in sections], body,
                figs.scripts(plotlyjs), "made by vlitq — dataset text is shown escaped")


# ------------------------------------------------------------------------------ sections
def _summary_cards(report, errors, warnings) -> str:
    ec = report.error_counts()
    n_err_samples = errors["sample_id"].n_unique() if errors.height else 0
    tasks = task_table(report)
    cards = [("samples", fmt(report.samples.height), ""),
             ("tasks", fmt(tasks.height) if tasks.height else "n/a", ""),
             ("samples with errors", fmt(n_err_samples), "warn" if n_err_samples else ""),
             ("error kinds", fmt(len(ec)), "warn" if ec else ""),
             ("warnings", fmt(len(warnings)), "warn" if warnings else ""),
             ("seconds", fmt(report.info.get("seconds")), "")]
    return '<div class="cards">' + "".join(
        f'<div class="card {c}"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div></div>'
        for k, v, c in cards) + "</div>"


def _indicators_section(report) -> str:
    rows = indicator_rows(report)
    if not rows:
        return '<p class="muted">No indicators were computed.</p>'
    paper = [r for r in rows if r["indicator"] in PAPER_NAMES]
    other = [r for r in rows if r["indicator"] not in PAPER_NAMES]
    header = ["principle", "indicator", "value", "", "n", "details"]
    body = []

    def emit(group: str, items: list[dict]):
        if not items:
            return
        body.append(f'<tr class="group"><td colspan="6">{esc(group)}</td></tr>')
        for r in items:
            dirn = r["direction"]
            title = {"up": "higher is better", "down": "lower is better"}.get(dirn or "", "")
            body.append(
                "<tr>"
                f"<td>{esc(r['principle'] or '')}</td>"
                f"<td><b>{esc(label(r['indicator']))}</b>"
                + (f' <span class="muted">{esc(r["indicator"])}</span>'
                   if label(r["indicator"]) != r["indicator"] else "")
                + f"</td><td class=\"num\">{esc(fmt(r['value']))}</td>"
                f'<td class="dir" title="{esc(title)}">{esc(arrow(dirn))}</td>'
                f"<td class=\"num\">{esc(fmt(r['n']))}</td>"
                f"<td class=\"muted\">{esc(details_text(r['details']))}</td></tr>"
            )

    emit("Indicators of Li et al. (Table 4)", paper)
    emit("Further checks", other)
    th = "".join(f"<th class=\"num\">{esc(h)}</th>" if h in ("value", "n") else f"<th>{esc(h)}</th>"
                 for h in header)
    return (f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            '<p class="muted">↑ higher is better, ↓ lower is better. Per-sample scorers show '
            "the mean over the samples they scored (n); shares are in percent.</p>")


def _tasks_section(report, figs: Figures, max_plotted: int) -> str:
    t = task_table(report)
    if t.is_empty():
        return '<p class="muted">The report has no task breakdown.</p>'
    out = []
    if "share" in t.columns:
        top = t.head(max_plotted)
        names = [plot_text(x if x is not None else "unlabelled") for x in top["task"].to_list()]
        shares = [None if is_missing(v) else float(v) for v in top["share"].to_list()]
        counts = top["n"].to_list() if "n" in top.columns else [None] * top.height
        more = f" (largest {max_plotted} of {t.height})" if t.height > max_plotted else ""
        out.append(figs.add(
            [{"type": "bar", "orientation": "h", "x": shares[::-1], "y": names[::-1],
              "customdata": counts[::-1], "marker": {"color": _PALETTE},
              "hovertemplate": "%{y}: %{x:.2f}% (%{customdata} samples)<extra></extra>"}],
            {"title": {"text": f"Share of samples per task (%){more}"},
             "margin": {"l": 180, "r": 16, "t": 36, "b": 40},
             "yaxis": {"automargin": True, "type": "category"},
             "xaxis": {"title": {"text": "% of samples"}}},
            height=min(900, 80 + 22 * top.height)))
    cols = t.columns
    numeric = [i for i, c in enumerate(cols) if c != "task" and t.schema[c].is_numeric()]
    rows = [[esc(fmt(v)) if c != "task" else esc(v if v is not None else "unlabelled")
             for c, v in zip(cols, r)] for r in t.iter_rows()]
    out.append(f'<div class="scroll">{html_table(cols, rows, numeric)}</div>')
    return "".join(out)


def _distributions_section(report, figs: Figures, max_plots: int) -> str:
    import numpy as np

    samples = report.samples
    cols = numeric_score_columns(samples)
    cats = _categorical_columns(report)
    if not cols and not cats:
        return '<p class="muted">No per-sample scores.</p>'
    main = set(scorer_names(report))
    cols = sorted(cols, key=lambda c: (c not in main, cols.index(c)))
    dirs = directions(report)
    stats_rows, plots = [], []
    for c in cols:
        vals = samples[c].cast(pl.Float64).drop_nulls().to_numpy()
        vals = vals[np.isfinite(vals)]
        if len(vals):
            q = np.quantile(vals, [0.25, 0.5, 0.75])
            stats_rows.append([esc(c), esc(arrow(dirs.get(c))), esc(fmt(len(vals))),
                               esc(fmt(float(vals.mean()))),
                               esc(fmt(float(vals.std(ddof=1))) if len(vals) > 1 else "n/a"),
                               esc(fmt(float(vals.min()))), esc(fmt(float(q[0]))),
                               esc(fmt(float(q[1]))), esc(fmt(float(q[2]))),
                               esc(fmt(float(vals.max())))])
        else:
            stats_rows.append([esc(c), esc(arrow(dirs.get(c))), "0"] + ["n/a"] * 7)
        if len(vals) and len(plots) < max_plots:
            plots.append(_histogram(figs, c, vals, dirs.get(c)))
    cat_tables = []
    for c in cats:
        counts = (samples.select(pl.col(c).cast(pl.Utf8)).drop_nulls().group_by(c).len()
                  .sort(["len", c], descending=[True, False]))
        top = counts.head(_MAX_CATEGORIES)
        labels = top[c].to_list()
        if len(plots) < max_plots:
            plots.append(figs.add(
                [{"type": "bar", "x": [plot_text(v) for v in labels], "y": top["len"].to_list(),
                  "marker": {"color": _PALETTE},
                  "hovertemplate": "%{x}: %{y} samples<extra></extra>"}],
                {"title": {"text": plot_text(f"{c} {arrow(dirs.get(c))}".strip())},
                 "xaxis": {"type": "category", "automargin": True},
                 "yaxis": {"title": {"text": "samples"}}}, height=260, modebar=False))
        n = max(1, int(counts["len"].sum()))
        rows = [[esc(v), esc(fmt(k)), esc(fmt(100.0 * k / n))]
                for v, k in zip(labels, top["len"].to_list())]
        if counts.height > _MAX_CATEGORIES:
            rows.append([esc(f"… {counts.height - _MAX_CATEGORIES:,} more values"), "", ""])
        table = html_table(["value", "samples", "%"], rows, (1, 2))
        cat_tables.append(f"<div><h3>{esc(c)}</h3>{table}</div>")
    out = []
    if any(plots):
        out.append(f'<div class="grid">{"".join(plots)}</div>')
    if stats_rows:
        out.append("<h3>Summary statistics</h3>")
        out.append(html_table(["column", "", "n", "mean", "std", "min", "p25", "median", "p75",
                               "max"], stats_rows, range(2, 10)))
    if cat_tables:
        out.append(f'<div class="grid">{"".join(cat_tables)}</div>')
    return "".join(out)


_MAX_CATEGORIES = 20


def _categorical_columns(report) -> list[str]:
    """Scorers' main columns holding labels or yes/no (language, instruction type, image
    decodes): they get a bar chart of their values instead of a histogram."""
    samples = report.samples
    out = []
    for c in scorer_names(report):
        dt = samples.schema[c]
        if dt == pl.Boolean or dt == pl.Utf8 or dt == pl.Categorical:
            out.append(c)
    return out


def _histogram(figs: Figures, column: str, arr, direction: str | None) -> str:
    import numpy as np

    uniq = np.unique(arr)
    if np.all(np.mod(uniq, 1) == 0) and uniq[-1] - uniq[0] <= 25:
        counts = [int((arr == u).sum()) for u in uniq]
        x, width = [float(u) for u in uniq], [0.8] * len(uniq)
        hover = "%{x}: %{y} samples<extra></extra>"
        custom = None
    else:
        bins = int(min(40, max(10, math.sqrt(len(arr)))))
        counts_arr, edges = np.histogram(arr, bins=bins)
        counts = counts_arr.tolist()
        x = ((edges[:-1] + edges[1:]) / 2).tolist()
        width = (edges[1:] - edges[:-1]).tolist()
        custom = [[float(a), float(b)] for a, b in zip(edges[:-1], edges[1:])]
        hover = "%{customdata[0]:.4g} – %{customdata[1]:.4g}: %{y} samples<extra></extra>"
    trace = {"type": "bar", "x": x, "y": counts, "width": width, "hovertemplate": hover,
             "marker": {"color": _PALETTE, "line": {"width": 0}}}
    if custom is not None:
        trace["customdata"] = custom
    t = f"{column} {arrow(direction)}".strip()
    return figs.add([trace], {"title": {"text": plot_text(t)}, "bargap": 0.05,
                              "xaxis": {"title": {"text": plot_text(column)}},
                              "yaxis": {"title": {"text": "samples"}}}, height=260,
                     modebar=False)


def _errors_section(report, figs: Figures, max_rows: int) -> str:
    errors = report.errors
    ec = report.error_counts()
    if not ec:
        return '<p class="good">No errors: every sample was read and scored.</p>'
    total = sum(ec.values())
    out = [html_table(["scorer", "defects (sample)", "% of samples",
                       "not evaluated (component)"],
                      [[esc(k), esc(fmt(d)),
                        esc(fmt(100.0 * d / max(1, report.samples.height))), esc(fmt(m))]
                       for k, d, m in error_counts_by_cause(report)], (1, 2, 3))]
    # the commonest reasons per scorer: most errors repeat one cause
    common = (errors.group_by(["scorer", "reason"]).len()
              .sort(["len", "scorer"], descending=[True, False]).head(15))
    out.append("<h3>Most common reasons</h3>")
    out.append(html_table(["scorer", "reason", "count"],
                          [[esc(s), f'<span class="text">{esc(_cut(r, 400))}</span>',
                            esc(fmt(c))] for s, r, c in common.iter_rows()], (2,)))
    shown = errors.head(max_rows)
    out.append(f"<h3>First {shown.height} of {total:,} errors</h3>")
    rows = []
    for r in shown.iter_rows(named=True):
        rows.append([esc(r.get("sample_id")), esc(r.get("scorer")), esc(r.get("cause") or ""),
                     f'<span class="text">{esc(_cut(r.get("reason"), 600))}</span>',
                     esc(r.get("file") or ""), esc(fmt(r.get("index")) if r.get("index") is not None
                                                   else "")])
    out.append(f'<div class="scroll">{html_table(["sample", "scorer", "cause", "reason", "file", "line / index"], rows, (5,))}</div>')
    return "".join(out)


def _warnings_section(warnings: list[str]) -> str:
    if not warnings:
        return '<p class="good">No warnings.</p>'
    return '<ul class="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"


def _run_section(report) -> str:
    info = report.info or {}
    out = []
    top_keys = ["vlitq_version", "n_samples", "format", "image_root", "task_column", "seconds",
                "cache"]
    rows = [[esc(k), esc(fmt(info.get(k)) if not isinstance(info.get(k), str) else info[k])]
            for k in top_keys if k in info]
    stats = info.get("cache_stats")
    if stats:
        rows.append([esc("cache_stats"), esc(json.dumps(stats, default=str, sort_keys=True))])
    if rows:
        out.append(html_table(["", "value"], rows))
    comps = info.get("components") or {}
    if comps:
        out.append("<h3>Components</h3>")
        crow = []
        for name, e in comps.items():
            e = e if isinstance(e, dict) else {"value": e}
            params = e.get("params")
            rest = {k: v for k, v in e.items()
                    if k not in ("kind", "class", "params", "model", "seconds")}
            detail = ""
            if rest:
                detail = f'<pre class="json">{esc(json.dumps(rest, indent=1, default=str))}</pre>'
            crow.append([f"<b>{esc(name)}</b>", esc(e.get("kind") or ""), esc(e.get("class") or ""),
                         esc(e.get("model") or ""),
                         f'<span class="text">{esc(json.dumps(params, default=str, sort_keys=True)) if params else ""}</span>'
                         + detail,
                         esc(fmt(e.get("seconds")))])
        out.append(html_table(["name", "kind", "class", "model", "parameters", "seconds"], crow,
                              (5,)))
    extra = {k: v for k, v in info.items()
             if k not in set(top_keys) | {"components", "cache_stats", "warnings"}}
    if extra:
        out.append("<h3>Other information</h3>")
        out.append(f'<pre class="json">{esc(json.dumps(extra, indent=2, default=str))}</pre>')
    return "".join(out) or '<p class="muted">No run information.</p>'


# ------------------------------------------------------------------------------ drill-down
def _drilldown_section(report, dataset, k: int, thumb: int, max_images: int,
                       max_chars: int) -> str:
    samples = report.samples
    names = [c for c in scorer_names(report)
             if samples.schema[c].is_numeric() or samples.schema[c] == pl.Boolean]
    if not names or k <= 0:
        return '<p class="muted">No per-sample scores to rank.</p>'
    dirs = directions(report)
    picks: dict[str, tuple[list[dict], list[dict]]] = {}
    wanted: set[str] = set()
    for c in names:
        cols = ["sample_id", c] + [x for x in ("task",) if x in samples.columns]
        s = (samples.select(cols).with_columns(pl.col(c).cast(pl.Float64).alias("_v"))
             .filter(pl.col("_v").is_not_null() & pl.col("_v").is_not_nan()))
        if s.is_empty():
            continue
        # bottom/top k without sorting everything; ties broken by sample id
        low = s.bottom_k(k, by=["_v", "sample_id"]).sort(["_v", "sample_id"]).to_dicts()
        high = (s.top_k(k, by=["_v", "sample_id"], reverse=[False, True])
                .sort(["_v", "sample_id"], descending=[True, False]).to_dicts())
        if dirs.get(c) == "down":
            low, high = high, low
        picks[c] = (low, high)
        wanted.update(r["sample_id"] for r in low + high)
    if not picks:
        return '<p class="muted">No per-sample scores to rank.</p>'
    content = _dataset_rows(dataset, wanted)
    thumbs = _Thumbs(dataset, thumb)
    out = []
    if dataset is None:
        out.append('<p class="muted">Pass the dataset (report.to_html(path, dataset=ds) or '
                   "vlitq report --data PATH) to see the text and images of these samples.</p>")
    for i, (c, (low, high)) in enumerate(picks.items()):
        d = dirs.get(c)
        worst_t, best_t = (("worst", "best") if d in ("up", "down") else ("lowest", "highest"))
        cols = []
        for head, rows in ((worst_t, low), (best_t, high)):
            cards = "".join(_sample_card(r, c, content.get(r["sample_id"]), thumbs, max_images,
                                         max_chars) for r in rows)
            cols.append(f"<div><h3>{esc(head)} {len(rows)}</h3>{cards}</div>")
        summary = f"{label(c)} {arrow(d)}".strip()
        out.append(f'<details class="drill"{" open" if i == 0 else ""}><summary>{esc(summary)}'
                   f'</summary><div class="cols">{"".join(cols)}</div></details>')
    return "".join(out)


def _dataset_rows(dataset, ids: set[str]) -> dict[str, dict]:
    if dataset is None or not ids:
        return {}
    frame = dataset.frame
    keep = [c for c in ("sample_id", "images", "turns", "task", "source", "read_error")
            if c in frame.columns]
    sub = frame.select(keep).filter(pl.col("sample_id").is_in(pl.Series(list(ids), dtype=pl.Utf8)
                                                               .implode()))
    return {r["sample_id"]: r for r in sub.iter_rows(named=True)}


def _sample_card(row: dict, column: str, data: dict | None, thumbs: _Thumbs, max_images: int,
                 max_chars: int) -> str:
    head = [f'<span class="sid">{esc(row["sample_id"])}</span>',
            f'<span class="score">{esc(column)} = {esc(fmt(row[column]))}</span>']
    if row.get("task") is not None:
        head.append(f'<span class="muted">task: {esc(row["task"])}</span>')
    parts = [f'<div class="head">{"".join(head)}</div>']
    if data is not None:
        src = data.get("source") or {}
        if src.get("file"):
            where = f"{src['file']}" + (f":{src['index']}" if src.get("index") is not None else "")
            parts.append(f'<div class="muted where">{esc(where)}</div>')
        imgs = data.get("images") or []
        if imgs:
            tiles = [thumbs.html(ref) for ref in imgs[:max_images]]
            if len(imgs) > max_images:
                tiles.append(f'<span class="muted">+{len(imgs) - max_images} more</span>')
            parts.append(f'<div class="thumbs">{"".join(tiles)}</div>')
        for j, t in enumerate(data.get("turns") or [], start=1):
            for role, key in (("Q", "instruction"), ("A", "response")):
                text = (t or {}).get(key)
                parts.append(f'<div class="turn"><span class="role">{role}{j}</span>'
                             f'<span class="text">{esc(_cut(text, max_chars))}</span></div>')
        if data.get("read_error"):
            parts.append(f'<div class="bad">read error: {esc(data["read_error"])}</div>')
    return f'<div class="sample">{"".join(parts)}</div>'


class _Thumbs:
    """Decodes, downscales and re-encodes images as JPEG ``data:`` URIs (memoised)."""

    def __init__(self, dataset, size: int):
        self.root = getattr(dataset, "image_root", None)
        self.allow = getattr(dataset, "allow_outside_root", False)
        self.size = max(8, int(size))
        self.memo: dict[str, str] = {}

    def html(self, ref: Any) -> str:
        key = str(ref)
        if key not in self.memo:
            self.memo[key] = self._make(ref)
        return self.memo[key]

    def _make(self, ref: Any) -> str:
        from vlitq.data.images import ImageError, is_inline, open_image

        shown = "inline image" if isinstance(ref, str) and is_inline(ref) else str(ref)
        try:
            img = open_image(ref, self.root, self.allow, mode="RGB")
            img.thumbnail((self.size, self.size))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=80)
            uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        except ImageError as exc:
            return f'<span class="broken" title="{esc(shown)}">image unavailable: {esc(exc)}</span>'
        except Exception as exc:  # never let one image sink the report
            logger.debug("thumbnail of %r failed", shown, exc_info=True)
            return (f'<span class="broken" title="{esc(shown)}">image unavailable: '
                    f"{esc(type(exc).__name__)}</span>")
        return f'<img src="{esc(uri)}" alt="{esc(_cut(shown, 200))}" title="{esc(_cut(shown, 200))}">'


def _cut(text: Any, limit: int) -> str:
    if text is None:
        return ""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit:,} more characters]"


__all__ = ["render_html"]
