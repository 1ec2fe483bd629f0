"""``vlitq.filter``: turn a report's columns into a kept subset, with a reason for every drop.

Samples are identified by their **row** in the report (row-aligned with the dataset), never by
their id alone, so a dataset with colliding ids cannot have a dropped sample written back.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from vlitq.select.rules import (
    OPTIONS,
    NotEvaluatedError,
    UnknownColumnError,
    error_count_column,
    evaluate,
    evaluate_by,
    not_evaluated_mask,
    parse_rules,
)
from vlitq.select.selection import DROP_SCHEMA, Selection
from vlitq.select.strategies import StrategyContext, create_strategy, strategy_names


def _fmt(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def __getattr__(name):  # STRATEGIES was a tuple; it is the registry's names now
    if name == "STRATEGIES":
        return tuple(strategy_names())
    raise AttributeError(name)


def filter(report, rules: dict | None = None, *, strategy: dict | str | None = None,
           dataset=None, seed: int = 0) -> Selection:
    """Select samples from a scored dataset.

    Parameters
    ----------
    report : Report
        From :func:`vlitq.score` (its per-sample columns are what rules test).
    rules : dict, optional
        ``{column: {op: value}}`` (see :mod:`vlitq.select.rules`), applied in order; a sample
        is dropped by the first rule it fails. A rules file's ``[rules]`` table has this shape.
    strategy : dict or str, optional
        Applied to the survivors: ``{"name": "balanced", "n": 1000}``,
        ``{"name": "top_k", "n": 1000, "weights": {"matching": 1, "elements": 0.5}}``,
        ``{"name": "diverse", "threshold": 0.1, "weights": {...}, "n": None,
        "model": "all-MiniLM-L6-v2"}`` (needs ``dataset`` for the texts), or
        ``{"name": "quota", "per_task": 200, "weights": {...}}`` (at most that many per task,
        best first; random when no weights).
    dataset : Dataset, optional
        Needed by ``diverse`` (texts to embed).
    seed : int
        Seed of every random choice (``balanced``, ``quota`` without weights).

    Raises
    ------
    NotEvaluatedError
        A rule's column was not computed for some samples still in, because its component
        could not run (model missing, load failure), or was never computed at all; set
        ``keep_null`` or ``not_evaluated`` on the rule to decide, or fix the component.
    ConfigError
        A malformed rule or strategy; :class:`~vlitq.select.rules.UnknownColumnError` (also a
        ``KeyError``) for a column the report does not have.

    Examples
    --------
    >>> import vlitq
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> ds = Dataset.from_records([make_sample(str(i), [("Q?", "a" * i)]) for i in range(1, 6)])
    >>> rep = vlitq.score(ds, ["text_stats"], cache=False, progress=False)
    >>> sel = vlitq.filter(rep, {"text_stats": {"min": 3}})
    >>> sel.kept, sel.dropped["rule"].to_list()
    (['3', '4', '5'], ['text_stats >= 3', 'text_stats >= 3'])
    """
    samples = report.samples
    ids = samples["sample_id"].to_list()
    n = len(ids)
    if dataset is not None:
        check_aligned(report, dataset)
    alive = np.ones(n, dtype=bool)
    drops: list[dict] = []
    parsed = parse_rules(rules)
    keep_null = {r.column: bool(r.value) for r in parsed if r.op == "keep_null"}
    policy = {r.column: r.value for r in parsed if r.op == "not_evaluated"}
    group_by = {r.column: r.value for r in parsed if r.op == "by"}
    not_evaluated: dict[str, dict] = {}
    for rule in parsed:
        if rule.op in OPTIONS:
            continue
        col = rule.column
        if col == "errors":
            values = error_count_column(samples)
            ne = np.zeros(n, dtype=bool)
            reasons: list = [None] * n
            skipped = _component_errors(report, alive)
            if skipped:
                not_evaluated["errors"] = skipped
        elif col in samples.columns:
            values = samples[col]
            ne, reasons = _not_evaluated(report, col)
        else:
            raise UnknownColumnError(
                f"rule on {col!r}: no such column in the report (columns: "
                f"{', '.join(c for c in samples.columns if not c.endswith('_error'))}, errors)")
        what = policy.get(col, "keep" if keep_null.get(col) else "error")
        live_ne = alive & ne
        if live_ne.any() and what == "error":
            first = [i for i in np.flatnonzero(live_ne)[:3]]
            raise NotEvaluatedError(
                f"rule {rule.describe()!r} cannot be decided for {int(live_ne.sum())} of "
                f"{int(alive.sum())} samples: {reasons[first[0]]} (e.g. "
                f"{', '.join(str(ids[i]) for i in first)}). Fix the component, or set "
                f"keep_null = true / not_evaluated = \"drop\" on the rule.")
        evaluated = alive & ~ne
        sub = values.filter(pl.Series(evaluated))
        if what == "error" and evaluated.any() and col != "errors" \
                and sub.null_count() == sub.len() and not keep_null.get(col):
            raise NotEvaluatedError(
                f"rule {rule.describe()!r}: column {col!r} has no value for any of the "
                f"{int(evaluated.sum())} samples still in (never computed); it would keep 0. "
                f"Check that its component ran, or set keep_null = true.")
        # quantiles are taken over the evaluated samples still alive, in rule order (within
        # each group when the rule has ``by``)
        by = group_by.get(col) if rule.op in ("quantile_min", "quantile_max") else None
        thr_of = None
        if by is not None:
            groups = group_labels(report, by)
            ev_rows = np.flatnonzero(evaluated)
            mask_sub, thr_sub = evaluate_by(rule, sub, [groups[i] for i in ev_rows],
                                            keep_null.get(col, False))
            thr_of = dict(zip(ev_rows.tolist(), thr_sub))
            thr = None
        else:
            mask_sub, thr = evaluate(rule, sub, keep_null.get(col, False))
        mask = np.ones(n, dtype=bool)
        mask[np.flatnonzero(evaluated)] = mask_sub.to_numpy()
        if live_ne.any():
            mask[live_ne] = what == "keep"
            not_evaluated[col] = {"n": int(live_ne.sum()), "action": what,
                                  "reason": reasons[int(np.flatnonzero(live_ne)[0])]}
        newly = alive & ~mask
        vals = values.to_list()
        desc = rule.describe(thr)
        for i in np.flatnonzero(newly):
            t = thr if thr_of is None else thr_of.get(int(i))
            if ne[i]:
                reason = f"{col} not evaluated: {reasons[i]}"
            elif thr_of is not None:
                reason = rule.describe(t, by=f"{by} {groups[i]}")
            else:
                reason = desc
            drops.append({"sample_id": ids[i], "row": int(i), "stage": "rule", "rule": reason,
                          "column": col, "value": _fmt(vals[i]), "threshold": _fmt(t)})
        alive &= mask
    strat = None
    if strategy is not None:
        strat = create_strategy(strategy, seed=seed)
        rows = [int(i) for i in np.flatnonzero(alive)]
        labels_all = task_labels(report)
        ctx = StrategyContext(samples=samples[rows] if rows else samples.clear(), rows=rows,
                              labels=[labels_all[r] for r in rows], dataset=dataset,
                              seed=seed)
        kept_pos, why = strat.select(ctx)
        kept_set = {int(k) for k in kept_pos}
        default = strat.default_reason()
        for j, r in enumerate(rows):
            if j not in kept_set:
                drops.append({"sample_id": ids[r], "row": r, "stage": strat.name,
                              "rule": why.get(j, default), "column": None, "value": None,
                              "threshold": None})
                alive[r] = False
    kept_rows = [int(i) for i in np.flatnonzero(alive)]
    return Selection(
        kept=[ids[i] for i in kept_rows],
        kept_rows=kept_rows,
        dropped=pl.DataFrame(drops, schema=DROP_SCHEMA),
        rules=rules or {},
        strategy=strat.spec() if strat is not None else None,
        n_input=n,
        not_evaluated=not_evaluated,
        indicators_before={r["indicator"]: r["value"]
                           for r in report.indicators.iter_rows(named=True)},
    )


def owner_of(column: str, names) -> str | None:
    """The component whose output ``column`` is (``<name>`` or ``<name>_*``; longest name).

    >>> owner_of("duplicates_pair", ["duplicates", "text_stats"])
    'duplicates'
    """
    match = [n for n in names if column == n or column.startswith(n + "_")]
    return max(match, key=len) if match else None


def _not_evaluated(report, col: str) -> tuple[np.ndarray, list]:
    """Rows where ``col``'s component did not run (and so ``col`` is null), with reasons."""
    from vlitq import registry
    from vlitq.scorers.base import NOT_EVALUATED

    samples = report.samples
    n = samples.height
    owner = owner_of(col, registry.names())
    ne = np.zeros(n, dtype=bool)
    reasons: list = [None] * n
    if owner is None:
        return ne, reasons
    null = samples[col].is_null().to_numpy()
    err_col = f"{owner}_error"
    if err_col in samples.columns and err_col != col:
        m = not_evaluated_mask(samples, err_col).to_numpy() & null
        errs = samples[err_col].to_list()
        for i in np.flatnonzero(m):
            reasons[i] = errs[i][len(NOT_EVALUATED):]
        ne |= m
    errors = report.errors
    if errors.height and "cause" in errors.columns:
        comp = errors.filter((pl.col("scorer") == owner) & (pl.col("cause") == "component"))
        if comp.height:
            why = dict(zip(comp["sample_id"].to_list(), comp["reason"].to_list()))
            for i, sid in enumerate(samples["sample_id"].to_list()):
                if null[i] and sid in why and not ne[i]:
                    ne[i] = True
                    reasons[i] = why[sid].removeprefix(NOT_EVALUATED)
    return ne, reasons


