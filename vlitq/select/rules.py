"""Filter rules as data: ``{column: {op: value}}``.

Operators (on per-sample columns of a :class:`~vlitq.report.Report`):

===============  ==================================================================
``min``/``>=``   keep values >= v          ``max``/``<=``  keep values <= v
``>``            keep values > v           ``<``           keep values < v
``eq``/``==``    keep values == v          ``ne``/``!=``   keep values != v
``in``           keep values in a list     ``not_in``      keep values not in a list
``quantile_min`` drop the bottom q share   ``quantile_max`` drop the top q share
``not_null``     (true) drop nulls         ``keep_null``   (true) nulls pass the rule
===============  ==================================================================

A null value fails every rule except ``keep_null``, because a sample that could not be scored
has not shown it meets the bar. The pseudo-column ``errors`` counts a sample's error columns
(``read_error`` and every ``<scorer>_error``): ``{"errors": {"max": 0}}`` drops anything with
an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

OPS = {
    "min": ">=", ">=": ">=", "max": "<=", "<=": "<=", ">": ">", "<": "<", "eq": "==", "==": "==",
    "ne": "!=", "!=": "!=", "in": "in", "not_in": "not_in", "quantile_min": "quantile_min",
    "quantile_max": "quantile_max", "not_null": "not_null", "keep_null": "keep_null",
}


@dataclass(frozen=True)
class Rule:
    """One condition: keep the samples whose ``column`` satisfies ``op value``."""

    column: str
    op: str
    value: Any

    def describe(self, threshold: Any = None) -> str:
        v = self.value if threshold is None else threshold
        if self.op in ("quantile_min", "quantile_max"):
            side = "bottom" if self.op == "quantile_min" else "top"
            return f"{self.column} in the {side} {self.value:g} share (<= {v!r})" if side == "bottom" \
            else f"{self.column} in the top {self.value:g} share (>= {v!r})"
        return f"{self.column} {self.op} {v!r}"


def parse_rules(rules: dict | None) -> list[Rule]:
    """``{column: {op: value}}`` → rules; unknown operators fail with the valid ones.

    >>> parse_rules({"matching": {"min": 20, "keep_null": False}})
    [Rule(column='matching', op='>=', value=20), Rule(column='matching', op='keep_null', value=False)]
    """
    out = []
    for col, conds in (rules or {}).items():
        if not isinstance(conds, dict):
            conds = {"eq": conds}
        for op, v in conds.items():
            if op not in OPS:
                raise ValueError(f"rule on {col!r}: unknown operator {op!r}; valid: {sorted(OPS)}")
            if OPS[op] in ("quantile_min", "quantile_max") and not 0 <= float(v) < 1:
                raise ValueError(f"rule on {col!r}: {op} must be a share in [0, 1), got {v!r}")
            out.append(Rule(col, OPS[op], v))
    return out


def error_count_column(samples: pl.DataFrame) -> pl.Series:
    cols = [c for c in samples.columns if c == "read_error" or c.endswith("_error")]
    if not cols:
        return pl.Series("errors", [0] * samples.height, dtype=pl.Int64)
    return samples.select(
        pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int64) for c in cols]).alias("errors")
    )["errors"]


def evaluate(rule: Rule, values: pl.Series, keep_null: bool) -> tuple[pl.Series, Any]:
    """Boolean mask of samples passing ``rule`` and the effective threshold."""
    s = values
    thr: Any = rule.value
    op = rule.op
    if op == "keep_null":
        return pl.Series([True] * s.len()), None
    if op == "not_null":
        return s.is_not_null() if rule.value else pl.Series([True] * s.len()), None
    if op in ("quantile_min", "quantile_max"):
        # Exactly floor(q * n) of the scored samples are dropped, lowest (highest) first; ties
        # are broken by sample order so the same input always gives the same subset.
        num = s.cast(pl.Float64, strict=False)
        k = int(float(rule.value) * int(num.is_not_null().sum()))
        key = num if op == "quantile_min" else -num
        rank = key.rank("ordinal")  # nulls keep a null rank
        mask = rank > k
        dropped = num.filter(rank <= k)
        thr = (dropped.max() if op == "quantile_min" else dropped.min()) if k else None
    elif op == "in":
        mask = s.is_in(pl.Series(list(rule.value)).implode())
    elif op == "not_in":
        mask = ~s.is_in(pl.Series(list(rule.value)).implode())
    else:
        v = rule.value
        mask = {">=": s >= v, "<=": s <= v, ">": s > v, "<": s < v, "==": s == v,
                "!=": s != v}[op]
    mask = mask.fill_null(keep_null)
    return mask, thr
