"""Reports: the :class:`Report` dataclass, its renderings (HTML, Markdown, JSON) and
:func:`compare` for several reports side by side."""
from vlitq.report.comparison import Comparison, compare
from vlitq.report.report import Report

__all__ = ["Comparison", "Report", "compare"]
