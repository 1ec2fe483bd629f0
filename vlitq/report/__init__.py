"""Reports: the :class:`Report` dataclass and its renderings."""
from vlitq.report.report import Report

__all__ = ["Report"]
