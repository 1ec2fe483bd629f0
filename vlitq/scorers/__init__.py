"""Per-sample scorers, one module and class each, registered by name (see :mod:`vlitq.registry`)."""
from vlitq.scorers.base import (ComponentError, Scorer, ScorerLoadError, component_error,
                                error_cause)

__all__ = ["ComponentError", "Scorer", "ScorerLoadError", "component_error", "error_cause"]
