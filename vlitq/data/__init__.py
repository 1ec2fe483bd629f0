"""Dataset model, format readers/writers and image loading.

``vlitq.data.formats`` is the format subpackage (its :func:`~vlitq.data.formats.formats`
lists the formats); it is not shadowed here so ``vlitq.data.formats.llava`` stays reachable.
"""
from vlitq.data import formats
from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import FormatError, detect, export_llava, read, write

__all__ = ["Dataset", "FormatError", "detect", "export_llava", "formats", "make_sample", "read",
           "write"]
