"""``instruction_type_diversity``: normalised entropy of the instruction-type distribution."""
from __future__ import annotations

import math
from collections import Counter

from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register


def normalised_entropy(counts: dict[str, int], n_categories: int) -> float | None:
    """Shannon entropy of ``counts`` divided by ``ln(n_categories)`` (0: one type, 1: uniform).

    >>> normalised_entropy({"a": 5}, 6)
    0.0
    >>> round(normalised_entropy({t: 1 for t in "abcdef"}, 6), 6)
    1.0
    >>> round(normalised_entropy({"a": 1, "b": 1}, 6), 4)
    0.3869
    """
    total = sum(counts.values())
    if total == 0 or n_categories < 2:
        return None
    h = sum(c / total * math.log(total / c) for c in counts.values() if c > 0)
    return max(0.0, h / math.log(n_categories))


@register
class InstructionTypeDiversity(Indicator):
    """How evenly a dataset spreads over the instruction types (↑).

    Value: Shannon entropy of the distribution of :data:`vlitq.scorers.instruction_type.TYPES`
    over samples (or turns), divided by ln(6), the entropy of the uniform distribution over the
    six types: 0 when every sample has the same type, 1 when the six are equally frequent.
    Uses the ``instruction_type`` columns when that scorer ran, else classifies the data with
    the scorer's default rules. Details: ``counts``, ``shares`` (%), ``entropy`` (nats),
    ``n_types`` (types present), ``unit``.

    Parameters
    ----------
    unit : {"sample", "turn"}
        Count each sample's type once, or every turn's type (multi-turn data).
    """

    name = "instruction_type_diversity"
    principle = "task diversity"
    direction = "up"

    def __init__(self, *, unit: str = "sample"):
        self.unit = unit

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        from vlitq.scorers.instruction_type import TYPES, InstructionTypeScorer

        if self.unit not in ("sample", "turn"):
            raise ValueError(f"unit must be 'sample' or 'turn', not {self.unit!r}")
        col = "instruction_type" if self.unit == "sample" else "instruction_type_turns"
        warnings = []
        if col in ctx.samples.columns:
            values = ctx.samples[col].to_list()
        else:
            scorer = InstructionTypeScorer()
            valid = ctx.valid_mask()
            batch = {"sample_id": ctx.dataset.sample_ids,
                     "turns": [t if ok else [] for t, ok in
                               zip(ctx.dataset.frame["turns"].to_list(), valid)]}
            values = scorer(batch)[col]
            values = [v if ok else None for v, ok in zip(values, valid)]
        types: list[str] = []
        for v in values:
            if v is None:
                continue
            types.extend(v if isinstance(v, list) else [v])
        counts = Counter(types)
        n = len(types)
        value = normalised_entropy(dict(counts), len(TYPES))
        if n == 0:
            warnings.append("instruction_type_diversity: no sample could be typed")
        shares = {t: round(100.0 * counts[t] / n, 4) for t in TYPES} if n else {}
        h = sum(c / n * math.log(n / c) for c in counts.values()) if n else None
        return IndicatorResult(
            value=value,
            details={"n": n, "unit": self.unit, "counts": {t: counts.get(t, 0) for t in TYPES},
                     "shares": shares, "entropy": h, "n_types": len(counts)},
            warnings=warnings,
        )
