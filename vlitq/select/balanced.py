"""Task-balanced sampling: draw ``n`` samples spread as evenly as possible across tasks."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def task_quotas(sizes: Mapping[str, int], n: int, seed: int = 0) -> dict[str, int]:
    """How many samples each task gives so that ``n`` are drawn as evenly as possible.

    Water-filling: every task gets an equal quota; a task smaller than its quota gives all it
    has and the rest is shared among the others, until nothing is left. The remainder of an
    uneven split goes to tasks picked at random (seeded).

    >>> task_quotas({"a": 100, "b": 100, "c": 5}, 65)
    {'a': 30, 'b': 30, 'c': 5}
    >>> task_quotas({"a": 3, "b": 3}, 10)
    {'a': 3, 'b': 3}
    """
    quotas = {t: 0 for t in sizes}
    open_tasks = sorted(t for t, s in sizes.items() if s > 0)
    left = min(int(n), sum(max(0, int(s)) for s in sizes.values()))
    rng = np.random.default_rng(seed)
    while left > 0 and open_tasks:
        room = {t: sizes[t] - quotas[t] for t in open_tasks}
        share = left // len(open_tasks)
        small = [t for t in open_tasks if room[t] <= share]
        if small:
            for t in small:
                quotas[t] += room[t]
                left -= room[t]
            open_tasks = [t for t in open_tasks if t not in small]
            continue
        for t in open_tasks:
            quotas[t] += share
        left -= share * len(open_tasks)
        if left:
            for t in rng.choice(open_tasks, size=left, replace=False):
                quotas[str(t)] += 1
            left = 0
    return quotas


def _labels_and_ids(data: Any, task_column: str | None) -> tuple[list, list]:
    """(sample ids, task labels) from a list of labels, a {id: label} mapping, a Report or a
    polars/pandas frame."""
    if isinstance(data, Mapping):
        return list(data.keys()), list(data.values())
    if hasattr(data, "samples") and hasattr(data, "info"):  # a Report
        col = task_column or data.info.get("task_column") or "task"
        frame = data.samples
    elif hasattr(data, "columns") and not isinstance(data, (list, tuple)):
        frame = data
        cols = list(frame.columns)
        col = task_column or ("task_pred" if "task_pred" in cols else "task")
    else:
        labels = list(data)
        return list(range(len(labels))), labels
    if col not in list(frame.columns):
        raise KeyError(f"no task column {col!r}; run the 'tasks' indicator or give task_column")
    ids = list(frame["sample_id"]) if "sample_id" in list(frame.columns) else list(
        range(len(frame)))
    return ids, [None if v is None else str(v) for v in list(frame[col])]


def balanced_sample(data: Any, n: int, seed: int = 0, *, task_column: str | None = None,
                    skip_unlabelled: bool = True) -> list:
    """Sample ids drawn uniformly across tasks.

    Each task gets an equal quota of the ``n`` samples; tasks with fewer samples than their
    quota give all they have, and what they leave is shared among the others (see
    :func:`task_quotas`). Within a task the samples are drawn at random without replacement.
    The result is seeded and keeps the input order.

    Parameters
    ----------
    data : sequence of labels, mapping {sample_id: label}, Report, or DataFrame
        A plain sequence yields positions (0-based) as ids. A :class:`~vlitq.report.Report`
        uses its task column (``info["task_column"]``); a polars/pandas frame uses ``task_pred``
        when present, else ``task``, with ids from ``sample_id``.
    n : int
        Number of samples wanted (all of them when ``n`` exceeds what there is).
    seed : int
    task_column : str, optional
        Column with the labels (overrides the defaults above).
    skip_unlabelled : bool
        Leave out samples without a label (None, or the ``"unlabelled"`` placeholder).

    Examples
    --------
    >>> labels = ["cap"] * 8 + ["count"] * 8 + ["ocr"] * 2
    >>> ids = balanced_sample(labels, 8, seed=0)
    >>> len(ids), sorted({labels[i] for i in ids}), sum(labels[i] == "ocr" for i in ids)
    (8, ['cap', 'count', 'ocr'], 2)
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    ids, labels = _labels_and_ids(data, task_column)
    by_task: dict[str, list[int]] = {}
    for pos, lab in enumerate(labels):
        if lab is None or (skip_unlabelled and lab == "unlabelled"):
            if skip_unlabelled:
                continue
            lab = "unlabelled"
        by_task.setdefault(str(lab), []).append(pos)
    quotas = task_quotas({t: len(p) for t, p in by_task.items()}, n, seed)
    rng = np.random.default_rng(seed + 1)
    chosen: list[int] = []
    for t in sorted(by_task):
        pos = by_task[t]
        q = quotas[t]
        if q >= len(pos):
            chosen.extend(pos)
        elif q > 0:
            chosen.extend(int(x) for x in rng.choice(pos, size=q, replace=False))
    return [ids[p] for p in sorted(chosen)]
