"""Per-sample scorers, one module and class each, registered by name (see :mod:`vlitq.registry`)."""
from vlitq.scorers.base import Scorer, ScorerLoadError

__all__ = ["Scorer", "ScorerLoadError"]
