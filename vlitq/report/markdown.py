"""Markdown summary of a :class:`~vlitq.report.Report`, for a pull request or a dataset card.

Dataset text (task names, warnings, error reasons) is escaped: it cannot break a table, start
emphasis or links, or inject HTML into a page that renders the Markdown.
"""
from __future__ import annotations

from vlitq.report._common import (
    PAPER_NAMES,
    arrow,
    details_text,
    error_counts_by_cause,
    fmt,
    indicator_rows,
    label,
    md_escape,
    task_table,
)


def render_markdown(report, *, title: str | None = None, max_tasks: int = 30,
                    max_error_rows: int = 0, heading_level: int = 2) -> str:
    """Render the report's indicators, tasks, error counts and warnings as Markdown.

    Parameters
    ----------
    report : vlitq.Report
    title : str, optional
        Heading (default: ``info["name"]`` or "vlitq report").
    max_tasks : int
        Task rows listed (largest first); the rest are counted in one line.
    max_error_rows : int
        Error rows listed under the counts (0: counts only).
    heading_level : int
        Level of the top heading (sections are one deeper), to fit into a larger document.

    Returns
    -------
    str

    Examples
    --------
    >>> import polars as pl
    >>> from vlitq.report import Report
    >>> r = Report(samples=pl.DataFrame({"sample_id": ["a", "b"]}),
    ...            indicators=pl.DataFrame({"indicator": ["balance"], "value": [12.5],
    ...                                     "direction": ["down"], "principle": ["balance"],
    ...                                     "kind": ["indicator"], "n": [2], "details": [None]}))
    >>> print(render_markdown(r).splitlines()[8])
    | balance | **Balance (B)** | 12.5 | ↓ | 2 |  |
    """
    info = report.info or {}
    h = "#" * max(1, heading_level)
    hh = h + "#"
    title = title or info.get("name") or "vlitq report"
    out = [f"{h} {md_escape(title)}", ""]
    meta = [f"{report.samples.height:,} samples"]
    if info.get("format"):
        meta.append(f"format {md_escape(info['format'])}")
    if info.get("vlitq_version"):
        meta.append(f"vlitq {md_escape(info['vlitq_version'])}")
    if info.get("seconds") is not None:
        meta.append(f"{fmt(info['seconds'])} s")
    out += [" · ".join(meta), ""]

    rows = indicator_rows(report)
    out += [f"{hh} Indicators", ""]
    if rows:
        out += ["| principle | indicator | value | | n | details |",
                "|---|---|---:|:---:|---:|---|"]
        for r in rows:
            name = label(r["indicator"])
            if r["indicator"] in PAPER_NAMES:
                name = f"**{md_escape(name)}**"
            else:
                name = md_escape(name)
            out.append(f"| {md_escape(r['principle'] or '')} | {name} | {md_escape(fmt(r['value']))}"
                       f" | {arrow(r['direction'])} | {md_escape(fmt(r['n']))}"
                       f" | {md_escape(details_text(r['details']))} |")
        note = "↑ higher is better, ↓ lower is better"
        if any(r["indicator"] in PAPER_NAMES for r in rows):
            note += "; bold: the indicators of Li et al. (Table 4)"
        out += ["", note + ".", ""]
    else:
        out += ["No indicators were computed.", ""]

    tasks = task_table(report)
    if not tasks.is_empty():
        out += [f"{hh} Tasks", ""]
        cols = [c for c in tasks.columns]
        num = {c for c in cols if c != "task" and tasks.schema[c].is_numeric()}
        out.append("| " + " | ".join(md_escape(c) for c in cols) + " |")
        out.append("|" + "|".join("---:" if c in num else "---" for c in cols) + "|")
        for r in tasks.head(max_tasks).iter_rows(named=True):
            cells = [md_escape("unlabelled" if r["task"] is None else r["task"])]
            cells += [md_escape(fmt(r[c])) for c in cols if c != "task"]
            out.append("| " + " | ".join(cells) + " |")
        if tasks.height > max_tasks:
            out.append(f"\n… and {tasks.height - max_tasks:,} more tasks.")
        out.append("")

    out += [f"{hh} Errors", ""]
    ec = report.error_counts()
    if ec:
        n = max(1, report.samples.height)
        out += ["| scorer | defects (sample) | % of samples | not evaluated (component) |",
                "|---|---:|---:|---:|"]
        out += [f"| {md_escape(k)} | {d:,} | {fmt(100.0 * d / n)} | {m:,} |"
                for k, d, m in error_counts_by_cause(report)]
        out.append("")
        if max_error_rows > 0:
            out += ["| sample | scorer | cause | reason | file | line / index |",
                    "|---|---|---|---|---|---:|"]
            for r in report.errors.head(max_error_rows).iter_rows(named=True):
                reason = str(r.get("reason") or "")
                reason = reason if len(reason) <= 200 else reason[:200] + " …"
                out.append(f"| {md_escape(r['sample_id'])} | {md_escape(r['scorer'])} | "
                           f"{md_escape(r.get('cause') or '')} | "
                           f"{md_escape(reason)} | {md_escape(r.get('file') or '')} | "
                           f"{'' if r.get('index') is None else r['index']} |")
            out.append("")
    else:
        out += ["No errors.", ""]

    warnings = report.warnings
    if warnings:
        out += [f"{hh} Warnings", ""]
        out += [f"- {md_escape(w)}" for w in warnings]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
