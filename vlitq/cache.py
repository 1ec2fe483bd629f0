"""Content-addressed result cache: checksummed Parquet part files under ``$VLITQ_CACHE_HOME``.

One cache serves every component: the engine's per-sample rows and indicator results, the
sentence encoders' embeddings, CLIP image/text embeddings in ``matching``, the judges'
completions and the memo of image content hashes.

Layout: ``<root>/<namespace>/<params-hash>/part-<uuid>-<checksum>.parquet`` with columns
``key`` (str) and ``value`` (binary). A namespace is a component or model family (``elements``,
``embeddings``, ``judge``...); the params hash covers what changes results (the component's
parameters *minus* its execution parameters, its version and its model id). Keys are content
hashes (text, image bytes), never paths.

Guarantees
----------
* **Whole parts only.** :meth:`Store.put_many_bytes` writes one new part to a temporary name,
  fsyncs it and renames it into place, so a run killed at any moment leaves only whole parts;
  a resumed run finds everything that was written and recomputes the rest.
* **Checksums.** The part's name carries the blake2b digest of its bytes. A part whose bytes do
  not match (a flipped bit, a truncated file), that cannot be parsed, or that has no checksum is
  moved aside to ``<root>/quarantine/`` with a :class:`CacheIntegrityWarning`, and its rows
  are recomputed: a damaged cache never changes a result silently and never crashes a run. A
  single value that does not decode (bad JSON, a vector of the wrong length) is dropped the
  same way (warning, recomputed).
* **Concurrency.** Parts are immutable and uniquely named, so any number of processes may read
  and write one cache at once; each sees the parts that existed when it first opened the store
  plus its own writes. Two runs computing the same row write the same value.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
import uuid
import warnings
from typing import Iterable, Mapping

from vlitq._utils import blake2b, cache_home, stable_json

logger = logging.getLogger("vlitq")

#: Parameters that never change a component's results (how it runs, not what it computes).
#: Components declare theirs in ``execution_params``; these are the defaults of the base classes.
EXECUTION_PARAMS = frozenset({
    "batch_size", "device", "workers", "num_workers", "worker_type", "n_jobs", "threads",
    "num_threads", "chunk_size", "block", "block_size", "timeout", "request_timeout",
    "deadline", "retries", "max_retries", "concurrency", "max_concurrency", "progress",
    "show_progress", "llm_batch_size", "prefetch", "max_chunk_mb", "embedding_cache",
    "judge_cache", "cache",
})

_CHECKSUM_BYTES = 16
_TMP_MAX_AGE_S = 3600.0
#: A store with more part files than this is compacted into one when it is opened.
COMPACT_AT = 256


class CacheIntegrityWarning(UserWarning):
    """A cache part (or value) was damaged; it was moved aside and its rows are recomputed."""


def blake2b_bytes(data: bytes) -> str:
    """The checksum of a part's bytes (blake2b, 16 bytes, hex)."""
    import hashlib

    return hashlib.blake2b(data, digest_size=_CHECKSUM_BYTES).hexdigest()


def _file_digest(path: str) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=_CHECKSUM_BYTES)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_part_name(fn: str) -> tuple[str, str | None] | None:
    """``(uuid, checksum or None)`` of a part file name, None for other files."""
    if not (fn.startswith("part-") and fn.endswith(".parquet")):
        return None
    stem = fn[len("part-"):-len(".parquet")]
    if "-" in stem:
        u, c = stem.split("-", 1)
        return u, c
    return stem, None


