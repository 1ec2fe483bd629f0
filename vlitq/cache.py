"""Content-addressed result cache: checksummed Parquet part files under ``$VLITQ_CACHE_HOME``.

One cache serves every component: the engine's per-sample rows and indicator results, the
sentence encoders' embeddings, CLIP image/text embeddings in ``matching``, the judges'
completions and the memo of image content hashes.

Layout: ``<root>/<namespace>/<params-hash>/part-<id>-<checksum>.parquet`` with columns
``key`` (str) and ``value`` (binary), in row groups of about ``Store.GROUP_BYTES`` (4 MiB) of
values with page checksums; ``<id>`` starts with the write time, so name order is write order.
A namespace is a component or model family (``elements``, ``embeddings``, ``judge``...); the
params hash covers what changes results (the component's parameters *minus* its execution
parameters, its version and its model id). Keys are content hashes (text, image bytes), never
paths.

Reading: opening a store verifies its parts and reads only their keys, keeping where each
value is (16 bytes a key); a lookup reads the row groups holding the keys asked for. A warm run
over a store of millions of rows holds what it asks for, not the store.

Guarantees
----------
* **Whole parts only.** :meth:`Store.put_many_bytes` writes one new part to a temporary name,
  fsyncs it and renames it into place, so a run killed at any moment leaves only whole parts;
  a resumed run finds everything that was written and recomputes the rest.
* **Checksums.** The part's name carries the blake2b digest of its bytes. A part whose bytes do
  not match (a flipped bit, a truncated file), that cannot be parsed, or that has no checksum is
  moved aside to ``<root>/quarantine/`` with a :class:`CacheIntegrityWarning`, and its rows
  are recomputed: a damaged cache never changes a result silently and never crashes a run.
  The whole file is verified when a store opens; a row group read later is verified by its
  page checksums (a part damaged meanwhile is moved aside the same way). A
  single value that does not decode (bad JSON, a vector of the wrong length) is dropped the
  same way (warning, recomputed).
* **Concurrency.** Parts are immutable and uniquely named, so any number of processes may read
  and write one cache at once; each sees the parts that existed when it first opened the store
  plus its own writes. Two runs computing the same row write the same value; where a key is in
  several parts the first in name order (the oldest) wins.
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


class _Locations:
    """Where each value on disk is: a key's 64-bit ``hash()`` beside its part's number and its
    row there, 16 bytes a key.

    A store keeps this for every value in its parts (those found when it was opened and those
    it wrote) instead of the values themselves, or the key strings and part names in a dict
    (≈ 250 bytes a key): a store of 2.2 M rows opens in ≈ 35 MB, and a lookup reads only the row
    groups it needs. A lookup compares the full key stored in the row, so two keys sharing a
    hash cost a row-group read and a miss (the row is recomputed), never a wrong value. Small
    additions go to a dict, merged into the sorted arrays ``MERGE_AT`` at a time; an equal hash
    added later replaces the earlier entry.

    Examples
    --------
    >>> import numpy as np
    >>> loc = _Locations()
    >>> p = loc.add_part("part-1", np.array([0]))
    >>> loc.add(["a", "b"], p)
    >>> q = loc.add_part("part-2", np.array([0]))
    >>> loc.add(["c"], q)
    >>> pids, rows = loc.find(["b", "c", "z"])
    >>> [loc.names[i] if i >= 0 else None for i in pids], rows.tolist()
    (['part-1', 'part-2', None], [1, 0, -1])
    >>> loc.remove(["b"]); len(loc)
    2
    """

    MERGE_AT = 65_536

    def __init__(self):
        import numpy as np

        self.names: list[str] = []  # part names; a part's number is its position
        self.starts: list = []  # each part's row-group first rows (int64 arrays)
        self._new: dict[int, int] = {}  # hash -> part << 32 | row, not yet merged
        # sorted hashes, their parts (-1: removed) and rows, replaced together
        self._arr = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.int32))

    def add_part(self, name: str, starts) -> int:
        import numpy as np

        self.names.append(name)
        self.starts.append(np.asarray(starts, dtype=np.int64))
        return len(self.names) - 1

    @staticmethod
    def _hashes(keys: list[str]):
        import numpy as np

        return np.fromiter((hash(k) for k in keys), np.int64, len(keys))

    def add(self, keys: list[str], pid: int) -> None:
        """``keys`` are rows 0, 1, ... of part ``pid``."""
        import numpy as np

        if len(keys) >= self.MERGE_AT:  # a whole part found on disk: straight into the arrays
            self._merge((self._hashes(keys), np.full(len(keys), pid, np.int32),
                         np.arange(len(keys), dtype=np.int32)))
            return
        new, base = self._new, pid << 32
        for r, k in enumerate(keys):
            new[hash(k)] = base | r
        if len(new) >= self.MERGE_AT:
            self._merge()

    def _merge(self, extra=None) -> None:
        import numpy as np

        if not self._new and extra is None:
            return
        pieces = [self._arr]
        if self._new:
            new, self._new = self._new, {}
            code = np.fromiter(new.values(), np.int64, len(new))
            pieces.append((np.fromiter(new.keys(), np.int64, len(new)),
                           (code >> 32).astype(np.int32), (code & 0xFFFFFFFF).astype(np.int32)))
        if extra is not None:
            pieces.append(extra)
        h, p, r = (np.concatenate([x[i] for x in pieces]) for i in range(3))
        order = np.argsort(h, kind="stable")  # equal hashes: the newest entry last
        h, p, r = h[order], p[order], r[order]
        last = np.ones(h.size, bool)
        last[:-1] = h[1:] != h[:-1]
        self._arr = (h[last], p[last], r[last])

    def find(self, keys: list[str]):
        """``(parts, rows)`` arrays: where each key's value is (part -1: nowhere)."""
        import numpy as np

        hs = self._hashes(keys)
        h, p, r = self._arr
        pids = np.full(len(keys), -1, np.int32)
        rows = np.full(len(keys), -1, np.int32)
        if h.size:
            i = np.minimum(np.searchsorted(h, hs), h.size - 1)
            found = h[i] == hs
            pids[found] = p[i[found]]
            rows[found] = r[i[found]]
        new = self._new
        if new:
            for j, hk in enumerate(hs.tolist()):
                code = new.get(hk)
                if code is not None:
                    pids[j], rows[j] = code >> 32, code & 0xFFFFFFFF
        rows[pids < 0] = -1
        return pids, rows

    def find_one(self, key: str) -> tuple[int, int]:
        """``find`` for one key (a warm run asks for images one at a time): ``(part, row)``."""
        hk = hash(key)
        code = self._new.get(hk)
        if code is not None:
            return code >> 32, code & 0xFFFFFFFF
        h, p, r = self._arr
        if h.size:
            i = int(h.searchsorted(hk))
            if i < h.size and h[i] == hk and p[i] >= 0:
                return int(p[i]), int(r[i])
        return -1, -1

    def remove(self, keys: Iterable[str]) -> None:
        import numpy as np

        keys = list(keys)
        if not keys:
            return
        hs = self._hashes(keys)
        for hk in hs.tolist():
            self._new.pop(hk, None)
        self._forget(lambda h, p: np.isin(h, hs))

    def forget_part(self, pid: int) -> None:
        """Every key of a part that vanished or is damaged: nowhere now."""
        self._new = {h: c for h, c in self._new.items() if c >> 32 != pid}
        self._forget(lambda h, p: p == pid)

    def _forget(self, which) -> None:
        h, p, r = self._arr
        if h.size:
            drop = which(h, p)
            if drop.any():
                p = p.copy()
                p[drop] = -1
                self._arr = (h, p, r)

    def __len__(self) -> int:
        self._merge()
        return int((self._arr[1] >= 0).sum())


