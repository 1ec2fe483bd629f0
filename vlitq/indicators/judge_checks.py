"""``judge_checks``: dataset-level sanity checks of judge-based scorers, as report warnings."""
from __future__ import annotations

from vlitq import registry
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register


def _flat(name: str, rel: dict) -> dict:
    """The scalar reliability figures of one scorer, keyed ``<scorer>.<figure>``."""
    out = {f"{name}.spread": rel.get("spread"),
           f"{name}.low_confidence_share": rel.get("low_confidence_share")}
    agr = rel.get("agreement") or {}
    for k in ("kappa", "icc"):
        if k in agr:
            out[f"{name}.{k}"] = agr[k]
    return out


@register
class JudgeChecks(Indicator):
    """Reliability of LLM/MLLM judges over the whole dataset: figures beside every judge score,
    and warnings written to ``Report.info["warnings"]``.

    A scorer cannot see the dataset, so it cannot tell that its judge answered the same for
    every sample. This indicator runs after the scorers and, for each judge scorer whose column
    is in the report (``correctness``, ``llm_complexity``), reports

    - ``<scorer>.spread``: the standard deviation of its sample scores (P(correct); the
      rating) — near 0 means the judge does not tell samples apart;
    - ``<scorer>.low_confidence_share``: the share of samples the judge was unsure about
      (``correctness``: the weakest turn's confidence, vote share or max(P, 1-P), below 0.7;
      ``llm_complexity``: entropy above 70 % of ln 10, or sampled ratings spread over more
      than 30 % of the scale);
    - with a second reading configured (the scorer's ``check``: a second prompt or a second
      judge), their agreement: ``correctness.kappa`` (Cohen's kappa) and
      ``llm_complexity.icc`` (ICC(3,1), :func:`vlitq.validate.stats.icc`).

    ``details["reliability"]`` holds the full figures per scorer. Scorers overriding
    ``dataset_warnings(samples)`` add warnings: e.g. every sample rated 7 (collapsed
    distribution), or votes that barely agree. The value is the number of warnings (0 is
    healthy).

    Examples
    --------
    >>> import polars as pl
    >>> from vlitq.indicators.base import IndicatorContext
    >>> ctx = IndicatorContext(dataset=None, samples=pl.DataFrame({"llm_complexity": [5.0] * 8}))
    >>> res = JudgeChecks().compute(ctx)
    >>> res.value, res.warnings[0][:40], res.details["llm_complexity.spread"]
    (1.0, 'llm_complexity: all 8 scored items got t', 0.0)
    """

    name = "judge_checks"
    principle = "reliability"
    direction = "down"
    description = "spread, low-confidence share and agreement of judge scores; warnings"

    def __init__(self):
        pass

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        from vlitq.scorers._judging import JudgeScorerMixin

        warnings, checked = [], []
        flat: dict = {}
        reliability: dict = {}
        for name in registry.names("scorer"):
            cls = registry.get(name)
            if name not in ctx.samples.columns:
                continue
            is_judge = isinstance(cls, type) and issubclass(cls, JudgeScorerMixin)
            if not (is_judge or cls.overrides("dataset_warnings")):
                continue
            checked.append(name)
            if is_judge:
                rel = cls.judge_reliability(ctx.samples)
                reliability[name] = rel
                flat.update(_flat(name, rel))
                low = rel.get("low_confidence_share")
                if low is not None and rel["n"] >= 5 and low > 0.5:
                    warnings.append(f"{name}: the judge is unsure about {100 * low:.0f}% of "
                                    f"{rel['n']} samples; treat its scores with care")
            if cls.overrides("dataset_warnings"):
                warnings.extend(cls.dataset_warnings(ctx.samples))
        details = {**flat, "warnings": len(warnings), "checked": checked,
                   "reliability": reliability}
        return IndicatorResult(value=float(len(warnings)), warnings=warnings, details=details)
