"""Filter rules as data: ``{column: {op: value}}``.

Operators (on per-sample columns of a :class:`~vlitq.report.Report`):

===============  ==================================================================
``min``/``>=``   keep values >= v          ``max``/``<=``  keep values <= v
``>``            keep values > v           ``<``           keep values < v
``eq``/``==``    keep values == v          ``ne``/``!=``   keep values != v
``in``           keep values in a list     ``not_in``      keep values not in a list
``quantile_min`` drop the bottom q share   ``quantile_max`` drop the top q share
``not_null``     (true) drop nulls         ``keep_null``   (true) nulls pass the rule
``by``           a quantile within each group: ``"task"`` (the report's task labels) or a
                 per-sample column
===============  ==================================================================

``{"matching": {"quantile_min": 0.5, "by": "task"}}`` drops the bottom half of *each task*
(⌊q·n_t⌋ of its n_t samples), not the bottom half overall: a score whose level differs by task
(CLIP matching is higher for some kinds of question) then ranks samples against samples of the
same kind instead of selecting whole tasks.

A null value fails every rule except ``keep_null``, because a sample that could not be scored
has not shown it meets the bar. The pseudo-column ``errors`` counts a sample's *defects*: its
``read_error`` and every ``<scorer>_error`` of cause ``"sample"`` (broken image, empty
response): ``{"errors": {"max": 0}}`` drops anything with a defect.

A component that could not run (model missing, load failure: cause ``"component"``) says
nothing about the sample: its rows are **not evaluated**. A rule on such a column raises
:class:`NotEvaluatedError` (the CLI exits 2) instead of dropping or keeping them silently,
unless the rule says what to do with them: ``keep_null = true`` keeps them (as every null),
``not_evaluated = "drop"`` / ``"keep"`` drops / keeps only them. A rule on a column that has no
value at all (never computed) is not evaluated either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from vlitq.config import ConfigError

OPS = {
    "min": ">=", ">=": ">=", "max": "<=", "<=": "<=", ">": ">", "<": "<", "eq": "==", "==": "==",
    "ne": "!=", "!=": "!=", "in": "in", "not_in": "not_in", "quantile_min": "quantile_min",
    "quantile_max": "quantile_max", "not_null": "not_null", "keep_null": "keep_null",
    "not_evaluated": "not_evaluated", "by": "by",
}
#: Options of a rule, not conditions.
OPTIONS = ("keep_null", "not_evaluated", "by")
NOT_EVALUATED_CHOICES = ("error", "drop", "keep")


class UnknownColumnError(ConfigError, KeyError):
    """A rule names a column the report does not have (also a ``KeyError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotEvaluatedError(ValueError):
    """A rule cannot be decided for some samples: the component that computes its column did
    not run on them (or the column was never computed). The CLI exits with status 2."""


@dataclass(frozen=True)
class Rule:
    """One condition: keep the samples whose ``column`` satisfies ``op value``."""

    column: str
    op: str
    value: Any

    def describe(self, threshold: Any = None, by: str | None = None) -> str:
        v = self.value if threshold is None else threshold
        if self.op in ("quantile_min", "quantile_max"):
            side = "bottom" if self.op == "quantile_min" else "top"
            within = f" of its {by}" if by else ""
            return f"{self.column} in the {side} {self.value:g} share{within} (<= {v!r})" \
                if side == "bottom" else \
                f"{self.column} in the top {self.value:g} share{within} (>= {v!r})"
        return f"{self.column} {self.op} {v!r}"


def parse_rules(rules: dict | None) -> list[Rule]:
    """``{column: {op: value}}`` → rules; unknown operators fail with the valid ones.

    >>> parse_rules({"matching": {"min": 20, "keep_null": False}})
    [Rule(column='matching', op='>=', value=20), Rule(column='matching', op='keep_null', value=False)]
    """
    out = []
    if rules is not None and not isinstance(rules, dict):
        raise ConfigError(f"rules: expected {{column: {{op: value}}}}, got {rules!r}")
    for col, conds in (rules or {}).items():
        if not isinstance(conds, dict):
            conds = {"eq": conds}
        if not conds:
            raise ConfigError(f"rule on {col!r}: no condition")
        for op, v in conds.items():
            if op not in OPS:
                raise ConfigError(f"rule on {col!r}: unknown operator {op!r}; "
                                  f"valid: {', '.join(sorted(OPS))}")
            if OPS[op] in ("quantile_min", "quantile_max"):
                try:
                    ok = 0 <= float(v) < 1
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    raise ConfigError(f"rule on {col!r}: {op} must be a share in [0, 1), "
                                      f"got {v!r}")
            elif OPS[op] in ("in", "not_in") and not isinstance(v, (list, tuple, set)):
                raise ConfigError(f"rule on {col!r}: {op} needs a list, got {v!r}")
            elif OPS[op] in (">=", "<=", ">", "<") and (isinstance(v, bool) or not
                                                       isinstance(v, (int, float))):
                raise ConfigError(f"rule on {col!r}: {op} needs a number, got {v!r}")
            elif OPS[op] == "by" and not (isinstance(v, str) and v):
                raise ConfigError(f"rule on {col!r}: by needs a column name (or \"task\"), "
                                  f"got {v!r}")
            elif OPS[op] == "by" and not any(OPS.get(o) in ("quantile_min", "quantile_max")
                                             for o in conds):
                raise ConfigError(f"rule on {col!r}: by applies to quantile_min / "
                                  f"quantile_max only")
            elif OPS[op] == "not_evaluated" and v not in NOT_EVALUATED_CHOICES:
                raise ConfigError(f"rule on {col!r}: not_evaluated must be one of "
                                  f"{', '.join(NOT_EVALUATED_CHOICES)}, got {v!r}")
            out.append(Rule(col, OPS[op], v))
    return out


def error_columns(samples: pl.DataFrame) -> list[str]:
    return [c for c in samples.columns if (c == "read_error" or c.endswith("_error"))
            and samples[c].dtype in (pl.Utf8, pl.Null)]


def error_count_column(samples: pl.DataFrame) -> pl.Series:
    """Per sample, how many of its error columns hold a *defect* (cause ``"sample"``); errors
    of components that could not run are not counted (see :func:`not_evaluated_mask`).

    >>> from vlitq.scorers.base import component_error
    >>> df = pl.DataFrame({"a_error": [None, "broken", component_error("no model")],
    ...                    "read_error": [None, None, None]})
    >>> error_count_column(df).to_list()
    [0, 1, 0]
    """
    from vlitq.scorers.base import NOT_EVALUATED

    cols = error_columns(samples)
    if not cols:
        return pl.Series("errors", [0] * samples.height, dtype=pl.Int64)
    return samples.select(
        pl.sum_horizontal([
            (pl.col(c).is_not_null()
             & ~pl.col(c).cast(pl.Utf8).str.starts_with(NOT_EVALUATED).fill_null(False))
            .cast(pl.Int64) for c in cols]).alias("errors")
    )["errors"]


def not_evaluated_mask(samples: pl.DataFrame, owner_error: str | None) -> pl.Series:
    """True where the component writing ``owner_error`` (``<name>_error``) did not run."""
    from vlitq.scorers.base import NOT_EVALUATED

    if owner_error is None or owner_error not in samples.columns:
        return pl.Series([False] * samples.height)
    return samples[owner_error].cast(pl.Utf8).str.starts_with(NOT_EVALUATED).fill_null(False)


def evaluate_by(rule: Rule, values: pl.Series, groups: list, keep_null: bool
                ) -> tuple[pl.Series, list]:
    """:func:`evaluate` of a quantile rule within each group of ``groups`` (one label per
    value): the mask, and per value the threshold of its group.

    >>> r = Rule("m", "quantile_min", 0.5)
    >>> mask, thr = evaluate_by(r, pl.Series([1.0, 2.0, 10.0, 20.0]), ["a", "a", "b", "b"],
    ...                         False)
    >>> mask.to_list(), thr
    ([False, True, False, True], [1.0, 1.0, 10.0, 10.0])
    """
    mask = [False] * values.len()
    thr: list = [None] * values.len()
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    for idx in members.values():
        m, t = evaluate(rule, values.gather(idx), keep_null)
        for i, keep in zip(idx, m.to_list()):
            mask[i], thr[i] = bool(keep), t
    return pl.Series(mask, dtype=pl.Boolean), thr


def evaluate(rule: Rule, values: pl.Series, keep_null: bool) -> tuple[pl.Series, Any]:
    """Boolean mask of samples passing ``rule`` and the effective threshold."""
    s = values
    thr: Any = rule.value
    op = rule.op
    if op in OPTIONS:
        return pl.Series([True] * s.len()), None
    if s.dtype == pl.Null:  # no value at all: every comparison is null
        return pl.Series([keep_null] * s.len(), dtype=pl.Boolean), None
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
