"""Dataset model, format readers/writers and image loading."""
from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import FormatError, detect, export_llava, formats, read, write

__all__ = ["Dataset", "FormatError", "detect", "export_llava", "formats", "make_sample", "read",
           "write"]
