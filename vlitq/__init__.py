"""vlitq: quality indicators for vision-language instruction-tuning datasets.

Everyday API: :func:`read`, :func:`score`, :func:`filter`, :func:`compare`, :func:`correlate`.
Importing vlitq is light: torch, open_clip, transformers, ray and hanlp load on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

from vlitq.api import score
from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import formats, read, write
from vlitq.report.report import Report

__all__ = ["Dataset", "Report", "formats", "make_sample", "read", "score", "write",
           "components", "__version__"]


def components(kind: str | None = None) -> list[str]:
    """Names of the registered per-sample scorers and dataset indicators."""
    from vlitq import registry

    return registry.names(kind)


def __getattr__(name):  # lazily exposed parts of the API, added by their subpackages
    lazy = {
        "filter": ("vlitq.select", "filter"),
        "compare": ("vlitq.report", "compare"),
        "correlate": ("vlitq.validate", "correlate"),
        "icc": ("vlitq.validate", "icc"),
    }
    if name in lazy:
        import importlib

        mod, attr = lazy[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'vlitq' has no attribute {name!r}")
