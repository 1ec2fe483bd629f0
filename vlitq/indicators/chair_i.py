"""``chair_i``: pooled CHAIR_i over the dataset, from the ``chair`` scorer's columns."""
from __future__ import annotations

from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register


@register
class ChairI(Indicator):
    """Rohrbach's dataset CHAIR_i (%): Σ hallucinated objects / Σ mentioned objects over the
    annotated samples, pooled (not a mean of per-sample ratios). Lower is better.

    Needs the ``chair`` scorer in the same run. Details: ``chair_s`` (%), ``n_annotated``,
    ``n_unannotated`` (samples without object annotations, left out), ``n_mentioned``,
    ``n_hallucinated`` and ``top_hallucinated`` (the ten most often hallucinated classes).
    """

    name = "chair_i"
    principle = "correctness"
    direction = "down"

    def __init__(self):
        pass

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        from vlitq.scorers.chair import summarize

        if "chair_annotated" not in ctx.samples.columns:
            return IndicatorResult(warnings=["chair_i needs the 'chair' scorer in the same run"])
        s = summarize(ctx.samples)
        warnings = []
        if s["n_annotated"] == 0:
            warnings.append("chair_i: no sample has object annotations (objects column or "
                            "chair annotations=...)")
        details = {k: v for k, v in s.items() if k != "chair_i"}
        details["n"] = s["n_annotated"]
        return IndicatorResult(value=s["chair_i"], details=details, warnings=warnings)