def _part_name() -> str:
    """A new part's name stem: the time first, so name order is write order (a merge keeps it,
    and a warm run reading rows in the order they were written reads each row group once)."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


class Store:
    """One namespace + parameter set of the cache (a folder of checksummed Parquet parts).

    Opening a store reads where each value is (:class:`_Locations`, 16 bytes a key), not the
    values: a lookup reads the row groups that hold the keys asked for (a few MiB each, the
    most recent ``groups_kept_bytes`` of them kept decoded), so a warm run over a store of
    millions of rows holds what it asks for, not the store.

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

    #: Target value bytes of one row group of a part (what one lookup of a cold key reads).
    GROUP_BYTES = 4 << 20
    #: Decoded row groups kept for repeated lookups (at least one), by their Arrow size.
    groups_kept_bytes = 64 << 20
    #: Values read from parts kept for repeated lookups, least recently used out first
    #: (each counted with ``ENTRY_BYTES``): a key asked for in batch after batch (a templated
    #: instruction shared by thousands of samples) is read from its row group once.
    hot_bytes = 32 << 20
    #: Memory for the most recently written values kept in memory (older ones are read back
    #: from their part), counted as each value's bytes plus ``ENTRY_BYTES``. Reading a value
    #: back costs a row-group read; without this budget a 665k run's ``image_check`` (270k
    #: images shared by 625k samples) read back ≈ 280k values.
    keep_written_bytes = 64 << 20
    #: What an in-memory entry costs beside its value: the key string (≈ 81 bytes for a 32-hex
    #: key), the ``bytes`` header (33) and the dict's slot. Counted so that small values (an
    #: image hash is 32 bytes) cannot fill the budget with entries 5× their own size.
    ENTRY_BYTES = 160

    def __init__(self, path: str | None, cache: "Cache | None" = None):
        self.path = path
        self._cache = cache
        # key -> value bytes: the most recent ``keep_written_bytes`` of what this process wrote
        # (every value, for a memory-only store); None until the store is opened
        self._index: dict[str, bytes] | None = None
        self._where = _Locations()  # every value in the parts: where it is
        # one entry per part written: (its keys, their bytes in memory)
        self._written: "collections.deque[tuple[list[str], int]]" = collections.deque()
        self._written_bytes = 0
        # (part number, row group) -> (keys, values) Arrow arrays, most recently used last
        self._groups: "collections.OrderedDict[tuple[int, int], tuple]" = collections.OrderedDict()
        self._groups_bytes = 0
        self._hot: "collections.OrderedDict[str, bytes]" = collections.OrderedDict()
        self._hot_bytes = 0
        self._seen: set[str] = set()
        self._discarded: set[str] = set()  # failed to decode: a merge keeps the recomputed copy
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0
        self.quarantined = 0
        self.group_reads = 0  # row groups read from parts (not served from ``_groups``)

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

    def _verified_keys(self, fn: str):
        """A part's ``key`` column and row-group first rows, its checksum verified over the
        whole file (streamed, never held); None: not a part, gone, or damaged (quarantined)."""
        import numpy as np

        parsed = _parse_part_name(fn)
        if parsed is None:
            return None
        path = os.path.join(self.path, fn)
        try:
            if parsed[1] is None:
                self._quarantine(fn, "no checksum (written by an older vlitq)")
                return None
            if _file_digest(path) != parsed[1]:
                self._quarantine(fn, "checksum mismatch")
                return None
            import pyarrow.parquet as pq

            with open(path, "rb") as fh:
                pf = pq.ParquetFile(fh, page_checksum_verification=True)
                md = pf.metadata
                keys = pf.read(columns=["key"]).column("key")
        except FileNotFoundError:  # compacted away by another process meanwhile
            return None
        except Exception as exc:  # parses badly although the checksum matched
            self._quarantine(fn, f"unreadable: {type(exc).__name__}: {exc}")
            return None
        sizes = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        starts = np.cumsum([0] + sizes[:-1], dtype=np.int64) if sizes else np.zeros(1, np.int64)
        return keys, starts

    def _register(self, fn: str) -> None:
        got = self._verified_keys(fn)
        self._seen.add(fn)
        if got is not None:
            keys, starts = got
            if len(keys):
                self._where.add(keys.to_pylist(), self._where.add_part(fn, starts))

    def _scan(self) -> None:
        if not (self.path and os.path.isdir(self.path)):
            return
        new = []
        for fn in sorted(os.listdir(self.path)):
            if fn in self._seen:
                continue
            if fn.startswith(".tmp-"):
                self._clean_tmp(fn)
            elif _parse_part_name(fn):
                new.append(fn)
        for fn in reversed(new):  # the first part in name order is added last: it wins a key
            self._register(fn)

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
                # many small parts (per-batch puts): merged before they are read, so each is
                # verified and read once
                if self.n_parts() > COMPACT_AT:
                    try:
                        self.compact_on_disk()
                    except OSError as exc:  # read-only or full disk: reading still works
                        logger.debug("could not compact %s: %s", self.path, exc)
                self._scan()
                self._index = {}
        return self._index

    def refresh(self) -> None:
        """Pick up parts that other processes wrote since this store was first read."""
        self._load()
        with self._lock:
            self._scan()

    def _group(self, pid: int, g: int):
        """Row group ``g`` of part ``pid`` as ``(keys, values)`` Arrow arrays (None: the part
        vanished or is damaged; its keys are forgotten)."""
        got = self._groups.pop((pid, g), None)  # popped and put back: most recent last
        if got is None:
            fn = self._where.names[pid]
            try:
                import pyarrow.parquet as pq

                with open(os.path.join(self.path, fn), "rb") as fh:
                    t = (pq.ParquetFile(fh, page_checksum_verification=True)
                         .read_row_group(g, columns=["key", "value"]))
            except FileNotFoundError:  # compacted away by another process: recomputed
                self._where.forget_part(pid)
                return None
            except Exception as exc:  # changed since it was verified
                self._where.forget_part(pid)
                self._quarantine(fn, f"unreadable row group {g}: {type(exc).__name__}: {exc}")
                return None
            got = (t.column("key").combine_chunks(), t.column("value").combine_chunks(),
                   t.nbytes)
            self._groups_bytes += got[2]
            self.group_reads += 1
        self._groups[(pid, g)] = got
        while len(self._groups) > 1 and self._groups_bytes > self.groups_kept_bytes:
            self._groups_bytes -= self._groups.popitem(last=False)[1][2]
        return got

    def _from_parts(self, keys: list[str], out: dict[str, bytes]) -> None:
        """Values of ``keys`` read from the parts holding them, into ``out``."""
        import numpy as np
        import pyarrow as pa

        if len(keys) == 1:
            (k,) = keys
            pid, row = self._where.find_one(k)
            if pid >= 0:
                starts = self._where.starts[pid]
                g = int(starts.searchsorted(row, "right")) - 1
                grp = self._group(pid, g)
                off = row - int(starts[g])
                if grp is not None and grp[0][off].as_py() == k:
                    out[k] = grp[1][off].as_py()
            return
        pids, rows = self._where.find(keys)
        at = np.flatnonzero(pids >= 0)
        if not at.size:
            return
        pids, rows = pids[at], rows[at].astype(np.int64)
        groups = np.zeros(at.size, np.int64)
        for pid in (np.unique(pids) if pids.min() != pids.max() else pids[:1]).tolist():
            starts = self._where.starts[pid]
            if starts.size > 1:
                m = pids == pid
                groups[m] = np.searchsorted(starts, rows[m], "right") - 1
        code = (pids.astype(np.int64) << 32) | groups
        if code.min() != code.max():  # several row groups: each read once, in file order
            order = np.argsort(code, kind="stable")
            at, code, rows = at[order], code[order], rows[order]
        bounds = np.flatnonzero(np.r_[True, code[1:] != code[:-1], True]).tolist()
        for a, b in zip(bounds[:-1], bounds[1:]):
            pid, g = int(code[a] >> 32), int(code[a] & 0xFFFFFFFF)
            grp = self._group(pid, g)
            if grp is None:
                continue
            offs = rows[a:b] - self._where.starts[pid][g]
            o0, n = int(offs[0]), b - a
            if int(offs[-1]) - o0 == n - 1 and (n < 3 or (np.diff(offs) == 1).all()):
                ks, vs = grp[0].slice(o0, n).to_pylist(), grp[1].slice(o0, n).to_pylist()
            else:
                offs = pa.array(offs)
                ks, vs = grp[0].take(offs).to_pylist(), grp[1].take(offs).to_pylist()
            want = [keys[j] for j in at[a:b].tolist()]
            if ks == want:
                out.update(zip(ks, vs))
            else:  # a key sharing another's hash: a miss, never that key's value
                out.update((k, v) for k, w, v in zip(ks, want, vs) if k == w)

    def get_many_bytes(self, keys: Iterable[str]) -> dict[str, bytes]:
        idx = self._load()
        keys = list(keys)
        out = {k: idx[k] for k in keys if k in idx} if idx else {}
        if len(out) < len(keys) and self.path:
            away = [k for k in keys if k not in out] if out else keys
            with self._lock:
                hot = self._hot
                if hot:
                    rest = []
                    for k in away:
                        v = hot.get(k)
                        if v is None:
                            rest.append(k)
                        else:
                            hot.move_to_end(k)
                            out[k] = v
                    away = rest
                if away:
                    got: dict[str, bytes] = {}
                    self._from_parts(away, got)
                    out.update(got)
                    self._keep_hot(got)
        hit = len(keys) if len(out) == len(keys) else sum(1 for k in keys if k in out)
        self.hits += hit
        self.misses += len(keys) - hit
        return out

    def _keep_hot(self, got: Mapping[str, bytes]) -> None:
        hot, cost = self._hot, self.ENTRY_BYTES
        for k, v in got.items():
            old = hot.pop(k, None)
            if old is not None:
                self._hot_bytes -= len(old) + cost
            hot[k] = v
            self._hot_bytes += len(v) + cost
        while hot and self._hot_bytes > self.hot_bytes:
            self._hot_bytes -= len(hot.popitem(last=False)[1]) + cost

    def put_many_bytes(self, items: Mapping[str, bytes]) -> None:
        """Add items (one new part file, written atomically). Safe to call per batch."""
        if not items:
            return
        idx = self._load()
        with self._lock:
            if not self.path:  # a memory-only store keeps its values
                idx.update(items)
                return
            import pyarrow as pa

            keys = list(items)
            table = pa.table({"key": pa.array(keys, pa.string()),
                              "value": pa.array(list(items.values()), pa.binary())})
            name, starts = self._write_table(table)
            self._seen.add(name)
            self._where.add(keys, self._where.add_part(name, starts))
            # the newest values stay in memory; the oldest beyond the budget are read back
            idx.update(items)
            size = sum(len(v) for v in items.values()) + self.ENTRY_BYTES * len(items)
            self._written.append((keys, size))
            self._written_bytes += size
            while self._written and self._written_bytes > self.keep_written_bytes:
                ks, size = self._written.popleft()
                self._written_bytes -= size
                for k in ks:
                    idx.pop(k, None)

    def _rows_per_group(self, table) -> int:
        values = table.column("value")
        per_row = max(1, values.nbytes // max(1, table.num_rows))
        # at most Parquet's default row-group length, so the groups are exactly this long
        return int(min(max(1024, self.GROUP_BYTES // per_row), 1 << 20))

    def _write_table(self, table):
        """Write one part atomically (temporary name, fsync, rename): its name and its
        row groups' first rows."""
        import pyarrow.parquet as pq

        os.makedirs(self.path, exist_ok=True)
        tmp = os.path.join(self.path, f".tmp-{uuid.uuid4().hex}.parquet")
        rpg = self._rows_per_group(table)
        pq.write_table(table, tmp, row_group_size=rpg, write_page_checksum=True)
        return self._land(tmp), list(range(0, max(table.num_rows, 1), rpg))

    def _land(self, tmp: str) -> str:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        name = f"part-{_part_name()}-{_file_digest(tmp)}.parquet"
        os.replace(tmp, os.path.join(self.path, name))
        return name

    def discard(self, keys: Iterable[str], why: str) -> None:
        """Forget values that failed to decode (they are recomputed and written again)."""
        keys = list(keys)
        if not keys:
            return
        idx = self._load()
        with self._lock:
            for k in keys:
                idx.pop(k, None)
                v = self._hot.pop(k, None)
                if v is not None:
                    self._hot_bytes -= len(v) + self.ENTRY_BYTES
            self._where.remove(keys)
            self._discarded.update(keys)
        self.hits -= len(keys)
        self.misses += len(keys)
        self._warn(f"vlitq cache: {len(keys)} damaged value(s) in {self.path} ({why}); "
                   "recomputed")

    def __len__(self) -> int:
        idx = self._load()
        return len(self._where) if self.path else len(idx)

    def n_parts(self) -> int:
        """Part files in the store's folder now (0 for a memory-only store)."""
        if not self.path or not os.path.isdir(self.path):
            return 0
        return sum(1 for f in os.listdir(self.path) if _parse_part_name(f))

    def compact_on_disk(self, drop: Iterable[str] = ()) -> bool:
        """Merge the folder's part files into one, a row group at a time (nothing is loaded
        into this store; the first part in name order, the oldest, wins a key, as when opening
        it, so a key shared by many samples stays where a sequential run first meets it): for a
        process that will not read the store itself (the Ray driver before its actors open it;
        each would compact the same parts otherwise). For keys in ``drop`` (values that failed
        to decode) the last copy is kept if there are several (the recomputed one), none if
        there is one. Returns whether it merged anything; a damaged part is quarantined and
        left out."""
        if not self.path or not os.path.isdir(self.path):
            return False
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        names = sorted(f for f in os.listdir(self.path) if _parse_part_name(f))
        parts = []
        for fn in names:
            got = self._verified_keys(fn)
            if got is not None:
                parts.append((fn, got[0]))
        if len(parts) < 2:
            return False
        # the first occurrence of each key (parts in name order) is kept
        keys = pa.chunked_array([k.cast(pa.large_string()) for _, k in parts]).combine_chunks()
        ends = (pa.table({"k": keys, "i": pa.array(np.arange(len(keys)))})
                .group_by("k", use_threads=False).aggregate([("i", "min"), ("i", "max")]))
        first, last = ends.column("i_min").to_numpy(), ends.column("i_max").to_numpy()
        drop = list(drop)
        if drop:  # a damaged value: its recomputed (last) copy, or nothing
            bad = pc.is_in(ends.column("k"), pa.array(drop, pa.large_string())).to_numpy(
                zero_copy_only=False)
            first = np.where(bad, last, first)[~(bad & (first == last))]
        keep = np.zeros(len(keys), bool)
        keep[first] = True
        del keys, ends, first, last
        schema = pa.schema([("key", pa.large_string()), ("value", pa.large_binary())])
        tmp = os.path.join(self.path, f".tmp-{uuid.uuid4().hex}.parquet")
        buf, buf_bytes, off = [], 0, 0
        writer = pq.ParquetWriter(tmp, schema, write_page_checksum=True)
        merged = []
        try:
            def flush():
                t = pa.concat_tables(buf)
                writer.write_table(t, row_group_size=self._rows_per_group(t))
                buf.clear()

            for fn, k in parts:
                n = len(k)
                mask, off = keep[off: off + n], off + n
                try:
                    with open(os.path.join(self.path, fn), "rb") as fh:
                        pf = pq.ParquetFile(fh, page_checksum_verification=True)
                        start = 0
                        for g in range(pf.metadata.num_row_groups):
                            t = pf.read_row_group(g, columns=["key", "value"])
                            m = mask[start: start + t.num_rows]
                            start += t.num_rows
                            if m.any():
                                buf.append(t.filter(pa.array(m)).cast(schema))
                                buf_bytes += buf[-1].nbytes
                            if buf_bytes >= self.GROUP_BYTES:
                                flush()
                                buf_bytes = 0
                except FileNotFoundError:  # compacted away by another process meanwhile
                    continue
                merged.append(fn)
            if buf:
                flush()
        finally:
            writer.close()
        if len(merged) < 2:
            os.remove(tmp)
            return False
        self._land(tmp)
        for fn in merged:  # the merged part has landed: the old ones may go
            try:
                os.remove(os.path.join(self.path, fn))
            except FileNotFoundError:
                pass
        return True

    def compact(self) -> None:
        """Merge all part files into one (the merged part lands before the old ones go); the
        store then reads from the merged part."""
        if not self.path or not os.path.isdir(self.path):
            return
        with self._lock:
            if self._index is None:
                self._index = {}
            if not self.compact_on_disk(self._discarded):
                self._scan()
                return
            self._where = _Locations()
            self._groups.clear()
            self._groups_bytes = 0
            self._seen = set()
            self._scan()  # values still in memory stay valid: the merged part holds them too


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
