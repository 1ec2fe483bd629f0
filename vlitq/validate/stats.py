"""Correlation of dataset indicators with benchmark performance, and ICC across models.

The paper's validation (Li et al., §5; DESIGN.md "Validation") correlates each indicator with each
benchmark dimension over datasets, using the performance averaged over the tuned models, and checks
that the models agree with each other with intraclass correlations (rows = benchmark dimensions,
raters = models).

Everything here is numpy/scipy/polars only: no model is loaded.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

logger = logging.getLogger("vlitq")

FORMS = ("1,1", "1,k", "2,1", "2,k", "3,1", "3,k")
_FORM_INFO = {  # form -> (psych's name, McGraw & Wong's description)
    "1,1": ("ICC1", "one-way random, single rater, absolute agreement"),
    "2,1": ("ICC2", "two-way random, single rater, absolute agreement"),
    "3,1": ("ICC3", "two-way mixed, single rater, consistency"),
    "1,k": ("ICC1k", "one-way random, mean of k raters, absolute agreement"),
    "2,k": ("ICC2k", "two-way random, mean of k raters, absolute agreement"),
    "3,k": ("ICC3k", "two-way mixed, mean of k raters, consistency"),
}


# --------------------------------------------------------------------------------------- input
def as_frame(data: Any) -> pl.DataFrame:
    """A polars frame from a polars/pandas frame, a dict of columns or a CSV/Parquet/JSON path.

    >>> as_frame({"dataset": ["a", "b"], "x": [1, 2]}).shape
    (2, 2)
    """
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        low = path.lower()
        if low.endswith(".parquet"):
            return pl.read_parquet(path)
        if low.endswith((".jsonl", ".ndjson")):
            return pl.read_ndjson(path)
        if low.endswith(".json"):
            return pl.read_json(path)
        if low.endswith(".tsv"):
            return pl.read_csv(path, separator="\t", infer_schema_length=None)
        return pl.read_csv(path, infer_schema_length=None)
    if type(data).__module__.startswith("pandas"):
        return pl.from_pandas(data.reset_index() if _has_named_index(data) else data)
    return pl.DataFrame(data)


def _has_named_index(df) -> bool:
    return getattr(df.index, "name", None) is not None


def _numeric_columns(frame: pl.DataFrame, exclude: Sequence[str]) -> list[str]:
    return [c for c, t in frame.schema.items() if c not in exclude and t.is_numeric()]


def indicator_table(reports: Any) -> pl.DataFrame:
    """One row per dataset, one column per indicator, from vlitq reports.

    ``reports`` is ``{dataset name: Report or saved-report folder}``, a list of saved-report
    folders (named by their folder), or one folder whose sub-folders are saved reports
    (``vlitq score data.json --out reports/<name>``).

    >>> from vlitq.report.report import Report
    >>> r = Report(pl.DataFrame({"sample_id": ["a"]}), indicators=pl.DataFrame(
    ...     {"indicator": ["matching", "balance"], "value": [25.0, 3.5]}))
    >>> indicator_table({"llava-subset": r}).row(0)
    ('llava-subset', 25.0, 3.5)
    """
    from vlitq.report.report import Report

    if isinstance(reports, (str, os.PathLike)):
        root = os.fspath(reports)
        reports = sorted(os.path.join(root, d) for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)))
        if not reports:
            raise ValueError(f"{root}: no saved reports (sub-folders) in it")
    if not isinstance(reports, dict):
        reports = {os.path.basename(os.path.normpath(os.fspath(p))): p for p in reports}
    rows = []
    for name, rep in reports.items():
        if not isinstance(rep, Report):
            rep = Report.load(rep)
        row = {"dataset": str(name)}
        for ind, val in zip(rep.indicators["indicator"].to_list(),
                            rep.indicators["value"].to_list()):
            row[ind] = None if val is None else float(val)
        rows.append(row)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows],
                        schema={c: (pl.Utf8 if c == "dataset" else pl.Float64) for c in cols})


def average_over_models(performance: Any, *, dataset: str = "dataset",
                        model: str = "model") -> pl.DataFrame:
    """One row per dataset: the benchmark columns averaged over the models tuned on it.

    A frame already holding one row per dataset (no ``model`` column) is returned as it is.
    Missing scores (null/NaN) are left out of a dataset's mean.

    >>> perf = {"dataset": ["a", "a", "b", "b"], "model": ["llava", "blip2"] * 2,
    ...         "scene": [60.0, 40.0, 50.0, 30.0]}
    >>> average_over_models(perf).sort("dataset")["scene"].to_list()
    [50.0, 40.0]
    """
    frame = as_frame(performance)
    if dataset not in frame.columns:
        raise ValueError(f"performance has no {dataset!r} column (columns: {frame.columns})")
    dims = _numeric_columns(frame, (dataset, model))
    if not dims:
        raise ValueError("performance has no numeric benchmark columns")
    frame = frame.with_columns(pl.col(dims).cast(pl.Float64).fill_nan(None))
    if model not in frame.columns:
        if frame[dataset].is_duplicated().any():
            raise ValueError(f"performance has repeated datasets but no {model!r} column")
        return frame.select([dataset, *dims])
    counts = frame.group_by(dataset).agg(pl.col(model).n_unique().alias("n"))
    if counts["n"].n_unique() > 1:
        logger.warning("datasets were tuned with different numbers of models: %s",
                       dict(zip(counts[dataset].to_list(), counts["n"].to_list())))
    return (frame.group_by(dataset, maintain_order=True)
            .agg([pl.col(d).mean() for d in dims]))


# --------------------------------------------------------------------------------- correlation
def stars(p: float) -> str:
    """Significance stars: ``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.1.

    >>> [stars(p) for p in (0.001, 0.03, 0.07, 0.2, float("nan"))]
    ['***', '**', '*', '', '']
    """
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""


def _rank(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, method="average")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    if den == 0.0:
        return float("nan")
    return float(np.clip((xc @ yc) / den, -1.0, 1.0))


def _r(x: np.ndarray, y: np.ndarray, method: str) -> float:
    if method == "spearman":
        x, y = _rank(x), _rank(y)
    return _pearson(x, y)


def t_test_p(r: float, n: int) -> float:
    """Two-sided p-value of a correlation ``r`` over ``n`` pairs: t distribution, n-2 df.

    t = r √((n-2)/(1-r²)). (For Pearson's r this equals scipy's exact test; for Spearman's rho it
    is the usual t approximation.)

    >>> round(t_test_p(0.5, 12), 4)
    0.0979
    """
    from scipy.stats import t as t_dist

    if n < 3 or not np.isfinite(r):
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt((n - 2) / (1.0 - r * r))
    return float(2.0 * t_dist.sf(abs(t), n - 2))


def correlate(indicators: Any, performance: Any, method: str = "pearson", bootstrap: int = 0,
              seed: int = 0, *, confidence: float = 0.95, dataset: str = "dataset",
              model: str = "model") -> pl.DataFrame:
    """Correlate every indicator with every benchmark dimension, over datasets.

    Parameters
    ----------
    indicators : polars/pandas DataFrame, dict or path (CSV, Parquet, JSON)
        One row per dataset: a ``dataset`` column and one numeric column per indicator. Or
        reports: a folder of saved reports, or ``{dataset: Report or folder}`` (see
        :func:`indicator_table`).
    performance : polars/pandas DataFrame, dict or path
        One row per (dataset, model) with a ``model`` column and one numeric column per benchmark
        dimension (the scores are averaged over models first, as in the paper), or one row per
        dataset without a ``model`` column.
    method : {"pearson", "spearman"}
        Pearson's r (the paper's choice) or Spearman's rho (Pearson's r of the ranks).
    bootstrap : int
        Number of bootstrap resamples of the datasets for a percentile confidence interval of r
        (0: none). Adds ``ci_low`` and ``ci_high``.
    seed : int
        Seed of the bootstrap.
    confidence : float
        Level of the bootstrap interval.
    dataset, model : str
        Names of the dataset and model columns.

    Returns
    -------
    polars.DataFrame
        One row per (indicator, benchmark): ``indicator``, ``benchmark``, ``r``, ``p``
        (two-sided, t distribution with n-2 degrees of freedom), ``n`` (datasets with both
        values), ``stars`` (``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.1) and, with
        ``bootstrap``, ``ci_low``/``ci_high``. r and p are NaN when n < 3 or a column is constant.

    Examples
    --------
    >>> ind = {"dataset": ["a", "b", "c", "d"], "matching": [20.0, 22.0, 25.0, 30.0]}
    >>> perf = {"dataset": ["a", "b", "c", "d"], "scene": [50.0, 53.0, 55.0, 61.0]}
    >>> correlate(ind, perf).select("indicator", "benchmark", "n", "stars").row(0)
    ('matching', 'scene', 4, '***')
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', not {method!r}")
    if isinstance(indicators, (str, os.PathLike)) and os.path.isdir(indicators):
        ind = indicator_table(indicators)
    elif isinstance(indicators, dict) and indicators and not isinstance(
            next(iter(indicators.values())), (list, tuple, np.ndarray, pl.Series)):
        ind = indicator_table(indicators)  # {dataset: Report or folder}
    else:
        ind = as_frame(indicators)
    if dataset not in ind.columns:
        raise ValueError(f"indicators have no {dataset!r} column (columns: {ind.columns})")
    if ind[dataset].is_duplicated().any():
        raise ValueError("indicators must have one row per dataset; repeated: "
                         f"{ind.filter(pl.col(dataset).is_duplicated())[dataset].unique().to_list()}")
    ind_cols = _numeric_columns(ind, (dataset,))
    if not ind_cols:
        raise ValueError("indicators have no numeric indicator columns")
    perf = average_over_models(performance, dataset=dataset, model=model)
    dims = [c for c in perf.columns if c != dataset]
    ind = ind.with_columns(pl.col(dataset).cast(pl.Utf8),
                           pl.col(ind_cols).cast(pl.Float64).fill_nan(None))
    perf = perf.with_columns(pl.col(dataset).cast(pl.Utf8))
    clash = set(ind_cols) & set(dims)
    if clash:
        raise ValueError(f"columns named both as indicator and benchmark: {sorted(clash)}")
    only_ind = set(ind[dataset]) - set(perf[dataset])
    only_perf = set(perf[dataset]) - set(ind[dataset])
    if only_ind or only_perf:
        logger.warning("datasets left out of the correlation: without performance %s, "
                       "without indicators %s", sorted(only_ind), sorted(only_perf))
    joined = ind.join(perf, on=dataset, how="inner")
    rng = np.random.default_rng(seed)
    rows = []
    for ic in ind_cols:
        xs = joined[ic].to_numpy().astype(float)
        for bc in dims:
            ys = joined[bc].to_numpy().astype(float)
            ok = np.isfinite(xs) & np.isfinite(ys)
            x, y = xs[ok], ys[ok]
            n = int(ok.sum())
            r = _r(x, y, method) if n >= 3 else float("nan")
            p = t_test_p(r, n)
            row = {"indicator": ic, "benchmark": bc, "r": r, "p": p, "n": n, "stars": stars(p)}
            if bootstrap:
                row["ci_low"], row["ci_high"] = _bootstrap_ci(x, y, method, bootstrap,
                                                              confidence, rng)
            rows.append(row)
    schema = {"indicator": pl.Utf8, "benchmark": pl.Utf8, "r": pl.Float64, "p": pl.Float64,
              "n": pl.Int64, "stars": pl.Utf8}
    if bootstrap:
        schema.update(ci_low=pl.Float64, ci_high=pl.Float64)
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _bootstrap_ci(x, y, method, b, confidence, rng) -> tuple[float, float]:
    n = len(x)
    if n < 3:
        return float("nan"), float("nan")
    idx = rng.integers(0, n, (b, n))
    xs, ys = x[idx], y[idx]
    if method == "spearman":
        from scipy.stats import rankdata

        xs, ys = rankdata(xs, axis=1), rankdata(ys, axis=1)
    xs = xs - xs.mean(axis=1, keepdims=True)
    ys = ys - ys.mean(axis=1, keepdims=True)
    den = np.sqrt((xs * xs).sum(axis=1) * (ys * ys).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rs = np.clip((xs * ys).sum(axis=1) / den, -1.0, 1.0)
    rs = rs[np.isfinite(rs) & (den > 0)]  # a resample with a constant column has no r
    if len(rs) == 0:
        return float("nan"), float("nan")
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(rs, [a, 1.0 - a])
    return float(lo), float(hi)


def correlation_matrix(table: pl.DataFrame, value: str = "r") -> pl.DataFrame:
    """The correlate() table pivoted to indicators × benchmarks (rows keep the table's order)."""
    return table.pivot(on="benchmark", index="indicator", values=value, aggregate_function=None)


# ----------------------------------------------------------------------------------------- ICC
def _ratings_array(ratings: Any) -> np.ndarray:
    if isinstance(ratings, (str, os.PathLike)) or type(ratings).__module__.startswith(
            ("pandas", "polars")) or isinstance(ratings, dict):
        frame = as_frame(ratings)
        cols = _numeric_columns(frame, ())
        arr = frame.select(cols).to_numpy().astype(float)
    else:
        arr = np.asarray(ratings, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"ratings must be 2-D (targets × raters), got shape {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        logger.warning("ICC: %d target(s) with missing ratings left out", int(bad.sum()))
        arr = arr[~bad]
    n, k = arr.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 targets and 2 raters, got {n} × {k}")
    return arr


def _normalise_form(form: str, k: int) -> str:
    f = str(form).strip().lower().replace(" ", "").replace("(", "").replace(")", "")
    f = f.removeprefix("icc")
    if f in ("1", "2", "3"):
        f += ",1"
    elif len(f) == 2 and f[0] in "123" and f[1] == "k":
        f = f[0] + ",k"
    if "," in f:
        a, b = f.split(",", 1)
        if b == str(k) and k != 1:
            b = "k"
        f = f"{a},{b}"
    if f not in FORMS:
        raise ValueError(f"unknown ICC form {form!r}; use one of {', '.join(FORMS)} or 'all'")
    return f


def anova_mean_squares(ratings: Any) -> dict[str, float]:
    """Mean squares of the two-way ANOVA without replication (Shrout & Fleiss 1979, Table 1).

    ``BMS`` between targets, ``JMS`` between raters (judges), ``EMS`` residual, ``WMS`` within
    targets (one-way), with ``n`` targets and ``k`` raters.
    """
    x = _ratings_array(ratings)
    n, k = x.shape
    g = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - g) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - g) ** 2).sum())
    ss_tot = float(((x - g) ** 2).sum())
    ss_err = ss_tot - ss_rows - ss_cols
    return {"n": n, "k": k, "BMS": ss_rows / (n - 1), "JMS": ss_cols / (k - 1),
            "EMS": ss_err / ((n - 1) * (k - 1)), "WMS": (ss_cols + ss_err) / (n * (k - 1))}


