"""Comparing the reports of several datasets (or versions of one): indicators side by side,
deltas against the first, a radar chart of direction-aware normalised indicators, and per-task
deltas — the view used to pick between dataset versions.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from vlitq.report._common import (
    PAPER_INDICATORS,
    PAPER_NAMES,
    Figures,
    arrow,
    esc,
    fmt,
    fmt_delta,
    html_table,
    is_missing,
    label,
    md_escape,
    order_indicators,
    page,
    plot_text,
    resolve_plots,
)
from vlitq.report.report import Report

_ABBR = {n: abbr for n, _, abbr in PAPER_INDICATORS}
_COLORS = ("#2f6fde", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#5c940d",
           "#862e9c")


def compare(reports: Sequence, names: Sequence[str] | None = None, *,
            datasets: Sequence | None = None, m: int | None = None, seeds: int = 5,
            cache=True, progress: bool = False) -> Comparison:
    """Compare reports: indicators side by side with deltas against the first one; with the
    datasets, also at equal size (the paper's protocol, §5.1.2).

    Parameters
    ----------
    reports : sequence of Report or paths
        Reports, or folders written by :meth:`Report.save` (``vlitq score --out``).
    names : sequence of str, optional
        A name per report (default: ``info["name"]``, the folder's name, or ``report_<k>``).
    datasets : sequence of Dataset or paths, optional
        The data behind each report, in the same order. Then every dataset is subsampled to
        ``m`` samples (default: the smallest dataset's size), ``seeds`` times, and rescored
        with the first report's components and parameters; :attr:`Comparison.equal_size`
        holds the mean and spread of every indicator over the seeds. Per-sample results and
        embeddings come from the cache, so a subsample costs the indicators only.
        ``reports`` may also be datasets (or data files) themselves: each is then scored with
        the default components first, and the protocol runs on them.
    m : int, optional
        Subsample size (at most the smallest dataset's size).
    seeds : int
        Number of subsamples per dataset (seeds 0 .. seeds-1).
    cache : bool, str or Cache
        Cache of the (re)scoring runs.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import polars as pl
    >>> from vlitq.report import Report
    >>> def rep(v):
    ...     return Report(samples=pl.DataFrame({"sample_id": ["a"]}), indicators=pl.DataFrame(
    ...         {"indicator": ["balance"], "value": [v], "direction": ["down"],
    ...          "principle": ["balance"], "kind": ["indicator"], "n": [1], "details": [None]}))
    >>> c = compare([rep(10.0), rep(4.0)], names=["v1", "v2"])
    >>> c.table.select("indicator", "v1", "v2", "Δ v2").row(0)
    ('balance', 10.0, 4.0, -6.0)
    >>> c.improved("v2")["balance"]
    True
    """
    reports = list(reports)
    if not reports:
        raise ValueError("compare() needs at least one report")
    if datasets is None and all(_is_data(r) for r in reports):
        datasets = reports
        reports = [_score_full(d, cache, progress) for d in datasets]
    loaded, default_names = [], []
    for k, r in enumerate(reports, start=1):
        if isinstance(r, Report):
            loaded.append(r)
            default_names.append(str((r.info or {}).get("name") or f"report_{k}"))
        elif isinstance(r, (str, os.PathLike)):
            rep = Report.load(r)
            loaded.append(rep)
            default_names.append(str((rep.info or {}).get("name")
                                     or os.path.basename(os.path.normpath(os.fspath(r)))))
        else:
            raise TypeError(f"compare() takes Report objects or report folders, not "
                            f"{type(r).__name__}")
    if names is None:
        names = _unique(default_names)
    else:
        names = [str(n) for n in names]
        if len(names) != len(loaded):
            raise ValueError(f"{len(names)} names for {len(loaded)} reports")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be unique, got {names}")
    comp = Comparison(reports=loaded, names=list(names))
    if datasets is not None:
        datasets = list(datasets)
        if len(datasets) != len(loaded):
            raise ValueError(f"{len(datasets)} datasets for {len(loaded)} reports")
        comp.equal_size = equal_size(datasets, list(names), m=m, seeds=seeds,
                                     report=loaded[0], cache=cache, progress=progress)
    return comp


def _is_data(x) -> bool:
    from vlitq.data.dataset import Dataset

    if isinstance(x, Dataset):
        return True
    if isinstance(x, (str, os.PathLike)):
        p = os.fspath(x)
        return os.path.isfile(p) or (os.path.isdir(p) and not _is_report_dir(p))
    return False


def _is_report_dir(p: str) -> bool:
    return any(os.path.exists(os.path.join(p, f)) for f in ("indicators.parquet", "info.json",
                                                            "report.json", "samples.parquet"))


def _as_dataset(d):
    from vlitq.data.dataset import Dataset
    from vlitq.data.formats import read

    return d if isinstance(d, Dataset) else read(d)


def _score_full(d, cache, progress):
    import vlitq

    ds = _as_dataset(d)
    rep = vlitq.score(ds, cache=cache, progress=progress)
    if isinstance(d, (str, os.PathLike)):
        rep.info["name"] = os.path.splitext(os.path.basename(os.path.normpath(os.fspath(d))))[0]
    return rep


def size_dependent(name: str) -> bool | None:
    """Whether the indicator ``name`` declares that its value depends on the dataset's size
    (``size_dependent``); companions (``response_diversity_rarefied``) are size-free; per-sample
    means are not size-dependent. None for unknown names."""
    from vlitq import registry

    try:
        cls = registry.get(name)
    except KeyError:
        for n in registry.names("indicator"):
            if name in (getattr(registry.get(n), "companions", None) or {}):
                return False
        return None
    return bool(getattr(cls, "size_dependent", False))


def components_of(report) -> list:
    """The components (with their parameters) that produced ``report``, from its ``info``."""
    from vlitq import registry

    out = []
    for name, entry in ((report.info or {}).get("components") or {}).items():
        if name not in registry.names():
            continue
        params = entry.get("params") or {}
        valid = registry.get(name)._param_names()
        out.append(registry.create(name, {k: v for k, v in params.items() if k in valid}))
    return out


def equal_size(datasets: Sequence, names: Sequence[str] | None = None, *, m: int | None = None,
               seeds: int = 5, components: Sequence | None = None, report=None, cache=True,
               progress: bool = False) -> pl.DataFrame:
    """The equal-size protocol: every dataset subsampled to ``m`` samples (default: the
    smallest size), ``seeds`` times, each subsample scored; mean and spread per indicator.

    Parameters
    ----------
    datasets : sequence of Dataset or paths
    names : sequence of str, optional
    m : int, optional
    seeds : int
    components : sequence, optional
        Names or configured components (default: those of ``report``, else the defaults).
    report : Report, optional
        Take the components and parameters from this report's ``info``.

    Returns
    -------
    polars.DataFrame
        One row per indicator: ``indicator``, ``size_dependent``, ``m``, ``seeds``, and per
        dataset ``<name>`` (mean over seeds) and ``<name> sd`` (standard deviation over seeds,
        ddof 1).

    Examples
    --------
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> big = Dataset.from_records([make_sample(f"b{i}", [("Q?", "A.")], task=f"t{i % 6}")
    ...                             for i in range(60)])
    >>> small = Dataset.from_records([make_sample(f"s{i}", [("Q?", "A.")], task=f"t{i % 2}")
    ...                               for i in range(10)])
    >>> t = equal_size([big, small], ["big", "small"], components=["task_diversity"],
    ...                seeds=3, cache=False)
    >>> t.select("indicator", "size_dependent", "m", "small").row(0)
    ('task_diversity', True, 10, 2.0)
    """
    import numpy as np

    import vlitq
    from vlitq.api import build_components
    from vlitq.validity import dataset_values

    dss = [_as_dataset(d) for d in datasets]
    names = list(names) if names is not None else [f"dataset_{k}" for k in range(1, len(dss) + 1)]
    sizes = [len(d) for d in dss]
    m_eff = min(sizes) if m is None else int(m)
    if m_eff > min(sizes):
        raise ValueError(f"m={m_eff} exceeds the smallest dataset ({min(sizes)} samples)")
    if components is None:
        components = components_of(report) if report is not None else None
        if not components:
            components = build_components(None, {})
    vals: dict[str, dict[str, list[float]]] = {}
    for name, ds in zip(names, dss):
        frame = ds.frame
        for seed in range(int(seeds)):
            idx = np.sort(np.random.default_rng(seed).choice(len(ds), m_eff, replace=False))
            sub = ds.__class__(frame[idx.tolist()], **_dataset_kwargs(ds))
            rep = vlitq.score(sub, list(components), cache=cache, progress=progress)
            for ind, v in dataset_values(rep).items():
                vals.setdefault(ind, {}).setdefault(name, []).append(v)
    order = list(vals)
    cols: dict[str, list] = {"indicator": order,
                             "size_dependent": [size_dependent(i) for i in order],
                             "m": [m_eff] * len(order), "seeds": [int(seeds)] * len(order)}
    for name in names:
        cols[name] = [float(np.mean(vals[i][name])) if vals[i].get(name) else None
                      for i in order]
        cols[f"{name} sd"] = [float(np.std(vals[i][name], ddof=1))
                              if len(vals[i].get(name) or []) > 1 else None for i in order]
    schema = {"indicator": pl.Utf8, "size_dependent": pl.Boolean, "m": pl.Int64,
              "seeds": pl.Int64}
    schema.update({c: pl.Float64 for c in cols if c not in schema})
    return pl.DataFrame(cols, schema=schema)


def _dataset_kwargs(ds) -> dict:
    out = {}
    for k in ("format", "image_root", "allow_outside_root", "meta"):
        if hasattr(ds, k):
            out[k] = getattr(ds, k)
    return out


def _mean_sd(mean, sd) -> str:
    if mean is None:
        return "–"
    return fmt(mean) if sd is None else f"{fmt(mean)} ± {fmt(sd)}"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}#{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


@dataclass
class Comparison:
    """Several reports side by side (build it with :func:`compare`).

    Attributes
    ----------
    reports : list of Report
    names : list of str
    table : polars.DataFrame
        One row per indicator (the paper's Table-4 order first): ``indicator``, ``principle``,
        ``direction``, a value column per name, and ``Δ <name>`` (value minus the first
        report's) for every report after the first.
    tasks : polars.DataFrame
        Per-task figures in long form: ``task``, ``metric`` (``n``, ``share`` and every per-task
        column the reports have), a column per name and ``Δ <name>`` columns.
    """

    reports: list
    names: list[str]
    table: pl.DataFrame = field(init=False)
    tasks: pl.DataFrame = field(init=False)
    #: the equal-size protocol's table (:func:`equal_size`), when the datasets were given
    equal_size: pl.DataFrame | None = field(default=None, init=False)

    def __post_init__(self):
        self.table = self._indicator_table()
        self.tasks = self._task_table()

    # ------------------------------------------------------------------ tables
    def _indicator_table(self) -> pl.DataFrame:
        meta: dict[str, dict] = {}
        values: dict[str, dict[str, float | None]] = {}
        for name, rep in zip(self.names, self.reports):
            for r in rep.indicators.iter_rows(named=True):
                m = meta.setdefault(r["indicator"], {"principle": None, "direction": None})
                m["principle"] = m["principle"] or r["principle"]
                m["direction"] = m["direction"] or r["direction"]
                v = r["value"]
                values.setdefault(r["indicator"], {})[name] = None if is_missing(v) else float(v)
        order = order_indicators(meta, {k: v["principle"] for k, v in meta.items()})
        cols: dict[str, list] = {"indicator": order,
                                 "principle": [meta[i]["principle"] for i in order],
                                 "direction": [meta[i]["direction"] for i in order]}
        for name in self.names:
            cols[name] = [values[i].get(name) for i in order]
        base = self.names[0]
        for name in self.names[1:]:
            cols[f"Δ {name}"] = [_delta(values[i].get(name), values[i].get(base)) for i in order]
        schema = {"indicator": pl.Utf8, "principle": pl.Utf8, "direction": pl.Utf8}
        schema.update({c: pl.Float64 for c in cols if c not in schema})
        return pl.DataFrame(cols, schema=schema)

    def _task_table(self) -> pl.DataFrame:
        per: dict[tuple[str, str], dict[str, float | None]] = {}
        metrics: list[str] = []
        tasks: list[str] = []
        for name, rep in zip(self.names, self.reports):
            t = rep.tasks
            if t is None or t.is_empty() or "task" not in t.columns:
                continue
            num = [c for c in t.columns if c != "task" and t.schema[c].is_numeric()]
            for c in num:
                if c not in metrics:
                    metrics.append(c)
            for r in t.iter_rows(named=True):
                task = "unlabelled" if r["task"] is None else str(r["task"])
                if task not in tasks:
                    tasks.append(task)
                for c in num:
                    v = r[c]
                    per.setdefault((task, c), {})[name] = None if is_missing(v) else float(v)
        # n and share first: they are what every report has
        metrics = [m for m in ("n", "share") if m in metrics] + \
                  [m for m in metrics if m not in ("n", "share")]
        rows = [(t, m) for m in metrics for t in sorted(tasks) if (t, m) in per]
        cols: dict[str, list] = {"task": [t for t, _ in rows], "metric": [m for _, m in rows]}
        for name in self.names:
            cols[name] = [per[k].get(name) for k in rows]
        base = self.names[0]
        for name in self.names[1:]:
            cols[f"Δ {name}"] = [_delta(per[k].get(name), per[k].get(base)) for k in rows]
        schema = {"task": pl.Utf8, "metric": pl.Utf8}
        schema.update({c: pl.Float64 for c in cols if c not in schema})
        return pl.DataFrame(cols, schema=schema)

    # ------------------------------------------------------------------ derived views
    def size_dependent(self) -> list[str]:
        """Indicators of the table that declare a size-dependent value."""
        return [i for i in self.table["indicator"].to_list() if size_dependent(i)]

    def sizes_differ(self) -> bool:
        return len({r.samples.height for r in self.reports}) > 1

    def equal_size_means(self) -> pl.DataFrame | None:
        """The equal-size means as one row per dataset (``dataset`` + a column per indicator):
        the table :func:`vlitq.correlate` takes."""
        if self.equal_size is None:
            return None
        rows = []
        for n in self.names:
            row = {"dataset": n}
            for r in self.equal_size.iter_rows(named=True):
                row[r["indicator"]] = r[n]
            rows.append(row)
        return pl.DataFrame(rows)

    def improved(self, name: str) -> dict[str, bool | None]:
        """Per indicator: whether ``name`` is better than the first report (None: equal,
        missing or no direction)."""
        if name not in self.names[1:]:
            raise KeyError(f"{name!r} is not one of the compared reports after the first: "
                           f"{self.names[1:]}")
        out = {}
        for r in self.table.iter_rows(named=True):
            out[r["indicator"]] = _better(r[f"Δ {name}"], r["direction"])
        return out

    def normalised(self) -> pl.DataFrame:
        """Indicators with a direction, scaled per indicator to [0, 1] over the compared
        reports so that 1 is the best of them and 0 the worst (equal values: all 1).

        Examples
        --------
        >>> import polars as pl
        >>> from vlitq.report import Report
        >>> def rep(b, m):
        ...     return Report(samples=pl.DataFrame({"sample_id": ["a"]}), indicators=pl.DataFrame(
        ...         {"indicator": ["balance", "matching"], "value": [b, m],
        ...          "direction": ["down", "up"], "principle": ["balance", "correctness"],
        ...          "kind": ["indicator", "scorer"], "n": [1, 1], "details": [None, None]}))
        >>> compare([rep(10.0, 20.0), rep(4.0, 30.0), rep(7.0, 25.0)],
        ...         names=["a", "b", "c"]).normalised().rows()
        [('matching', 0.0, 1.0, 0.5), ('balance', 0.0, 1.0, 0.5)]
        """
        rows = []
        for r in self.table.iter_rows(named=True):
            d = r["direction"]
            if d not in ("up", "down"):
                continue
            vals = [r[n] for n in self.names]
            have = [v for v in vals if v is not None]
            if not have:
                continue
            lo, hi = min(have), max(have)
            scaled = []
            for v in vals:
                if v is None:
                    scaled.append(None)
                elif hi == lo:
                    scaled.append(1.0)
                else:
                    s = (v - lo) / (hi - lo)
                    scaled.append(s if d == "up" else 1.0 - s)
            rows.append([r["indicator"], *scaled])
        schema = {"indicator": pl.Utf8, **{n: pl.Float64 for n in self.names}}
        return pl.DataFrame(rows, schema=schema, orient="row")

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "indicators": self.table.to_dicts(),
                "size_dependent": self.size_dependent(),
                "equal_size": None if self.equal_size is None else self.equal_size.to_dicts(),
                "tasks": self.tasks.to_dicts(),
                "n_samples": {n: r.samples.height for n, r in zip(self.names, self.reports)},
                "error_counts": {n: r.error_counts() for n, r in zip(self.names, self.reports)}}

    def to_json(self, path: str | os.PathLike | None = None, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, default=str, ensure_ascii=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_markdown(self, path: str | os.PathLike | None = None, *, max_tasks: int = 30,
                    heading_level: int = 2) -> str:
        """Markdown: indicator table with values, deltas (✓ better / ✗ worse) and arrows,
        then the per-task share deltas."""
        h = "#" * max(1, heading_level)
        names = self.names
        out = [f"{h} vlitq comparison: " + " vs ".join(md_escape(n) for n in names), ""]
        out.append("samples: " + ", ".join(f"{md_escape(n)} {r.samples.height:,}"
                                            for n, r in zip(names, self.reports)))
        out += ["", f"{h}# Indicators", ""]
        head = ["indicator", ""] + [md_escape(n) for n in names] + \
               [f"Δ {md_escape(n)}" for n in names[1:]]
        out.append("| " + " | ".join(head) + " |")
        out.append("|---|:---:|" + "|".join("---:" for _ in head[2:]) + "|")
        dep = set(self.size_dependent())
        for r in self.table.iter_rows(named=True):
            name = md_escape(label(r["indicator"]))
            if r["indicator"] in PAPER_NAMES:
                name = f"**{name}**"
            if r["indicator"] in dep:
                name += " ‡"
            cells = [name, arrow(r["direction"])] + [md_escape(fmt(r[n])) for n in names]
            for n in names[1:]:
                d = r[f"Δ {n}"]
                mark = {True: " ✓", False: " ✗"}.get(_better(d, r["direction"]), "")
                cells.append(md_escape(fmt_delta(d)) + mark)
            out.append("| " + " | ".join(cells) + " |")
        out += ["", ("Δ: value minus the first report's; ✓ better, ✗ worse given the direction "
                     "(↑ higher is better, ↓ lower is better). ‡ size-dependent: "
                     + self._size_note()), ""]
        if self.equal_size is not None:
            out += [f"{h}# At equal size", "", self._equal_size_caption(), ""]
            head = ["indicator", ""] + [md_escape(n) for n in names]
            out.append("| " + " | ".join(head) + " |")
            out.append("|---|:---:|" + "|".join("---:" for _ in names) + "|")
            for r in self.equal_size.iter_rows(named=True):
                cells = [md_escape(label(r["indicator"])) + (" ‡" if r["size_dependent"]
                                                             else ""), ""]
                cells += [md_escape(_mean_sd(r[n], r[f"{n} sd"])) for n in names]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        shares = self.tasks.filter(pl.col("metric") == "share")
        if shares.height:
            out += [f"{h}# Task shares (%)", ""]
            head = ["task"] + [md_escape(n) for n in names] + [f"Δ {md_escape(n)}"
                                                              for n in names[1:]]
            out.append("| " + " | ".join(head) + " |")
            out.append("|---|" + "|".join("---:" for _ in head[1:]) + "|")
            shares = _sort_by_size(shares, names)
            for r in shares.head(max_tasks).iter_rows(named=True):
                cells = [md_escape(r["task"])] + [md_escape(fmt(r[n])) for n in names]
                cells += [md_escape(fmt_delta(r[f"Δ {n}"])) for n in names[1:]]
                out.append("| " + " | ".join(cells) + " |")
            if shares.height > max_tasks:
                out.append(f"\n… and {shares.height - max_tasks:,} more tasks.")
            out.append("")
        text = "\n".join(out).rstrip() + "\n"
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_html(self, path: str | os.PathLike | None = None, *, title: str | None = None,
                plots: bool | None = None, plotlyjs: str = "inline",
                max_tasks_plotted: int = 30) -> str:
        """One self-contained HTML page: the side-by-side table with coloured deltas, a radar
        chart of the normalised indicators (see :meth:`normalised`), task shares per report
        and the per-task deltas of every per-task figure."""
        draw = resolve_plots(plots, plotlyjs)
        figs = Figures(draw)
        names = self.names
        title = title or "vlitq comparison"
        when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        subtitle = " vs ".join(names) + f" · rendered {when}"
        sections = [("overview", "Reports", self._html_overview()),
                    ("indicators", "Indicators", self._html_table4() + self._html_indicators())]
        if self.equal_size is not None:
            sections.append(("equal-size", "At equal size", self._html_equal_size()))
        sections += [
                    ("radar", "Radar", self._html_radar(figs)),
                    ("tasks", "Per-task deltas", self._html_tasks(figs, max_tasks_plotted))]
        body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{c}</section>'
                       for a, t, c in sections)
        if not draw:
            body = ('<p class="plot-note">Plots are off (install plotly: pip install '
                    '"vlitq[report]").</p>' + body)
        text = page(title, subtitle, [(a, t) for a, t, _ in sections], body,
                    figs.scripts(plotlyjs), "made by vlitq — dataset text is shown escaped")
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def _repr_html_(self) -> str:
        return f'<div class="vlitq-comparison">{self._html_indicators()}</div>'

    def __repr__(self) -> str:
        return f"Comparison({self.names})\n{self.table}"

    # ------------------------------------------------------------------ HTML parts
    def _html_overview(self) -> str:
        rows = []
        for n, r in zip(self.names, self.reports):
            info = r.info or {}
            ec = r.error_counts()
            rows.append([f"<b>{esc(n)}</b>", esc(fmt(r.samples.height)),
                         esc(fmt(r.tasks.height if r.tasks is not None else None)),
                         esc(fmt(sum(ec.values()))), esc(fmt(len(r.warnings))),
                         esc(info.get("format") or ""), esc(info.get("vlitq_version") or "")])
        return html_table(["report", "samples", "tasks", "errors", "warnings", "format",
                           "vlitq"], rows, (1, 2, 3, 4))

    def _html_table4(self) -> str:
        """The paper's Table 4 layout: a row per dataset, the eight indicators as columns
        grouped by principle; the best value of each column in bold."""
        rows = [r for r in self.table.iter_rows(named=True) if r["indicator"] in PAPER_NAMES]
        if not rows:
            return ""
        groups: list[list] = []  # [principle, colspan]
        for r in rows:
            p = r["principle"] or ""
            if groups and groups[-1][0] == p:
                groups[-1][1] += 1
            else:
                groups.append([p, 1])
        head1 = '<th rowspan="2">dataset</th>' + "".join(
            f'<th colspan="{k}" style="text-align:center">{esc(p)}</th>' for p, k in groups)
        head2 = "".join(f'<th class="num">{esc(_ABBR.get(r["indicator"], r["indicator"]))} '
                        f'{esc(arrow(r["direction"]))}</th>' for r in rows)
        best = {}
        for r in rows:
            vals = [r[n] for n in self.names if r[n] is not None]
            if vals and r["direction"] in ("up", "down") and len(self.names) > 1:
                best[r["indicator"]] = max(vals) if r["direction"] == "up" else min(vals)
        body = []
        for n in self.names:
            cells = [f"<td><b>{esc(n)}</b></td>"]
            for r in rows:
                v = r[n]
                text = esc(fmt(v))
                if v is not None and best.get(r["indicator"]) == v:
                    text = f"<b>{text}</b>"
                cells.append(f'<td class="num">{text}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        return ("<h3>In the layout of the paper's Table 4</h3>"
                f"<table class=\"t4\"><thead><tr>{head1}</tr><tr>{head2}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>"
                '<p class="muted">Bold: the best of these datasets in each column.</p>'
                "<h3>Side by side</h3>")

    def _html_indicators(self) -> str:
        names = self.names
        header = ["principle", "indicator", ""] + names + [f"Δ {n}" for n in names[1:]]
        rows = []
        dep = set(self.size_dependent())
        for r in self.table.iter_rows(named=True):
            mark = " ‡" if r["indicator"] in dep else ""
            cells = [esc(r["principle"] or ""), f"<b>{esc(label(r['indicator']) + mark)}</b>",
                     f'<span class="dir">{esc(arrow(r["direction"]))}</span>']
            cells += [esc(fmt(r[n])) for n in names]
            for n in names[1:]:
                d = r[f"Δ {n}"]
                cls = {True: "good", False: "bad"}.get(_better(d, r["direction"]), "muted")
                cells.append(f'<span class="{cls}">{esc(fmt_delta(d))}</span>')
            rows.append(cells)
        numeric = range(3, len(header))
        return (html_table(header, rows, numeric) +
                '<p class="muted">Δ: value minus the first report\'s (' + esc(names[0]) +
                '); <span class="good">green</span> is better, <span class="bad">red</span> '
                "worse given the direction (↑ higher is better, ↓ lower is better). ‡ "
                "size-dependent: " + esc(self._size_note()) + "</p>")

    def _size_note(self) -> str:
        if self.equal_size is not None:
            return ("its value grows with the number of samples; see the equal-size table "
                    "for the comparison that counts.")
        if self.sizes_differ():
            return ("its value grows with the number of samples, and these datasets differ in "
                    "size: compare them at equal size (vlitq.compare(..., datasets=...) or "
                    "vlitq report --compare ... --data ... --data ...).")
        return "its value grows with the number of samples (these datasets are equally large)."

    def _equal_size_caption(self) -> str:
        t = self.equal_size
        return (f"Every dataset subsampled to m = {t['m'][0]:,} samples, {t['seeds'][0]} "
                "seeds; mean ± standard deviation over the seeds. ‡ size-dependent.")

    def _html_equal_size(self) -> str:
        names = self.names
        rows = []
        for r in self.equal_size.iter_rows(named=True):
            rows.append([esc(label(r["indicator"]) + (" ‡" if r["size_dependent"] else ""))]
                        + [esc(_mean_sd(r[n], r[f"{n} sd"])) for n in names])
        return (f'<p class="muted">{esc(self._equal_size_caption())}</p>'
                + html_table(["indicator"] + names, rows, range(1, len(names) + 1)))

    def _html_radar(self, figs: Figures) -> str:
        norm = self.normalised()
        if norm.height < 3:
            note = ("The radar needs at least three indicators with a direction; "
                    f"these reports share {norm.height}.")
            return f'<p class="muted">{esc(note)}</p>'
        if not figs.enabled:
            return '<p class="muted">Plots are off.</p>'
        theta = [plot_text(label(i)) for i in norm["indicator"].to_list()]
        raw = {n: dict(zip(self.table["indicator"].to_list(), self.table[n].to_list()))
               for n in self.names}
        data = []
        for k, n in enumerate(self.names):
            r = norm[n].to_list()
            custom = [fmt(raw[n].get(i)) for i in norm["indicator"].to_list()]
            data.append({"type": "scatterpolar", "r": r + r[:1], "theta": theta + theta[:1],
                         "customdata": custom + custom[:1], "name": plot_text(n),
                         "fill": "toself", "opacity": 0.55,
                         "line": {"color": _COLORS[k % len(_COLORS)]},
                         "hovertemplate": "%{theta}: %{customdata} (score %{r:.2f})"
                                          f"<extra>{plot_text(n)}</extra>"})
        fig = figs.add(data, {"title": {"text": "Indicators, normalised per indicator "
                                                "(1 = best of these reports)"},
                              "polar": {"radialaxis": {"range": [0, 1.05], "showticklabels": True}},
                              "margin": {"l": 80, "r": 80, "t": 60, "b": 40},
                              "showlegend": True}, height=520)
        return fig + ('<p class="muted">Each axis is scaled over the compared reports: the best '
                      "value is 1 and the worst 0, with ↓ indicators flipped. Indicators "
                      "without a direction are left out.</p>")

    def _html_tasks(self, figs: Figures, max_plotted: int) -> str:
        if self.tasks.is_empty():
            return '<p class="muted">The reports have no task breakdown.</p>'
        names = self.names
        out = []
        shares = _sort_by_size(self.tasks.filter(pl.col("metric") == "share"), names)
        if shares.height and figs.enabled:
            top = shares.head(max_plotted)
            data = [{"type": "bar", "name": plot_text(n),
                     "x": [plot_text(t) for t in top["task"].to_list()], "y": top[n].to_list(),
                     "marker": {"color": _COLORS[k % len(_COLORS)]}}
                    for k, n in enumerate(names)]
            out.append(figs.add(data, {"title": {"text": "Share of samples per task (%)"},
                                       "barmode": "group",
                                       "xaxis": {"type": "category", "automargin": True},
                                       "yaxis": {"title": {"text": "% of samples"}}},
                                height=380))
        for metric in self.tasks["metric"].unique(maintain_order=True).to_list():
            sub = _sort_by_size(self.tasks.filter(pl.col("metric") == metric), names)
            header = ["task"] + names + [f"Δ {n}" for n in names[1:]]
            rows = []
            for r in sub.iter_rows(named=True):
                cells = [esc(r["task"])] + [esc(fmt(r[n])) for n in names]
                cells += [esc(fmt_delta(r[f"Δ {n}"])) for n in names[1:]]
                rows.append(cells)
            out.append(f"<h3>{esc(metric)}</h3>")
            out.append(f'<div class="scroll">{html_table(header, rows, range(1, len(header)))}'
                       "</div>")
        return "".join(out)


def _sort_by_size(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Rows by the largest value over the reports, descending (then by task)."""
    if frame.is_empty():
        return frame
    return (frame.with_columns(pl.max_horizontal([pl.col(n) for n in names]).alias("_m"))
            .sort(["_m", "task"], descending=[True, False], nulls_last=True).drop("_m"))


def _delta(v, base):
    if v is None or base is None:
        return None
    return v - base


def _better(delta, direction) -> bool | None:
    if delta is None or delta == 0 or direction not in ("up", "down"):
        return None
    return (delta > 0) == (direction == "up")
