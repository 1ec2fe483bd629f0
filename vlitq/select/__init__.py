"""Selection: rules and strategies that turn a report into a kept subset, and release gates."""
from vlitq.select.filter import filter
from vlitq.select.selection import Selection

__all__ = ["Selection", "filter"]