def icc(ratings: Any, form: str = "3,1", *, confidence: float = 0.95):
    """Intraclass correlation of ratings (rows = targets, columns = raters).

    In vlitq's validation the targets are benchmark dimensions and the raters are the tuned models;
    the paper reports ICC(3,1) and ICC(3,k).

    Parameters
    ----------
    ratings : array-like, polars/pandas DataFrame or path
        2-D, ``n`` targets × ``k`` raters (numeric columns of a frame; a text column such as the
        dimension name is ignored). Targets with a missing rating are left out (with a warning).
    form : str
        ``"1,1"``, ``"1,k"``, ``"2,1"``, ``"2,k"``, ``"3,1"``, ``"3,k"`` (Shrout & Fleiss 1979;
        ``"ICC3k"`` and ``"3,4"`` for k = 4 raters are accepted too), or ``"all"``.
    confidence : float
        Level of the confidence intervals of ``form="all"``.

    Returns
    -------
    float or polars.DataFrame
        The coefficient; with ``form="all"`` a table with one row per form: ``form``, ``type``
        (psych's name), ``description``, ``icc``, ``F``, ``df1``, ``df2``, ``p`` (F test of
        ICC = 0) and the interval ``ci_low``/``ci_high`` (Shrout & Fleiss 1979; McGraw & Wong
        1996; the approximate interval for ICC(2,·)).

    Notes
    -----
    With mean squares BMS (targets), JMS (raters), EMS (residual), WMS (within targets)::

        ICC(1,1) = (BMS - WMS) / (BMS + (k-1) WMS)
        ICC(2,1) = (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS) / n)
        ICC(3,1) = (BMS - EMS) / (BMS + (k-1) EMS)
        ICC(1,k) = (BMS - WMS) / BMS
        ICC(2,k) = (BMS - EMS) / (BMS + (JMS - EMS) / n)
        ICC(3,k) = (BMS - EMS) / BMS

    Examples
    --------
    Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.

    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> [round(icc(sf, f), 2) for f in ("1,1", "2,1", "3,1", "1,k", "2,k", "3,k")]
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    """
    ms = anova_mean_squares(ratings)
    if str(form).lower() == "all":
        return _icc_table(ms, confidence)
    return _icc_value(ms, _normalise_form(form, ms["k"]))


