"""Dataset-level indicators.

An indicator sees the whole dataset and the per-sample columns computed so far, and returns an
:class:`IndicatorResult`: the dataset value, extra dataset-level figures, per-task values, and
optionally per-sample columns (task labels, cluster ids) and per-sample errors.

Indicators run after the per-sample scorers, in dependency order (``after``); the task labeller
(``tasks``) runs first so that per-task indicators see its labels through
:meth:`IndicatorContext.task_labels`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from vlitq.cache import EXECUTION_PARAMS
from vlitq.registry import Component


@dataclass
class IndicatorResult:
    """What an indicator returns.

    Attributes
    ----------
    value : float or None
        The dataset-level value (None when it could not be computed; say why in ``warnings``).
    details : dict
        Further dataset-level figures, e.g. ``{"noise_share": 0.12}``; shown beside the value.
    per_task : dict
        ``{task: {column: value}}``; merged into ``Report.tasks``.
    sample_columns : dict
        ``{column: list}`` aligned with the dataset's rows; merged into ``Report.samples``.
    errors : list of (sample_id, reason)
    warnings : list of str
    info : dict
        Anything to record in ``Report.info`` (models, parameters, timings).
    """

    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    per_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample_columns: dict[str, list] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    task_column: str | None = None  # set by the task labeller: later indicators use this column


@dataclass
class IndicatorContext:
    """What an indicator can see.

    Attributes
    ----------
    dataset : vlitq.data.Dataset
    samples : polars.DataFrame
        ``sample_id`` plus every per-sample column produced so far (scorers and earlier
        indicators), row-aligned with ``dataset.frame``.
    cache : vlitq.cache.Cache or None
    """

    dataset: Any
    samples: pl.DataFrame
    cache: Any = None
    task_column: str = "task"

    def task_labels(self) -> list[str]:
        """Task of every sample, from ``samples[task_column]``: the data's given ``task`` column,
        or the labeller's column once ``tasks`` ran; ``"all"`` (one task) when there are no
        labels. Nulls become ``"unlabelled"``."""
        col = self.task_column
        if col in self.samples.columns and self.samples[col].null_count() < self.samples.height:
            labels = self.samples[col].to_list()
        else:
            return ["all"] * len(self.dataset)
        return ["unlabelled" if t is None else str(t) for t in labels]

    def valid_mask(self) -> list[bool]:
        """False for rows that could not be read (they take part in no indicator)."""
        if "read_error" not in self.dataset.frame.columns:
            return [True] * len(self.dataset)
        return [e is None for e in self.dataset.frame["read_error"].to_list()]


class Indicator(Component):
    """Base class of dataset-level indicators.

    Class attributes: ``name``, ``principle``, ``direction`` (as for scorers), ``after``: names
    of indicators that must run first (e.g. ``("tasks",)`` for per-task indicators), and
    ``size_dependent``: True when the value grows or shrinks with the number of samples alone
    (counts of distinct things: tasks, clusters, languages; duplicate shares), so that datasets
    are compared only at equal size (:func:`vlitq.compare` with ``m=``).
    """

    kind: ClassVar[str] = "indicator"
    after: ClassVar[tuple[str, ...]] = ()
    #: Parameters that do not change results (kept out of the cache key of the indicator's
    #: result and of its embeddings): batch size, device, block sizes, progress...
    execution_params: ClassVar[frozenset[str]] = EXECUTION_PARAMS
    #: Whether the engine caches the result, keyed by the content of everything it reads.
    cacheable: ClassVar[bool] = True
    size_dependent: ClassVar[bool] = False

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        raise NotImplementedError
