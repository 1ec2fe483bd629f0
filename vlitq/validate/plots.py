"""Figure-5-style heatmap of indicator-performance correlations (plotly, loaded on first use)."""
from __future__ import annotations

import math
import os

import polars as pl

from vlitq._dependencies import import_optional


def _fmt(v: float, digits: int) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def correlation_heatmap(table: pl.DataFrame, *, title: str | None = None, digits: int = 2,
                        method: str = "pearson"):
    """A plotly heatmap of a :func:`~vlitq.validate.correlate` table.

    Rows are indicators, columns benchmark dimensions (both in the table's order); the colour is
    r on a diverging scale fixed to [-1, 1] (so figures of different runs compare), and each cell
    shows r followed by its significance stars. Hovering shows p and n.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = import_optional("plotly.graph_objects", purpose="correlation heatmaps")
    inds = list(dict.fromkeys(table["indicator"].to_list()))
    dims = list(dict.fromkeys(table["benchmark"].to_list()))
    cell = {(r["indicator"], r["benchmark"]): r for r in table.iter_rows(named=True)}
    z, text, hover = [], [], []
    for i in inds:
        zr, tr, hr = [], [], []
        for d in dims:
            row = cell.get((i, d))
            r = None if row is None else row["r"]
            ok = r is not None and math.isfinite(r)
            zr.append(r if ok else None)
            tr.append(f"{_fmt(r, digits)}{row['stars']}" if ok else "")
            p_txt = (_fmt(row["p"], 4) if row else "") or "n/a"
            hr.append(f"{i} × {d}<br>r = {_fmt(r, 3) or 'n/a'}<br>p = {p_txt}"
                      f"<br>n = {row['n'] if row else 0}")
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    fig = go.Figure(go.Heatmap(
        z=z, x=dims, y=inds, text=text, texttemplate="%{text}", customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", colorscale="RdBu_r", zmin=-1, zmax=1,
        zmid=0, colorbar={"title": {"text": "r"}}, xgap=1, ygap=1))
    method = {"pearson": "Pearson r", "spearman": "Spearman rho"}.get(method, method)
    fig.update_layout(
        title=title or f"Indicators vs benchmark performance ({method}; *** p<.01, ** p<.05, "
                       "* p<.1)",
        xaxis={"title": "benchmark dimension", "tickangle": -40, "side": "bottom"},
        yaxis={"title": "indicator", "autorange": "reversed"},
        width=max(520, 90 * len(dims) + 260), height=max(360, 48 * len(inds) + 220),
        template="plotly_white")
    return fig


def write_heatmap(table: pl.DataFrame, path: str | os.PathLike, **options) -> str:
    """Write the heatmap as self-contained HTML (plotly.js inlined) or an image by extension."""
    fig = correlation_heatmap(table, **options)
    path = os.fspath(path)
    if path.lower().endswith((".html", ".htm")):
        fig.write_html(path, include_plotlyjs=True, full_html=True)
    else:  # .png/.svg/.pdf need kaleido
        fig.write_image(path)
    return path


def to_markdown(table: pl.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table of any frame (floats rounded to ``digits``; smaller
    values such as tiny p-values in scientific notation).

    >>> print(to_markdown(pl.DataFrame({"a": ["x"], "r": [0.12345], "p": [0.00012]})))
    | a | r | p |
    |---|---|---|
    | x | 0.123 | 1.2e-04 |
    """
    def cell(v):
        if isinstance(v, float):
            if not math.isfinite(v):
                return ""
            return f"{v:.{digits}f}" if v == 0 or abs(v) >= 10 ** -digits else f"{v:.1e}"
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    for row in table.iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def write_table(table: pl.DataFrame, path: str | os.PathLike) -> str:
    """Write a table as CSV, Markdown (``.md``), JSON or Parquet by extension."""
    path = os.fspath(path)
    low = path.lower()
    if low.endswith(".md"):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(to_markdown(table) + "\n")
    elif low.endswith(".json"):
        table.write_json(path)
    elif low.endswith(".parquet"):
        table.write_parquet(path)
    else:
        table.write_csv(path)
    return path
