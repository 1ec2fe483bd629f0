"""Dataset model, format readers/writers and image loading."""
from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import detect, formats, read, write

__all__ = ["Dataset", "detect", "formats", "make_sample", "read", "write"]
