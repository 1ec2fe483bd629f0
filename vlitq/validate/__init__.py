"""Validation: tune models on subsets, evaluate them, correlate indicators with performance.

Importing this package is light (numpy/scipy/polars); ``tune`` and ``evaluate`` import torch and
transformers only when called.
"""
from __future__ import annotations

# The submodules are imported first and the functions bound after them, so that
# ``vlitq.validate.evaluate`` / ``.tune`` are the functions, not the modules of the same name.
from vlitq.validate import evaluate as _evaluate_module  # noqa: F401
from vlitq.validate import tune as _tune_module  # noqa: F401
from vlitq.validate.evaluate import EvalResult, evaluate, read_benchmark
from vlitq.validate.stats import (
    average_over_models,
    correlate,
    icc,
    indicator_table,
    model_consistency,
)
from vlitq.validate.tune import TuneResult, hyperparameters, tune

__all__ = ["EvalResult", "TuneResult", "average_over_models", "correlate", "evaluate",
           "hyperparameters", "icc", "indicator_table", "model_consistency", "read_benchmark",
           "tune"]