class _SpilledKeys:
    """Where the values a store wrote, and no longer holds, are: about 12 bytes a key.

    A key is kept as its 64-bit ``hash()`` (stable within a process) beside the number of the
    part it was written to, instead of the key string and the part's name in a dict (≈ 150
    bytes a key: 1.7 M keys, ≈ 250 MB, in each actor of a 665k-sample run). A lookup reads that
    part and takes the value by the full key, so two keys sharing a hash cost a part read and a
    miss (the row is recomputed), never a wrong value. New entries go to a small dict, merged
    into sorted arrays ``MERGE_AT`` at a time.

    Examples
    --------
    >>> sp = _SpilledKeys()
    >>> sp.add(["a", "b"], "part-1")
    >>> sp.add(["c"], "part-2")
    >>> sp.parts(["b", "c", "z"])
    ['part-1', 'part-2', None]
    >>> sp.remove(["b"]); len(sp)
    2
    """

    MERGE_AT = 65_536

    def __init__(self):
        import numpy as np

        self.names: list[str] = []  # part names; a part's number is its position
        self._ids: dict[str, int] = {}
        self._new: dict[int, int] = {}  # hash -> part number, not yet merged
        # sorted hashes and their part numbers (-1: removed), replaced together
        self._arr = (np.empty(0, np.int64), np.empty(0, np.int32))

    def add(self, keys: Iterable[str], part: str) -> None:
        pid = self._ids.get(part)
        if pid is None:
            pid = self._ids[part] = len(self.names)
            self.names.append(part)
        new = self._new
        for k in keys:
            new[hash(k)] = pid
        if len(new) >= self.MERGE_AT:
            self._merge()

    def _merge(self) -> None:
        import numpy as np

        if not self._new:
            return
        new, self._new = self._new, {}
        h0, p0 = self._arr
        h = np.concatenate([h0, np.fromiter(new.keys(), np.int64, len(new))])
        p = np.concatenate([p0, np.fromiter(new.values(), np.int32, len(new))])
        order = np.argsort(h, kind="stable")  # equal hashes: the newest entry last
        h, p = h[order], p[order]
        last = np.ones(h.size, bool)
        last[:-1] = h[1:] != h[:-1]
        self._arr = (h[last], p[last])

    def _positions(self, hs):
        import numpy as np

        h, _ = self._arr
        i = np.searchsorted(h, hs)
        found = i < h.size
        found[found] = h[i[found]] == hs[found]
        return i, found

    @staticmethod
    def _hashes(keys: list[str]):
        import numpy as np

        return np.fromiter((hash(k) for k in keys), np.int64, len(keys))

    def parts(self, keys: list[str]) -> list[str | None]:
        """The part each key was spilled to (None: not spilled)."""
        import numpy as np

        if not keys:
            return []
        hs = self._hashes(keys)
        out: list[str | None] = [None] * len(keys)
        h, p = self._arr
        if h.size:
            i, found = self._positions(hs)
            for j in np.flatnonzero(found):
                pid = int(p[i[j]])
                if pid >= 0:
                    out[j] = self.names[pid]
        new = self._new
        if new:
            for j, hk in enumerate(hs.tolist()):
                pid = new.get(hk)
                if pid is not None:
                    out[j] = self.names[pid]
        return out

    def remove(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        hs = self._hashes(keys)
        for hk in hs.tolist():
            self._new.pop(hk, None)
        h, p = self._arr
        if h.size:
            i, found = self._positions(hs)
            p = p.copy()
            p[i[found]] = -1
            self._arr = (h, p)

    def __len__(self) -> int:
        self._merge()
        return int((self._arr[1] >= 0).sum())

    def clear(self) -> None:
        self.__init__()


class Store:
    """One namespace + parameter set of the cache (a folder of checksummed Parquet parts).

    Examples
    --------
    >>> import tempfile
    >>> s = Cache(tempfile.mkdtemp()).store("demo", {"p": 1})
    >>> s.put_many_json({"k": {"v": 1}})
    >>> s.get_many_json(["k", "other"])
    {'k': {'v': 1}}
    >>> s.hits, s.misses
    (1, 1)
    """

    def __init__(self, path: str | None, cache: "Cache | None" = None):
        self.path = path
        self._cache = cache
        # key -> value bytes (read from disk at the first load, or written by this process);
        # of the values written during a run only the most recent ``keep_written_bytes`` stay
        # here (a 665k-sample run would hold every result): older ones leave the dict for
        # ``_spilled`` (12 bytes a key) and are read back from their part on a repeated lookup
        # (a duplicate sample, a shared image), a few recent parts kept decoded
        self._index: dict[str, bytes] | None = None
        self._spilled = _SpilledKeys()
        # one entry per part written: (its name, its keys, their value bytes)
        self._written: "collections.deque[tuple[str, list[str], int]]" = collections.deque()
        self._written_bytes = 0
        self._parts: dict[str, dict[str, bytes]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.quarantined = 0

    # -- integrity ---------------------------------------------------------------------------
    def _warn(self, msg: str) -> None:
        warnings.warn(msg, CacheIntegrityWarning, stacklevel=4)
        logger.warning(msg)
        if self._cache is not None:
            self._cache.events.append(msg)

    def _quarantine(self, fn: str, why: str) -> None:
        src = os.path.join(self.path, fn)
        root = self._cache.root if self._cache is not None and self._cache.root else self.path
        rel = os.path.relpath(self.path, root) if root != self.path else ""
        dest_dir = os.path.join(root, "quarantine", rel)
        try:
            os.makedirs(dest_dir, exist_ok=True)
            os.replace(src, os.path.join(dest_dir, fn))
        except FileNotFoundError:  # another process moved it first
            pass
        except OSError as exc:  # read-only cache: leave it, but never use it
            logger.debug("could not move %s aside: %s", src, exc)
        self.quarantined += 1
        self._warn(f"vlitq cache: damaged part {os.path.join(rel, fn)} ({why}); moved to "
                   f"{dest_dir}, its rows are recomputed")

    def _read_part(self, fn: str) -> dict[str, bytes] | None:
        t = self._read_table(fn)
        if t is None:
            return None
        return dict(zip(t.column("key").to_pylist(), t.column("value").to_pylist()))

    def _read_table(self, fn: str):
        """A part's ``key`` / ``value`` table, checksum verified (None: not a part, gone, or
        damaged and quarantined)."""
        parsed = _parse_part_name(fn)
        path = os.path.join(self.path, fn)
        if parsed is None:
            return None
        _, checksum = parsed
        try:
            if checksum is None:
                self._quarantine(fn, "no checksum (written by an older vlitq)")
                return None
            with open(path, "rb") as fh:
                data = fh.read()
            if blake2b_bytes(data) != checksum:
                self._quarantine(fn, "checksum mismatch")
                return None
            import pyarrow as pa
            import pyarrow.parquet as pq

            t = pq.read_table(pa.BufferReader(data)).select(["key", "value"])
        except FileNotFoundError:  # compacted away by another process meanwhile
            return None
        except Exception as exc:  # parses badly although the checksum matched
            self._quarantine(fn, f"unreadable: {type(exc).__name__}: {exc}")
            return None
        return t

    def _scan(self, index: dict[str, bytes]) -> None:
        if not (self.path and os.path.isdir(self.path)):
            return
        for fn in sorted(os.listdir(self.path)):
            if fn in self._seen:
                continue
            if fn.startswith(".tmp-"):
                self._clean_tmp(fn)
                continue
            part = self._read_part(fn)
            self._seen.add(fn)
            if part:
                for k, v in part.items():
                    index.setdefault(k, v)

    def _clean_tmp(self, fn: str) -> None:
        """Remove temporary files of writers killed long ago (never a live writer's)."""
        p = os.path.join(self.path, fn)
        try:
            if time.time() - os.path.getmtime(p) > _TMP_MAX_AGE_S:
                os.remove(p)
        except OSError:
            pass

    # -- raw bytes ---------------------------------------------------------------------------
    def _load(self) -> dict[str, bytes]:
        if self._index is not None:
            return self._index
        with self._lock:
            if self._index is None:
                index: dict[str, bytes] = {}
                self._scan(index)
                self._index = index
        if len(self._seen) > COMPACT_AT:  # many small parts (per-batch puts): merge them
            try:
                self.compact()
            except OSError as exc:  # read-only or full disk: reading still works
                logger.debug("could not compact %s: %s", self.path, exc)
        return self._index

    def refresh(self) -> None:
        """Pick up parts that other processes wrote since this store was first read."""
        idx = self._load()
        with self._lock:
            self._scan(idx)

    #: Parts written by this process kept decoded for repeated lookups (see ``_spilled``).
    parts_kept = 4
    #: Memory for the most recently written values kept in the index (older ones: spilled),
    #: counted as each value's bytes plus ``ENTRY_BYTES``. Reading a value back costs a part
    #: read (≈ 2 ms here); without this budget a 665k run's ``image_check`` (270k images
    #: shared by 625k samples) read back ≈ 280k values.
    keep_written_bytes = 64 << 20
    #: What an index entry costs beside its value: the key string (≈ 81 bytes for a 32-hex
    #: key), the ``bytes`` header (33) and the dict's slot. Counted so that small values (an
    #: image hash is 32 bytes) cannot fill the budget with entries 5× their own size.
    ENTRY_BYTES = 160

    def _from_part(self, key: str, fn: str) -> bytes | None:
        """``key``'s value read back from part ``fn`` (None: the part vanished or lacks it)."""
        part = self._parts.pop(fn, None)  # popped and put back: most recent last
        if part is None:
            part = self._read_part(fn) or {}
        self._parts[fn] = part
        while len(self._parts) > self.parts_kept:
            self._parts.pop(next(iter(self._parts)))
        return part.get(key)

    def get_many_bytes(self, keys: Iterable[str]) -> dict[str, bytes]:
        idx = self._load()
        keys = list(keys)
        out = {k: idx[k] for k in keys if k in idx}
        away = [k for k in keys if k not in out]
        if away and self._spilled.names:  # written by this run, value back in its part
            gone = []  # its part vanished (compacted or damaged) or a shared hash: recomputed
            for k, fn in zip(away, self._spilled.parts(away)):
                if fn is not None:
                    v = self._from_part(k, fn)
                    if v is None:
                        gone.append(k)
                    else:
                        out[k] = v
            self._spilled.remove(gone)
        hit = sum(1 for k in keys if k in out)
        self.hits += hit
        self.misses += len(keys) - hit
        return out

    def put_many_bytes(self, items: Mapping[str, bytes], *, keep: bool = False) -> None:
        """Add items (one new part file, written atomically). Safe to call per batch. With
        ``keep`` the values stay in memory (compaction: they were there already)."""
        if not items:
            return
        idx = self._load()
        with self._lock:
            if not self.path:  # a memory-only store keeps its values
                idx.update(items)
                return
            import pyarrow as pa

            table = pa.table(
                {"key": pa.array(list(items), pa.string()),
                 "value": pa.array(list(items.values()), pa.binary())}
            )
            name = self._write_table(table)
            self._seen.add(name)
            idx.update(items)
            if not keep:  # the newest values stay; the oldest beyond the budget go to disk
                size = sum(len(v) for v in items.values()) + self.ENTRY_BYTES * len(items)
                self._written.append((name, list(items), size))
                self._written_bytes += size
                while self._written and self._written_bytes > self.keep_written_bytes:
                    part, ks, size = self._written.popleft()
                    self._written_bytes -= size
                    ks = [k for k in ks if isinstance(idx.get(k), bytes)]
                    for k in ks:
                        del idx[k]
                    self._spilled.add(ks, part)

    def _write_table(self, table) -> str:
        """Write one part atomically (temporary name, fsync, rename); its file name."""
        import pyarrow.parquet as pq

        os.makedirs(self.path, exist_ok=True)
        u = uuid.uuid4().hex
        tmp = os.path.join(self.path, f".tmp-{u}.parquet")
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        name = f"part-{u}-{_file_digest(tmp)}.parquet"
        os.replace(tmp, os.path.join(self.path, name))
        return name

    def discard(self, keys: Iterable[str], why: str) -> None:
        """Forget values that failed to decode (they are recomputed and written again)."""
        keys = list(keys)
        if not keys:
            return
        idx = self._load()
        for k in keys:
            idx.pop(k, None)
        self._spilled.remove(keys)
        self.hits -= len(keys)
        self.misses += len(keys)
        self._warn(f"vlitq cache: {len(keys)} damaged value(s) in {self.path} ({why}); "
                   "recomputed")

    def __len__(self) -> int:
        return len(self._load()) + len(self._spilled)

    def n_parts(self) -> int:
        """Part files in the store's folder now (0 for a memory-only store)."""
        if not self.path or not os.path.isdir(self.path):
            return 0
        return sum(1 for f in os.listdir(self.path) if _parse_part_name(f))

    def compact_on_disk(self) -> bool:
        """Merge the folder's part files into one without loading them into this store
        (Arrow tables, not Python objects; the first part in name order wins for a key, as
        when loading): for a process that will not read the store itself (the Ray driver
        before its actors open it; each would compact the same parts otherwise). Returns
        whether it merged anything."""
        if not self.path or not os.path.isdir(self.path):
            return False
        import pyarrow as pa
        import pyarrow.compute as pc

        names = sorted(f for f in os.listdir(self.path) if _parse_part_name(f))
        tables, read = [], []
        for fn in names:
            t = self._read_table(fn)
            if t is not None:
                tables.append(t)
                read.append(fn)
        if len(read) < 2:
            return False
        # large types: a merged store may pass 2 GiB of values (int32 offsets)
        schema = pa.schema([("key", pa.large_string()), ("value", pa.large_binary())])
        t = pa.concat_tables([x.cast(schema) for x in tables]).combine_chunks()
        keys = t.column("key")
        # first occurrence of each key (parts in name order): its row number is its group min
        idx = pa.array(range(t.num_rows), pa.int64())
        first = (pa.table({"k": keys, "i": idx}).group_by("k", use_threads=False)
                 .aggregate([("i", "min")]).column("i_min"))
        t = t.take(pc.take(first, pc.sort_indices(first)))
        self._write_table(t)
        for fn in read:  # the merged part has landed: the old ones may go
            try:
                os.remove(os.path.join(self.path, fn))
            except FileNotFoundError:
                pass
        return True

    def compact(self) -> None:
        """Merge all part files into one (the merged part lands before the old ones go)."""
        if not self.path or not os.path.isdir(self.path):
            return
        if self._index is None:
            self._index = {}
            self._scan(self._index)
        else:
            self.refresh()
        old = [f for f in os.listdir(self.path) if f in self._seen and _parse_part_name(f)]
        if len(old) < 2:
            return
        merged = dict(self._index)
        for fn in self._spilled.names:  # values written by this run and back in their part
            part = self._read_part(fn) or {}
            ks = [k for k in part if k not in merged]
            for k, where in zip(ks, self._spilled.parts(ks)):
                if where == fn:
                    merged[k] = part[k]
        self._spilled.clear()
        self._parts.clear()
        self._written.clear()  # every value is in memory now, the old parts go
        self._written_bytes = 0
        self.put_many_bytes(merged, keep=True)  # lands before any old part goes
        for f in old:
            try:
                os.remove(os.path.join(self.path, f))
            except FileNotFoundError:  # another process compacted it already
                pass
            self._seen.discard(f)

    # -- JSON values (scorer rows, indicator results, completions) -----------------------------
    def get_many_json(self, keys: Iterable[str]) -> dict[str, dict]:
        out, bad = {}, []
        for k, v in self.get_many_bytes(keys).items():
            try:
                out[k] = json.loads(v)
            except (ValueError, UnicodeDecodeError):
                bad.append(k)
        self.discard(bad, "invalid JSON")
        return out

    def put_many_json(self, items: Mapping[str, dict]) -> None:
        self.put_many_bytes({k: stable_json(v).encode() for k, v in items.items()})

    # -- float32 vectors (embeddings) --------------------------------------------------------
    def get_many_arrays(self, keys: Iterable[str], dim: int | None = None) -> dict:
        """Vectors by key; a value whose length is not a whole number of float32 (or not
        ``dim`` of them, when given) is dropped with a warning."""
        import numpy as np

        out, bad = {}, []
        for k, v in self.get_many_bytes(keys).items():
            if len(v) % 4 or not v or (dim is not None and len(v) != 4 * dim):
                bad.append(k)
                continue
            out[k] = np.frombuffer(v, dtype=np.float32)
        if dim is None and out:  # all vectors of one store have one length
            lens = {}
            for k, a in out.items():
                lens[a.shape[0]] = lens.get(a.shape[0], 0) + 1
            if len(lens) > 1:
                common = max(lens, key=lens.get)
                wrong = [k for k, a in out.items() if a.shape[0] != common]
                for k in wrong:
                    out.pop(k)
                bad.extend(wrong)
        self.discard(bad, "vector of the wrong length")
        return out

    def put_many_arrays(self, items: Mapping[str, object]) -> None:
        import numpy as np

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

    Attributes
    ----------
    events : list of str
        Integrity warnings raised so far (damaged parts quarantined, values dropped); the engine
        copies them into ``Report.info["warnings"]``.

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
        self.events: list[str] = []

    def store(self, namespace: str, params: dict | None = None) -> Store:
        """The store for a namespace and parameter set (same arguments → same store)."""
        ph = blake2b(stable_json(params or {}))
        key = (namespace, ph)
        if key not in self._stores:
            path = None
            if self.root:
                safe = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in namespace)
                path = os.path.join(self.root, safe, ph)
            self._stores[key] = Store(path, self)
        return self._stores[key]

    def stats(self) -> dict[str, dict[str, int]]:
        out = {}
        for (ns, ph), s in self._stores.items():
            d = {"hits": s.hits, "misses": s.misses}
            if s.quarantined:
                d["quarantined"] = s.quarantined
            out[f"{ns}/{ph[:8]}"] = d
        return out


def result_params(comp) -> dict:
    """What identifies a component's results besides the content: name, version, model id and
    the parameters that change results (``get_params()`` minus ``execution_params``).

    >>> from vlitq.scorers.text_stats import TextStats
    >>> "batch_size" in result_params(TextStats())["params"]
    False
    """
    skip = set(getattr(comp, "execution_params", EXECUTION_PARAMS))
    params = {k: v for k, v in comp.get_params().items() if k not in skip}
    return {"name": comp.name, "version": comp.version, "params": params,
            "model": comp.model_id()}


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
