"""``balance``: population variance of the tasks' shares of the samples, in percent."""
from __future__ import annotations

from collections.abc import Sequence

from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.indicators.task_diversity import task_counts
from vlitq.registry import register


def share_variance(counts: Sequence[int]) -> float:
    """Population variance of the shares in percent: with shares ``p_i = 100 n_i / N`` over
    ``T`` tasks, ``sum((p_i - 100/T)**2) / T``. 0 when all tasks are the same size.

    >>> share_variance([50, 50]), share_variance([75, 25]), share_variance([10])
    (0.0, 625.0, 0.0)
    """
    counts = [c for c in counts if c > 0]
    if not counts:
        raise ValueError("no tasks")
    n, t = float(sum(counts)), len(counts)
    shares = [100.0 * c / n for c in counts]
    mean = 100.0 / t
    return sum((p - mean) ** 2 for p in shares) / t


@register
class Balance(Indicator):
    """Variance of the tasks' shares of the samples, in percent (population variance); lower
    is more balanced, 0 when every task has the same number of samples.

    Details: ``imbalance_ratio`` (largest task / smallest task), ``shares`` (percent per task),
    ``n_tasks``. Labels come from the ``tasks`` indicator, which runs first.

    Examples
    --------
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> ds = Dataset.from_records([make_sample(str(i), [("Q?", "A.")], task=t)
    ...                            for i, t in enumerate("aaab")])
    >>> ctx = IndicatorContext(dataset=ds, samples=ds.frame.select("sample_id", "task"))
    >>> r = Balance().compute(ctx)
    >>> r.value, r.details["imbalance_ratio"]
    (625.0, 3.0)
    """

    name = "balance"
    principle = "balance"
    direction = "down"
    after = ("tasks",)

    def __init__(self):
        pass

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        cnt = task_counts(ctx)
        n = sum(cnt.values())
        if n == 0:
            return IndicatorResult(value=None, details={"n": 0},
                                   warnings=["balance: no readable samples"])
        order = sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))
        res = IndicatorResult(
            value=share_variance(list(cnt.values())),
            details={"n": n, "n_tasks": len(cnt),
                     "imbalance_ratio": max(cnt.values()) / min(cnt.values()),
                     "shares": {k: 100.0 * v / n for k, v in order},
                     "label_source": ctx.task_column})
        if len(cnt) == 1:
            res.warnings.append("balance: a single task; balance is trivially 0")
        return res