def _icc_value(ms: dict, form: str) -> float:
    n, k, b, j, e, w = ms["n"], ms["k"], ms["BMS"], ms["JMS"], ms["EMS"], ms["WMS"]
    num_den = {
        "1,1": (b - w, b + (k - 1) * w),
        "2,1": (b - e, b + (k - 1) * e + k * (j - e) / n),
        "3,1": (b - e, b + (k - 1) * e),
        "1,k": (b - w, b),
        "2,k": (b - e, b + (j - e) / n),
        "3,k": (b - e, b),
    }[form]
    return float(num_den[0] / num_den[1]) if num_den[1] != 0 else float("nan")


def _icc_table(ms: dict, confidence: float) -> pl.DataFrame:
    from scipy.stats import f as f_dist

    n, k, b, j, e, w = ms["n"], ms["k"], ms["BMS"], ms["JMS"], ms["EMS"], ms["WMS"]
    a = (1.0 - confidence) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1, df1_1, df2_1 = b / w, n - 1, n * (k - 1)
        f3, df1_3, df2_3 = b / e, n - 1, (n - 1) * (k - 1)
        p1 = float(f_dist.sf(f1, df1_1, df2_1))
        p3 = float(f_dist.sf(f3, df1_3, df2_3))
        f1l = f1 / f_dist.ppf(1 - a, df1_1, df2_1)
        f1u = f1 * f_dist.ppf(1 - a, df2_1, df1_1)
        f3l = f3 / f_dist.ppf(1 - a, df1_3, df2_3)
        f3u = f3 * f_dist.ppf(1 - a, df2_3, df1_3)
        # ICC(2,1): Satterthwaite-type degrees of freedom (Shrout & Fleiss 1979, eq. 12-13).
        r2 = _icc_value(ms, "2,1")
        fj = j / e
        vn = (k - 1) * (n - 1) * (k * r2 * fj + n * (1 + (k - 1) * r2) - k * r2) ** 2
        vd = (n - 1) * k ** 2 * r2 ** 2 * fj ** 2 + (n * (1 + (k - 1) * r2) - k * r2) ** 2
        v = vn / vd
        fs = f_dist.ppf(1 - a, n - 1, v)
        fss = f_dist.ppf(1 - a, v, n - 1)
        l2 = n * (b - fs * e) / (fs * (k * j + (k * n - k - n) * e) + n * b)
        u2 = n * (fss * b - e) / (k * j + (k * n - k - n) * e + n * fss * b)
    ci = {
        "1,1": ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        "2,1": (l2, u2),
        "3,1": ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        "1,k": (1 - 1 / f1l, 1 - 1 / f1u),
        "2,k": (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        "3,k": (1 - 1 / f3l, 1 - 1 / f3u),
    }
    rows = []
    for form in ("1,1", "2,1", "3,1", "1,k", "2,k", "3,k"):  # psych's order
        one = form.startswith("1")
        rows.append({
            "form": form, "type": _FORM_INFO[form][0], "description": _FORM_INFO[form][1],
            "icc": _icc_value(ms, form), "F": float(f1 if one else f3),
            "df1": int(df1_1 if one else df1_3), "df2": int(df2_1 if one else df2_3),
            "p": p1 if one else p3,
            "ci_low": float(ci[form][0]), "ci_high": float(ci[form][1]),
        })
    return pl.DataFrame(rows)


def model_consistency(performance: Any, forms: Sequence[str] = ("3,1", "3,k"), *,
                      dataset: str = "dataset", model: str = "model") -> pl.DataFrame:
    """ICC across models for each dataset: rows = benchmark dimensions, raters = models.

    ``performance`` has one row per (dataset, model) and one numeric column per benchmark
    dimension (the table :func:`correlate` takes). Returns one row per dataset with ``n_models``,
    ``n_dimensions`` and one column per form (``icc_3_1``, ``icc_3_k`` ...).

    >>> perf = {"dataset": ["a"] * 3, "model": ["llava", "blip2", "flamingo"],
    ...         "scene": [60.0, 50.0, 40.0], "count": [30.0, 22.0, 15.0], "ocr": [20.0, 11.0, 9.0]}
    >>> round(model_consistency(perf)["icc_3_1"][0], 3)
    0.983
    """
    frame = as_frame(performance)
    for col in (dataset, model):
        if col not in frame.columns:
            raise ValueError(f"performance has no {col!r} column")
    dims = _numeric_columns(frame, (dataset, model))
    rows = []
    for (name,), part in frame.group_by(dataset, maintain_order=True):
        part = part.group_by(model, maintain_order=True).agg(pl.col(dims).mean())
        ratings = part.select(dims).to_numpy().astype(float).T  # dimensions × models
        row: dict[str, Any] = {dataset: name, "n_models": part.height, "n_dimensions": len(dims)}
        for form in forms:
            key = "icc_" + _normalise_form(form, part.height).replace(",", "_")
            try:
                row[key] = icc(ratings, form)
            except ValueError as exc:
                logger.warning("ICC of dataset %r: %s", name, exc)
                row[key] = float("nan")
        rows.append(row)
    return pl.DataFrame(rows)
