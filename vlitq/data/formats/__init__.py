"""Format registry: readers and writers, one module per format, auto-detected.

A format module calls :func:`register_format` with:

- ``sniff(path, head) -> bool``: whether a file looks like this format (``head`` = the first
  64 KiB decoded as UTF-8 with replacement);
- ``iter_samples(path, **options) -> Iterator[dict]``: samples made with
  :func:`vlitq.data.dataset.make_sample`, one at a time (streaming engines use this);
- ``write(dataset, path, **options)``: write the samples back, unchanged records byte-for-byte
  equivalent as JSON (read → write → read is lossless);
- optionally ``read(path, **options) -> Dataset`` when the format needs more than
  ``iter_samples`` (meta information for the writer, several files).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from vlitq.data.dataset import Dataset


class FormatError(ValueError):
    """A file is not a dataset of the expected (or any known) format."""


@dataclass
class Format:
    name: str
    description: str
    sniff: Callable[[str, str], bool] | None
    iter_samples: Callable[..., Iterator[dict]] | None
    write: Callable[..., Any] | None
    read: Callable[..., Dataset] | None = None
    priority: int = 50  # lower sniffs first


_FORMATS: dict[str, Format] = {}
_MODULES = ("llava", "m3it", "mimicit", "multiinstruct", "coco_arc", "flat", "hf", "qa")
# a field mapping names the columns of a flat table: passing one without a format means "flat"
MAPPING_OPTIONS = ("instruction", "response")
_LOADED = False


def register_format(name: str, *, description: str, sniff=None, iter_samples=None, write=None,
                    read=None, priority: int = 50) -> Format:
    if name in _FORMATS:
        raise ValueError(f"format {name!r} is already registered")
    f = Format(name, description, sniff, iter_samples, write, read, priority)
    _FORMATS[name] = f
    return f


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    import importlib

    for m in _MODULES:
        try:
            importlib.import_module(f"vlitq.data.formats.{m}")
        except ModuleNotFoundError as exc:
            if exc.name != f"vlitq.data.formats.{m}":
                raise
    _LOADED = True


def formats() -> dict[str, str]:
    """``{name: description}`` of the known formats.

    >>> "llava" in formats()
    True
    """
    _load_all()
    return {n: f.description for n, f in sorted(_FORMATS.items())}


def get_format(name: str) -> Format:
    _load_all()
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise FormatError(f"unknown format {name!r}; known: {known}") from None


def _head(path: str, n: int = 65536) -> str:
    with open(path, "rb") as fh:
        return fh.read(n).decode("utf-8", errors="replace")


def detect(path: str | os.PathLike, options: dict | None = None) -> str:
    """Name of the format of ``path`` (a file, or a folder for multi-file formats).

    ``options`` are the read options: a field mapping (``instruction=``/``response=``) means a
    flat table (``hf`` for a ``save_to_disk`` folder), whatever the file looks like.
    """
    _load_all()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FormatError(f"no such file or folder: {path}")
    if options and any(options.get(k) is not None for k in MAPPING_OPTIONS):
        return "hf" if os.path.isdir(path) and _FORMATS["hf"].sniff(path, "") else "flat"
    head = "" if os.path.isdir(path) else _head(path)
    for f in sorted(_FORMATS.values(), key=lambda f: f.priority):
        if f.sniff is None:
            continue
        try:
            if f.sniff(path, head):
                return f.name
        except Exception:
            continue
    raise FormatError(
        f"{path}: not a dataset in any known format ({', '.join(sorted(_FORMATS))}); name "
        "the format if it is one (Python: format=NAME; CLI: --format NAME), and for a flat "
        "table the fields (Python: instruction=COL, response=COL, image=COL; CLI: "
        "--read-option instruction=COL --read-option response=COL)"
    )


def _check_options(fmt: Format, func, options: dict) -> None:
    """A misspelled or foreign option fails with the options the format takes."""
    import inspect

    params = inspect.signature(func).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n != "image_root"]
    bad = [k for k in options if k not in known]
    if bad:
        raise FormatError(f"format {fmt.name!r} takes no option {', '.join(map(repr, bad))}; "
                          f"its options: {', '.join(known) or 'none'}")


def read(source, format: str | None = None, *, image_root: str | None = None,
         allow_outside_root: bool = False, **options) -> Dataset:
    """Read a dataset file (or object) into a :class:`~vlitq.data.Dataset`.

    Parameters
    ----------
    source : str, path or object
        A file or folder; or a ``datasets.Dataset`` / polars / pandas frame (format ``hf`` /
        ``flat``).
    format : str, optional
        One of :func:`formats`; detected when omitted. An explicit format always wins.
    image_root : str, optional
        Folder relative image paths are resolved against (default: the file's folder).
    allow_outside_root : bool
        Allow image paths that resolve outside ``image_root`` (refused by default: a dataset
        should not make vlitq read arbitrary files).
    **options
        Format options, e.g. the field mapping of ``flat``/``hf`` (``instruction=``,
        ``response=``, ``image=``, ``task=``, ``id=``, ``language=``; given without a format, a
        mapping of ``instruction=``/``response=`` means ``flat``), ``images=`` of ``mimicit``,
        ``image_pattern=`` of ``coco_arc``, ``task=`` of ``m3it``/``mimicit``, ``answers=`` of
        ``qa``.

    Raises
    ------
    FormatError
        The source is not a dataset in the given (or any known) format, or an option is
        unknown. Problems with single records never raise: they become rows with
        ``read_error`` set.

    Examples
    --------
    >>> import os, tempfile, json
    >>> p = os.path.join(tempfile.mkdtemp(), "d.json")
    >>> with open(p, "w") as fh:
    ...     json.dump([{"id": "1", "image": "a.jpg", "conversations": [
    ...         {"from": "human", "value": "<image>\\nWhat is it?"},
    ...         {"from": "gpt", "value": "A cat."}]}], fh)
    >>> ds = read(p)
    >>> ds.format, ds.frame["turns"][0][0]["instruction"]
    ('llava', 'What is it?')
    """
    _load_all()
    if not isinstance(source, (str, os.PathLike)):
        fmt = get_format(format or _object_format(source))
        if fmt.read is None:
            raise FormatError(f"format {fmt.name!r} reads files only, not a "
                              f"{type(source).__name__}")
        _check_options(fmt, fmt.read, options)
        ds = fmt.read(source, image_root=image_root, **options)
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FormatError(f"no such file or folder: {path}")
        fmt = get_format(format or detect(path, options))
        if image_root is None:
            image_root = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        if fmt.read is not None:
            _check_options(fmt, fmt.read, options)
            ds = fmt.read(path, image_root=image_root, **options)
        else:
            _check_options(fmt, fmt.iter_samples, options)
            try:
                ds = Dataset.from_iter(fmt.iter_samples(path, **options))
            except IsADirectoryError:
                raise FormatError(f"{path}: format {fmt.name!r} reads a file, not a folder"
                                  ) from None
    ds.image_root = image_root if ds.image_root is None else ds.image_root
    ds.format = ds.format or fmt.name
    ds.allow_outside_root = allow_outside_root
    _log_problems(ds)
    return ds


def _log_problems(ds: Dataset) -> None:
    """One log line with the counts of rows not read and rows read with a warning."""
    import logging

    frame = ds.frame
    n_err = frame["read_error"].null_count() if "read_error" in frame.columns else frame.height
    n_err = frame.height - n_err
    n_warn = 0
    if "read_warning" in frame.columns:
        n_warn = frame.height - frame["read_warning"].null_count()
    if n_err or n_warn:
        first = frame.filter(frame["read_warning"].is_not_null())["read_warning"][0] \
            if n_warn else None
        logging.getLogger("vlitq").warning(
            "read %d rows: %d could not be read (read_error), %d read with a warning "
            "(read_warning%s)", frame.height, n_err, n_warn,
            f"; first: {first[:120]}" if first else "")


def iter_samples(source, format: str | None = None, **options) -> Iterator[dict]:
    """Stream samples from a file without building the whole dataset."""
    path = os.fspath(source)
    fmt = get_format(format or detect(path, options))
    if fmt.iter_samples is None:
        yield from fmt.read(path, **options).frame.iter_rows(named=True)
    else:
        yield from fmt.iter_samples(path, **options)


def write(dataset: Dataset, path: str | os.PathLike, *, format: str | None = None, **options):
    """Write ``dataset`` in ``format`` (default: the format it was read from).

    Records are written back from their original text, so samples you did not change come out
    identical (read → write → read is lossless). ``format="llava"`` converts any dataset to
    LLaVA conversations (see :func:`export_llava`); other conversions are refused.
    """
    name = format or dataset.format
    if name is None:
        raise FormatError("the dataset has no source format: name one (Python: format=NAME; CLI: "
                          "--format NAME)")
    if dataset.format is not None and name not in (dataset.format, "llava"):
        raise FormatError(f"a {dataset.format} dataset cannot be written as {name}; write it "
                          "as its own format or export it with format='llava'")
    fmt = get_format(name)
    if fmt.write is None:
        raise FormatError(f"format {name!r} cannot be written")
    _check_options(fmt, fmt.write, options)
    return fmt.write(dataset, os.fspath(path), **options)


def export_llava(dataset: Dataset, path: str | os.PathLike, **options) -> dict:
    """Write any dataset as LLaVA conversations JSON (see
    :func:`vlitq.data.formats.llava.export`: inline images are written out as files)."""
    from vlitq.data.formats.llava import export

    return export(dataset, path, **options)


def _object_format(obj) -> str:
    mod = type(obj).__module__
    if mod.startswith("datasets"):
        return "hf"
    if mod.startswith(("polars", "pandas")):
        return "flat"
    raise FormatError(f"cannot read a {type(obj).__name__}: pass a file path, a "
                      "datasets.Dataset, or a polars/pandas DataFrame")
