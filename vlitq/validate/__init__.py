"""Validation: tune models on subsets, evaluate them, correlate indicators with performance.

``correlate`` and ``icc`` are light (numpy/scipy/polars); ``tune`` and ``evaluate`` import torch
and transformers only when called.
"""
from __future__ import annotations

from vlitq.validate.stats import (
    average_over_models,
    correlate,
    icc,
    indicator_table,
    model_consistency,
)

__all__ = ["average_over_models", "correlate", "evaluate", "icc", "indicator_table",
           "model_consistency", "tune"]


def __getattr__(name):
    if name == "evaluate":
        from vlitq.validate.evaluate import evaluate

        return evaluate
    if name == "tune":
        from vlitq.validate.tune import tune

        return tune
    raise AttributeError(f"module 'vlitq.validate' has no attribute {name!r}")
