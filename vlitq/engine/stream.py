"""Streaming input: score a file chunk by chunk without building the whole dataset.

:class:`StreamingDataset` reads samples with the format's ``iter_samples`` in a background
thread (the next chunk is read while the current one is scored) and hands the engine one
:class:`~vlitq.data.Dataset` chunk at a time. Image bytes (inline base64 included) live only
as long as their chunk: what the engine keeps for the dataset-level indicators is the light
frame (ids, turns, tasks, languages, sources, and image references with inline data replaced by
a content hash), so memory is bounded by ``chunk_size`` for images and by the text for the rest.
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Iterator

import polars as pl

from vlitq._utils import blake2b
from vlitq.data.dataset import Dataset, UniqueIds, records_to_frame
from vlitq.data.images import is_inline

_DONE = object()


def light_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame without ``original`` and with inline image data replaced by its hash."""
    cols = [c for c in frame.columns if c != "original"]
    out = frame.select(cols)
    if "images" in out.columns:
        out = out.with_columns(pl.Series("images", light_image_refs(out["images"].to_list()),
                                         dtype=pl.List(pl.Utf8)))
    return out


def light_image_refs(refs_per_row) -> list[list[str]]:
    """Each row's image references, inline data replaced by ``inline:<its hash>``."""
    return [[("inline:" + blake2b(r)) if is_inline(r) else r for r in (refs or [])]
            for refs in refs_per_row]


class StreamingDataset:
    """A dataset file read lazily, in chunks.

    Parameters
    ----------
    path : str
    format : str, optional
        Detected when omitted.
    image_root : str, optional
        Default: the file's folder.
    allow_outside_root : bool
    prefetch : int
        Chunks read ahead in a background thread.
    """

    def __init__(self, path, *, format: str | None = None, image_root: str | None = None,
                 allow_outside_root: bool = False, prefetch: int = 1, **options):
        from vlitq.data.formats import detect

        self.path = os.fspath(path)
        self.format = format or detect(self.path, options)  # a field mapping means flat
        self.image_root = image_root or (
            self.path if os.path.isdir(self.path) else os.path.dirname(os.path.abspath(self.path)))
        self.allow_outside_root = allow_outside_root
        self.prefetch = prefetch
        self.options = options
        self.meta: dict = {}
        self._light: list[pl.DataFrame] = []
        self._n = None

    def __len__(self) -> int:
        return self._n if self._n is not None else 0

    @property
    def length_known(self) -> bool:
        return self._n is not None

    def iter_chunks(self, chunk_size: int) -> Iterator[Dataset]:
        from vlitq.data.formats import iter_samples

        q: queue.Queue = queue.Queue(maxsize=max(1, self.prefetch))
        stop = threading.Event()

        def producer():
            try:
                buf = []
                for rec in iter_samples(self.path, format=self.format, **self.options):
                    buf.append(rec)
                    if len(buf) >= chunk_size:
                        q.put(buf)
                        buf = []
                        if stop.is_set():
                            return
                if buf:
                    q.put(buf)
                q.put(_DONE)
            except BaseException as exc:  # surfaced in the consumer
                q.put(exc)

        t = threading.Thread(target=producer, daemon=True)
        t.start()
        self._light = []
        n = 0
        unique = UniqueIds()  # ids unique across chunks, assigned as Dataset.from_iter does
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                frame = records_to_frame(item, unique=unique)
                n += frame.height
                self._light.append(light_frame(frame))
                yield Dataset(frame, self.image_root, self.format, {}, self.allow_outside_root)
        finally:
            stop.set()
        self._n = n

    def gathered(self) -> Dataset:
        """The light dataset of everything streamed so far (for dataset-level indicators)."""
        frame = pl.concat(self._light, how="diagonal_relaxed") if self._light else pl.DataFrame()
        return Dataset(frame, self.image_root, self.format, {}, self.allow_outside_root)
