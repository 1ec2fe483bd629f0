"""``judge_checks``: dataset-level sanity checks of judge-based scorers, as report warnings."""
from __future__ import annotations

from vlitq import registry
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register


@register
class JudgeChecks(Indicator):
    """Warnings about LLM/MLLM judges over the whole dataset, written to
    ``Report.info["warnings"]``.

    A scorer cannot see the dataset, so it cannot tell that its judge answered the same for
    every sample. This indicator runs after the scorers and asks each scorer class that defines
    ``dataset_warnings(samples)`` (``correctness``, ``llm_complexity``) whose column is in the
    report: e.g. every sample rated 7 (collapsed distribution), or votes that barely agree.
    The value is the number of warnings (0 is healthy).

    Examples
    --------
    >>> import polars as pl
    >>> from vlitq.indicators.base import IndicatorContext
    >>> ctx = IndicatorContext(dataset=None, samples=pl.DataFrame({"llm_complexity": [5.0] * 8}))
    >>> res = JudgeChecks().compute(ctx)
    >>> res.value, res.warnings[0][:40]
    (1.0, 'llm_complexity: all 8 scored items got t')
    """

    name = "judge_checks"
    principle = "reliability"
    direction = "down"
    description = "collapsed or inconsistent judge scores, as warnings"

    def __init__(self):
        pass

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        warnings, checked = [], []
        for name in registry.names("scorer"):
            cls = registry.get(name)
            if not cls.overrides("dataset_warnings") or name not in ctx.samples.columns:
                continue
            checked.append(name)
            warnings.extend(cls.dataset_warnings(ctx.samples))
        return IndicatorResult(value=float(len(warnings)), warnings=warnings,
                               details={"checked": checked, "warnings": len(warnings)})
