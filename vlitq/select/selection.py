"""Selection: which samples a filter kept, and why every other one was dropped."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import polars as pl

DROP_SCHEMA = {"sample_id": pl.Utf8, "row": pl.Int64, "stage": pl.Utf8, "rule": pl.Utf8,
               "column": pl.Utf8, "value": pl.Utf8, "threshold": pl.Utf8}


@dataclass
class Selection:
    """The outcome of :func:`vlitq.filter`.

    Attributes
    ----------
    kept : list of str
        Kept sample ids, in dataset order.
    kept_rows : list of int
        The kept samples' rows in the report and dataset: their identity (ids may collide in
        a source; rows cannot). :meth:`write` writes these rows.
    dropped : polars.DataFrame
        One row per dropped sample: ``sample_id``, ``row``, ``stage`` ("rule" or the strategy
        name),
        ``rule`` (readable reason), ``column``, ``value`` and ``threshold`` (as text). The first
        rule a sample failed is the one recorded.
    rules : dict
        The rules as given; ``strategy``: the strategy and its parameters.
    indicators_before, indicators_after : dict
        ``{indicator: value}`` on all samples and on the kept ones (after is filled by
        :meth:`evaluate_after` or :meth:`write` when a dataset is given).
    not_evaluated : dict
        ``{column: {"n", "action", "reason"}}``: samples a rule could not decide because the
        column's component did not run, and what the rule did with them (``keep_null`` or
        ``not_evaluated``); under ``"errors"``, the components that did not run on samples
        the ``errors`` rule kept (their failures are not defects of the samples).
    """

    kept: list[str]
    dropped: pl.DataFrame
    kept_rows: list[int] | None = None
    rules: dict = field(default_factory=dict)
    strategy: dict | None = None
    n_input: int = 0
    indicators_before: dict[str, Any] = field(default_factory=dict)
    indicators_after: dict[str, Any] = field(default_factory=dict)
    not_evaluated: dict[str, dict] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.kept)

    def __repr__(self) -> str:
        return (f"Selection(kept={len(self.kept)}/{self.n_input}, dropped={self.dropped.height}, "
                f"by={self.drop_counts()})")

    def drop_counts(self) -> dict[str, int]:
        if self.dropped.is_empty():
            return {}
        g = self.dropped.group_by("rule").len().sort("len", descending=True)
        return dict(zip(g["rule"].to_list(), g["len"].to_list()))

    def manifest(self) -> dict:
        return {
            "n_input": self.n_input,
            "n_kept": len(self.kept),
            "n_dropped": self.dropped.height,
            "rules": self.rules,
            "strategy": self.strategy,
            "drop_counts": self.drop_counts(),
            "not_evaluated": self.not_evaluated,
            "indicators_before": self.indicators_before,
            "indicators_after": self.indicators_after,
            "kept": self.kept,
            "kept_rows": self.kept_rows,
            "dropped": self.dropped.to_dicts(),
        }

    def subset(self, dataset):
        """The kept samples of ``dataset``, by row (a dropped sample is never included, even
        when it shares its id with a kept one)."""
        if self.kept_rows is None:
            ids = dataset.frame["sample_id"].to_list()
            if len(set(ids)) != len(ids):
                raise ValueError("this selection has no rows and the dataset's ids collide: "
                                 "cannot tell which samples were kept")
            return dataset.subset(self.kept)
        if len(dataset) != self.n_input:
            raise ValueError(f"the selection was made on {self.n_input} samples, the dataset "
                             f"has {len(dataset)}")
        frame = dataset.frame[self.kept_rows] if self.kept_rows else dataset.frame.clear()
        if frame["sample_id"].to_list() != list(self.kept):
            raise ValueError("the dataset's rows do not hold the kept samples: the selection "
                             "was made on another dataset")
        return dataset.with_frame(frame)

    def evaluate_after(self, dataset, report=None, *, cache=True) -> dict[str, Any]:
        """Recompute the indicators on the kept subset (per-sample results come from the
        cache), with the components and parameters recorded in ``report.info``."""
        import vlitq
        from vlitq import registry

        sub = self.subset(dataset)
        comps = []
        for name, meta in ((report.info.get("components", {}) if report else {}) or {}).items():
            try:
                comps.append(registry.create(name, meta.get("params") or {}))
            except (KeyError, TypeError):
                continue
        rep = vlitq.score(sub, comps or None, cache=cache, progress=False)
        self.indicators_after = {r["indicator"]: r["value"]
                                 for r in rep.indicators.iter_rows(named=True)}
        return self.indicators_after

    def write(self, path: str | os.PathLike, dataset, *, format: str | None = None,
              manifest: str | os.PathLike | None = None, report=None,
              evaluate: bool = True, cache=True) -> dict[str, str]:
        """Write the kept samples in the dataset's source format (or ``format``, e.g.
        ``"llava"`` for trainers) and a JSON manifest of every drop and its reason, with the
        indicators before and after. Returns the paths written."""
        path = os.fspath(path)
        sub = self.subset(dataset)
        sub.write(path, format=format)
        if evaluate and report is not None and not self.indicators_after:
            self.evaluate_after(dataset, report, cache=cache)
        mpath = os.fspath(manifest) if manifest else path + ".manifest.json"
        with open(mpath, "w", encoding="utf-8") as fh:
            json.dump(self.manifest(), fh, indent=1, default=str, ensure_ascii=False)
        return {"data": path, "manifest": mpath}
