"""Content-addressed result cache: Parquet part files under ``$VLITQ_CACHE_HOME``.

Layout: ``<root>/<namespace>/<params-hash>/part-<uuid>.parquet`` with columns ``key`` (str)
and ``value`` (binary). A namespace is a scorer or indicator name (``matching``,
``embeddings/<model>``...); the params hash covers the component's parameters, its version and
its model id. Keys are content hashes (text, image bytes), never paths.

Each :meth:`Store.put_many` writes one new part file to a temporary name and renames it into
place, so a run killed at any moment leaves only whole part files: a resumed run finds
everything that was written and recomputes the rest. :meth:`Store.compact` merges parts.
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from typing import Iterable, Mapping

import numpy as np

from vlitq._utils import blake2b, cache_home, stable_json


class Store:
    """One namespace + parameter set of the cache (a folder of Parquet parts)."""

    def __init__(self, path: str | None):
        self.path = path
        self._index: dict[str, bytes] | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # -- raw bytes ---------------------------------------------------------------------------
    def _load(self) -> dict[str, bytes]:
        if self._index is not None:
            return self._index
        index: dict[str, bytes] = {}
        if self.path and os.path.isdir(self.path):
            import pyarrow.parquet as pq

            for fn in sorted(os.listdir(self.path)):
                if not (fn.startswith("part-") and fn.endswith(".parquet")):
                    continue
                try:
                    t = pq.read_table(os.path.join(self.path, fn))
                except Exception:  # a foreign or damaged file: ignore it, recompute
                    continue
                for k, v in zip(t.column("key").to_pylist(), t.column("value").to_pylist()):
                    index[k] = v
        self._index = index
        return index

    def get_many_bytes(self, keys: Iterable[str]) -> dict[str, bytes]:
        idx = self._load()
        out = {}
        for k in keys:
            v = idx.get(k)
            if v is None:
                self.misses += 1
            else:
                self.hits += 1
                out[k] = v
        return out

    def put_many_bytes(self, items: Mapping[str, bytes]) -> None:
        if not items:
            return
        idx = self._load()
        with self._lock:
            idx.update(items)
            if not self.path:
                return
            import pyarrow as pa
            import pyarrow.parquet as pq

            os.makedirs(self.path, exist_ok=True)
            table = pa.table(
                {"key": pa.array(list(items), pa.string()),
                 "value": pa.array(list(items.values()), pa.binary())}
            )
            name = f"part-{uuid.uuid4().hex}.parquet"
            tmp = os.path.join(self.path, f".tmp-{name}")
            pq.write_table(table, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, os.path.join(self.path, name))

    def __len__(self) -> int:
        return len(self._load())

    def compact(self) -> None:
        """Merge all part files into one (atomic: the new part lands before old ones go)."""
        if not self.path or not os.path.isdir(self.path):
            return
        old = [f for f in os.listdir(self.path) if f.startswith("part-")]
        if len(old) < 2:
            return
        self._index = None
        idx = self._load()
        self._index = {}
        self.put_many_bytes(dict(idx))
        keep = set(os.listdir(self.path)) - set(old)
        for f in old:
            if f not in keep:
                os.remove(os.path.join(self.path, f))

    # -- JSON values (scorer rows) -----------------------------------------------------------
    def get_many_json(self, keys: Iterable[str]) -> dict[str, dict]:
        return {k: json.loads(v) for k, v in self.get_many_bytes(keys).items()}

    def put_many_json(self, items: Mapping[str, dict]) -> None:
        self.put_many_bytes({k: stable_json(v).encode() for k, v in items.items()})

    # -- float32 vectors (embeddings) --------------------------------------------------------
    def get_many_arrays(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        return {
            k: np.frombuffer(v, dtype=np.float32) for k, v in self.get_many_bytes(keys).items()
        }

    def put_many_arrays(self, items: Mapping[str, np.ndarray]) -> None:
        self.put_many_bytes(
            {k: np.ascontiguousarray(v, dtype=np.float32).tobytes() for k, v in items.items()}
        )


class Cache:
    """Entry point to the on-disk cache.

    Parameters
    ----------
    root : str, optional
        Folder (default ``$VLITQ_CACHE_HOME`` or the user cache dir).
    enabled : bool
        When False, stores live in memory only (nothing is read from or written to disk).

    Examples
    --------
    >>> import tempfile
    >>> c = Cache(tempfile.mkdtemp())
    >>> s = c.store("demo", {"p": 1})
    >>> s.put_many_json({"k": {"demo": 3.0}})
    >>> Cache(c.root).store("demo", {"p": 1}).get_many_json(["k"])
    {'k': {'demo': 3.0}}
    """

    def __init__(self, root: str | None = None, *, enabled: bool = True):
        self.root = (root or cache_home()) if enabled else None
        self.enabled = enabled
        self._stores: dict[tuple[str, str], Store] = {}

    def store(self, namespace: str, params: dict | None = None) -> Store:
        """The store for a namespace and parameter set (same arguments → same store)."""
        ph = blake2b(stable_json(params or {}))
        key = (namespace, ph)
        if key not in self._stores:
            path = None
            if self.root:
                safe = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in namespace)
                path = os.path.join(self.root, safe, ph)
            self._stores[key] = Store(path)
        return self._stores[key]

    def stats(self) -> dict[str, dict[str, int]]:
        return {f"{ns}/{ph[:8]}": {"hits": s.hits, "misses": s.misses}
                for (ns, ph), s in self._stores.items()}


def as_cache(cache: "Cache | bool | str | None") -> Cache:
    """Normalise the ``cache=`` argument of :func:`vlitq.score`: True/None → default folder,
    a string → that folder, False → memory only, a Cache → itself."""
    if isinstance(cache, Cache):
        return cache
    if cache is False:
        return Cache(enabled=False)
    if isinstance(cache, (str, os.PathLike)):
        return Cache(os.fspath(cache))
    return Cache()