def _component_errors(report, alive) -> dict | None:
    """Components that did not run on samples still in: the ``errors`` rule does not count
    them as defects, and the selection says so."""
    errors = report.errors
    if not errors.height or "cause" not in errors.columns:
        return None
    comp = errors.filter(pl.col("cause") == "component")
    if not comp.height:
        return None
    ids = report.samples["sample_id"].to_list()
    live = {ids[i] for i in np.flatnonzero(alive)}
    comp = comp.filter(pl.col("sample_id").is_in(pl.Series(sorted(live), dtype=pl.Utf8)
                                                 .implode()))
    if not comp.height:
        return None
    who = sorted(set(comp["scorer"].to_list()))
    return {"n": int(comp["sample_id"].n_unique()), "action": "not counted as defects",
            "components": who, "reason": comp["reason"][0]}


def check_aligned(report, dataset) -> None:
    """Refuse a report that does not describe ``dataset`` row by row."""
    if len(dataset) != report.samples.height:
        raise ValueError(f"the report has {report.samples.height} samples, the dataset "
                         f"{len(dataset)}: it was not computed on this dataset")
    if dataset.frame["sample_id"].to_list() != report.samples["sample_id"].to_list():
        raise ValueError("the report's sample ids differ from the dataset's (another dataset, "
                         "or another order): score this dataset, or pass its own report")


def group_labels(report, by: str) -> list[str]:
    """Group of every row for a rule's ``by``: ``"task"`` gives :func:`task_labels`, another
    name a per-sample column of the report (its values as text; null is a group of its own)."""
    if by == "task":
        return task_labels(report)
    if by not in report.samples.columns:
        raise UnknownColumnError(
            f"rule option by = {by!r}: no such per-sample column in the report (use \"task\" "
            f"for the task labels){_suggest_column(by, report.samples.columns)}")
    return ["null" if v is None else str(v) for v in report.samples[by].to_list()]


def task_labels(report) -> list[str]:
    """Task label of every row of the report ("all" when it has none), computed once."""
    col = report.info.get("task_column", "task")
    s = report.samples
    if col in s.columns and s[col].null_count() < s.height:
        return ["unlabelled" if t is None else str(t) for t in s[col].to_list()]
    return ["all"] * s.height


def _suggest_column(col: str, names) -> str:
    import difflib

    close = difflib.get_close_matches(col, list(names) + ["errors"], n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
