"""``task_diversity``: the number of distinct task labels (T in Li et al.'s review)."""
from __future__ import annotations

import math
from collections import Counter

from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register


def task_counts(ctx: IndicatorContext) -> Counter:
    """Samples per task label among the readable samples (labels from
    :meth:`IndicatorContext.task_labels`)."""
    return Counter(t for t, ok in zip(ctx.task_labels(), ctx.valid_mask()) if ok)


def normalised_entropy(counts) -> float | None:
    """Shannon entropy of the shares divided by ln(number of tasks): 1 for equal shares, towards
    0 when one task dominates; None with fewer than two tasks.

    >>> normalised_entropy([5, 5]), normalised_entropy([1]), round(normalised_entropy([9, 1]), 4)
    (1.0, None, 0.469)
    """
    counts = [c for c in counts if c > 0]
    if len(counts) < 2:
        return None
    n = float(sum(counts))
    h = -sum((c / n) * math.log(c / n) for c in counts)
    return h / math.log(len(counts))


@register
class TaskDiversity(Indicator):
    """Number of distinct task labels among the readable samples; higher is more diverse.

    Labels come from the ``tasks`` indicator (TagGPT, embedding clusters or the data's labels),
    which runs first. Details: ``entropy`` (normalised Shannon entropy of the task shares, None
    with one task), ``tasks`` (labels and counts), ``label_source`` (the column read).

    Examples
    --------
    >>> import polars as pl
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> ds = Dataset.from_records([make_sample(str(i), [("Q?", "A.")], task=t)
    ...                            for i, t in enumerate("aabc")])
    >>> ctx = IndicatorContext(dataset=ds, samples=ds.frame.select("sample_id", "task"))
    >>> r = TaskDiversity().compute(ctx)
    >>> r.value, r.details["tasks"]
    (3.0, {'a': 2, 'b': 1, 'c': 1})
    """

    name = "task_diversity"
    principle = "task diversity"
    direction = "up"
    size_dependent = True  # a count (or share of repeats) that grows with N
    after = ("tasks",)

    def __init__(self):
        pass

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        cnt = task_counts(ctx)
        n = sum(cnt.values())
        if n == 0:
            return IndicatorResult(value=None, details={"n": 0},
                                   warnings=["task_diversity: no readable samples"])
        res = IndicatorResult(
            value=float(len(cnt)),
            details={"n": n, "entropy": normalised_entropy(cnt.values()),
                     "tasks": dict(sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))),
                     "label_source": ctx.task_column})
        if ctx.task_column not in ctx.samples.columns or set(cnt) == {"all"}:
            res.warnings.append("task_diversity: no task labels (add the 'tasks' indicator or "
                                "give labels); the whole dataset counts as one task")
        return res
