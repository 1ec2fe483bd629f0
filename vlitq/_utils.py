"""Small shared helpers: hashing, logging, progress bars, JSON."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Iterable

logger = logging.getLogger("vlitq")


def blake2b(*parts: bytes | str, digest_size: int = 16) -> str:
    """Hex blake2b digest of the parts, each length-prefixed so boundaries matter.

    >>> blake2b("a", "bc") != blake2b("ab", "c")
    True
    """
    h = hashlib.blake2b(digest_size=digest_size)
    for p in parts:
        b = p.encode("utf-8", "surrogatepass") if isinstance(p, str) else bytes(p)
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def stable_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, for hashing parameters.

    >>> stable_json({"b": 1, "a": [1, 2]})
    '{"a":[1,2],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def progress_disabled() -> bool:
    return os.environ.get("VLITQ_DISABLE_PROGRESS_BARS", "").lower() in {"1", "true", "yes"}


def progress(iterable: Iterable | None = None, **kwargs):
    """``tqdm.auto.tqdm`` silenced by ``VLITQ_DISABLE_PROGRESS_BARS=1``."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", progress_disabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def iter_values(series, step: int = 65_536):
    """The Python values of a polars Series, converted ``step`` rows at a time: a column of
    2M turn lists is never held as Python objects all at once (``to_list()`` would).

    >>> import polars as pl
    >>> list(iter_values(pl.Series([[1], None, [2, 3]]), step=2))
    [[1], None, [2, 3]]
    """
    for a in range(0, len(series), max(1, int(step))):
        yield from series.slice(a, step).to_list()


class HashSink:
    """A write-only file object that only hashes what is written (blake2b): a frame's IPC
    bytes are digested as they are produced, never held whole in memory."""

    def __init__(self, digest_size: int = 16):
        self._h = hashlib.blake2b(digest_size=digest_size)
        self.nbytes = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._h.update(b)
        self.nbytes += len(b)
        return len(b)

    def flush(self) -> None:
        pass

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def peak_rss_mib() -> float | None:
    """This process's peak resident set size so far, MiB (None where the OS does not say)."""
    try:
        import resource
        import sys

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError, AttributeError):
        return None
    return kib / (1024.0 * 1024.0) if sys.platform == "darwin" else kib / 1024.0  # bytes there


def cache_home() -> str:
    """Root of vlitq's on-disk cache: ``$VLITQ_CACHE_HOME`` or the user cache dir."""
    env = os.environ.get("VLITQ_CACHE_HOME")
    if env:
        return env
    from platformdirs import user_cache_dir

    return user_cache_dir("vlitq")
