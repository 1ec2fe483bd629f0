"""Dataset-level indicators (task labels, diversity, balance), registered by name."""
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult

__all__ = ["Indicator", "IndicatorContext", "IndicatorResult"]
