"""Release gates: dataset-level conditions a report must meet (``vlitq check``).

A gate has the rules' shape, on dataset-level names instead of per-sample columns::

    matching = { min = 28 }          # Report.indicator("matching") >= 28
    balance = { max = 15 }
    errors = { max = 0 }             # total rows in Report.errors
    "errors.image_check" = { max = 2 }
    n_samples = { min = 1000 }
    "response_diversity.noise_share" = { max = 0.3 }   # a figure in an indicator's details
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_CMP = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_ALIAS = {"min": ">=", "max": "<=", "eq": "==", "ne": "!="}


@dataclass
class GateResult:
    """Outcome of :func:`check`: ``passed`` and one row per condition in ``checks``."""

    passed: bool
    checks: pl.DataFrame

    def summary(self) -> str:
        lines = [f"gate {'PASSED' if self.passed else 'FAILED'}"]
        for r in self.checks.iter_rows(named=True):
            mark = "ok  " if r["passed"] else "FAIL"
            v = "missing" if r["value"] is None else f"{r['value']:.6g}"
            lines.append(f"  [{mark}] {r['name']} = {v} (required {r['op']} {r['threshold']:g})")
        return "\n".join(lines)


def gate_value(report, name: str) -> float | None:
    """The dataset-level value a gate condition tests."""
    if name == "n_samples":
        return float(report.samples.height)
    if name == "errors":
        return float(report.errors.height)
    if name.startswith("errors."):
        return float(report.error_counts().get(name.split(".", 1)[1], 0))
    v = report.indicator(name)
    if v is not None or name in report.indicators["indicator"].to_list():
        return v
    if "." in name:
        ind, key = name.split(".", 1)
        d = report.details(ind)
        if key in d and isinstance(d[key], (int, float)):
            return float(d[key])
    return None


def check(report, gate: dict) -> GateResult:
    """Test ``report`` against ``gate`` (``{name: {op: value}}``). A missing value fails.

    >>> import vlitq
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> rep = vlitq.score(Dataset.from_records([make_sample("a", [("Q?", "")])]),
    ...                   ["text_stats"], cache=False, progress=False)
    >>> check(rep, {"errors": {"max": 0}}).passed
    False
    """
    rows = []
    for name, conds in gate.items():
        if not isinstance(conds, dict):
            raise ValueError(f"gate {name!r}: expected {{op: value}}, got {conds!r}")
        for op, thr in conds.items():
            op = _ALIAS.get(op, op)
            if op not in _CMP:
                raise ValueError(f"gate {name!r}: unknown operator {op!r}; use min/max/>=/<=/>/</==/!=")
            v = gate_value(report, name)
            ok = v is not None and _CMP[op](v, float(thr))
            rows.append({"name": name, "op": op, "threshold": float(thr), "value": v,
                         "passed": ok})
    df = pl.DataFrame(rows, schema={"name": pl.Utf8, "op": pl.Utf8, "threshold": pl.Float64,
                                    "value": pl.Float64, "passed": pl.Boolean})
    return GateResult(passed=bool(df["passed"].all()) if df.height else True, checks=df)
