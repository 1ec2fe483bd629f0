"""The local engine: chunked, cached, batched execution of scorers, then indicators.

The dataset is processed chunk by chunk (``chunk_size`` samples); within a chunk each scorer
looks its rows up in the cache, computes only the missing ones in batches of its
``batch_size``, and writes them to the cache batch by batch. A run killed at any point therefore
resumes with every finished batch served from the cache.

Rows whose error is a defect of the content (cause ``"sample"``) are cached like results;
component failures (cause ``"component"``) never are. Image content hashes are memoised across
runs (:class:`_ImageHasher`). Each indicator's result is cached under a key made of its identity
and the content of everything it can see (:func:`indicator_key`), so a warm re-run loads no
model and imports no model library.
"""
from __future__ import annotations

import json
import logging
import math
import os
import stat
import time
from typing import Any, Sequence

import polars as pl

from vlitq._utils import HashSink, blake2b, peak_rss_mib, progress, stable_json
from vlitq.data.images import image_content_hash, is_inline
from vlitq.cache import Cache, result_params
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.report.report import ERROR_SCHEMA, INDICATOR_SCHEMA, Report
from vlitq.scorers.base import Scorer, error_cause

logger = logging.getLogger("vlitq")


# ------------------------------------------------------------------------------- cache keys
#: What identifies a component's results besides the content (execution parameters left out).
component_params_key = result_params

#: Set to 1 to re-read and hash every image instead of trusting (path, size, mtime_ns).
VERIFY_IMAGES_ENV = "VLITQ_VERIFY_IMAGES"


def verify_images() -> bool:
    """Whether ``VLITQ_VERIFY_IMAGES`` asks to re-read every image (no memo across runs)."""
    return os.environ.get(VERIFY_IMAGES_ENV, "") in ("1", "true", "yes")


class _ImageHasher:
    """Content hash of image references, memoised in the run and, with a cache, across runs.

    Across runs the memo is keyed by the file's resolved path, size, mtime (ns) and inode: a
    file that changed since it was hashed gets a new key and is read again. The trade-off: a
    file rewritten in place with the same size and the same mtime_ns (only possible by setting
    the mtime back on purpose, or on file systems with coarse timestamps within one tick) would
    keep its old hash; ``VLITQ_VERIFY_IMAGES=1`` re-reads and hashes every image.
    """

    def __init__(self, cache: Cache | None = None):
        self.memo: dict[tuple, str] = {}
        self.store = None
        if cache is not None and cache.root and not verify_images():
            self.store = cache.store("image_hashes", {"v": 1})
        self._pending: dict[str, bytes] = {}
        self._sigs: dict[tuple, str] = {}  # signatures looked up by ``prefetch`` and not found
        self.json_memo: dict[int, tuple] = {}  # per chunk: id(value) -> (value, its JSON)

    def _signature(self, ref: str, root, allow) -> str | None:
        from vlitq.data.images import ImageError, resolve_path

        if ref.startswith("missing:"):
            return None
        try:
            path = resolve_path(ref, root, allow)
            st = os.stat(path)
        except (ImageError, OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return blake2b(path, str(st.st_size), str(st.st_mtime_ns), str(st.st_ino))

    def prefetch(self, batch: dict[str, list]) -> None:
        """Look the batch's images up in the memo store in one read (a warm run asks the
        store once a batch, not once an image); what it finds goes to ``memo``."""
        imgs = batch.get("images")
        if self.store is None or not imgs:
            return
        want: dict[tuple, str] = {}
        for refs, root, allow in zip(imgs, batch["image_root"], batch["allow_outside_root"]):
            for r in refs or ():
                k = (r, root, allow)
                if k in self.memo or k in want or k in self._sigs or is_inline(r) \
                        or r.startswith("inline:"):
                    continue
                sig = self._signature(r, root, allow)
                if sig is not None:
                    want[k] = sig
        if not want:
            return
        got = self.store.get_many_bytes(list(dict.fromkeys(want.values())))
        for k, sig in want.items():
            v = got.get(sig)
            if v is not None:
                self.memo[k] = v.decode("ascii", "replace")
            else:
                self._sigs[k] = sig

    def __call__(self, ref: str, root, allow) -> str:
        if is_inline(ref):
            return blake2b(ref)
        if ref.startswith("inline:"):  # streamed light frame: inline data already hashed
            return ref
        k = (ref, root, allow)
        h = self.memo.get(k)
        if h is not None:
            return h
        sig = self._sigs.pop(k, None)  # looked up by prefetch already and not found
        if sig is None and self.store is not None:
            sig = self._signature(ref, root, allow)
            if sig is not None:
                got = self.store.get_many_bytes([sig]).get(sig)
                if got is not None:
                    h = got.decode("ascii", "replace")
        if h is None:
            h = image_content_hash(ref, root, allow)
            if sig is not None and not h.startswith("error:"):
                self._pending[sig] = h.encode("ascii")
        self.memo[k] = h
        return h

    def flush(self) -> None:
        """Write the hashes computed since the last flush (one part per chunk)."""
        if self.store is not None and self._pending:
            self.store.put_many_bytes(self._pending)
        self._pending = {}
        self._sigs = {}
        self.json_memo = {}


def row_keys(scorer: Scorer, batch: dict[str, list], hasher: _ImageHasher) -> list[str]:
    """Content key of each row for ``scorer`` (its ``inputs`` columns; image bytes by hash)."""
    n = len(batch["sample_id"])
    if "images" in scorer.inputs:
        hasher.prefetch(batch)
    memo = hasher.json_memo
    if len(memo) > 65536:  # callers that never flush (Ray actors) keep it bounded
        memo.clear()
    keys = []
    for i in range(n):
        parts = []
        for col in scorer.inputs:
            if col == "images":
                refs = batch.get("images", [None] * n)[i] or []
                parts.append(
                    "|".join(hasher(r, batch["image_root"][i], batch["allow_outside_root"][i])
                             for r in refs)
                )
            else:
                v = batch.get(col, [None] * n)[i]
                if isinstance(v, (list, dict)):  # one serialisation per value and chunk,
                    got = memo.get(id(v))         # shared by every scorer reading it
                    if got is None or got[0] is not v:
                        got = memo[id(v)] = (v, stable_json(v))
                    parts.append(got[1])
                else:
                    parts.append(stable_json(v))
        keys.append(blake2b(*parts))
    return keys


#: Reasons that say a run was disturbed (memory, OS, network), not that the content is bad.
_TRANSIENT = ("MemoryError", "OSError", "TimeoutError", "ConnectionError", "BrokenPipeError",
              "InterruptedError", "RuntimeError: CUDA", "torch.OutOfMemoryError")


def cacheable_error(reason: str | None) -> bool:
    """Whether a row with this error reason may be cached: no error, or a defect of the
    content itself (a broken image, an empty response: cause ``"sample"``). A component that
    could not run (cause ``"component"``: model missing, server down) and transient failures
    are never cached, so the next run tries again.

    >>> cacheable_error(None), cacheable_error("image 1: cannot identify image file")
    (True, True)
    >>> cacheable_error("not evaluated: matching: could not load: no weights")
    False
    >>> cacheable_error("MemoryError: ")
    False
    """
    if not reason:
        return True
    if error_cause(reason) != "sample":
        return False
    return not str(reason).startswith(_TRANSIENT)


def _take(batch: dict[str, list], idx: Sequence[int]) -> dict[str, list]:
    return {k: [v[i] for i in idx] for k, v in batch.items()}


# ------------------------------------------------------------------------------- scorers
def run_scorer_on_batch(scorer: Scorer, batch: dict[str, list], cache: Cache | None,
                        hasher: _ImageHasher) -> dict[str, list]:
    """Score one batch with cache look-up; rows with a read error are skipped (all null)."""
    cols = scorer.output_columns()
    n = len(batch["sample_id"])
    out = {c: [None] * n for c in cols}
    todo = [i for i in range(n) if not batch.get("read_error", [None] * n)[i]]
    if not todo:
        return out
    store = None
    keys: list[str] = []
    if cache is not None and scorer.cacheable:
        store = cache.store(scorer.name, component_params_key(scorer))
        sub = _take(batch, todo)
        keys = row_keys(scorer, sub, hasher)
        hit = store.get_many_json(keys)
        remaining = []
        for j, (i, k) in enumerate(zip(todo, keys)):
            if k in hit:
                for c in cols:
                    out[c][i] = hit[k].get(c)
            else:
                remaining.append(j)
        todo_keys = [keys[j] for j in remaining]
        todo = [todo[j] for j in remaining]
    else:
        todo_keys = []
    bs = max(1, int(scorer.batch_size))
    for off in range(0, len(todo), bs):
        idx = todo[off : off + bs]
        res = scorer(_take(batch, idx))
        to_store = {}
        for j, i in enumerate(idx):
            for c in cols:
                out[c][i] = res[c][j]
            if store is not None and cacheable_error(res[cols[1]][j]):
                to_store[todo_keys[off + j]] = {c: res[c][j] for c in cols}
        if store is not None:
            store.put_many_json(to_store)
    return out


def add_timing(timings: dict, name: str, wall: float, cpu: float,
               peak_mib: float | None = None) -> None:
    """Add one measurement to a run's ``timings``: wall seconds under ``name``, process CPU
    seconds under ``timings["__cpu__"][name]`` (what the report's ``seconds`` /
    ``cpu_seconds`` show), and the peak RSS of the process that ran it when it finished
    (``timings["__rss__"][name]``, the largest seen: the report's ``peak_rss_mib``)."""
    timings[name] = timings.get(name, 0.0) + wall
    per_cpu = timings.setdefault("__cpu__", {})
    per_cpu[name] = per_cpu.get(name, 0.0) + cpu
    if peak_mib is not None:
        per_rss = timings.setdefault("__rss__", {})
        per_rss[name] = max(per_rss.get(name, 0.0), float(peak_mib))


#: Rows a per-sample column is held as Python objects before it becomes a polars slice
#: (:class:`ColumnBuilder`), and rows of the Ray driver's payloads decoded at a time.
SLICE_ROWS = 65_536


def _json_series(name: str, values) -> pl.Series:
    """``values`` as JSON text (nulls kept): the column polars cannot type."""
    return pl.Series(name, [None if v is None else json.dumps(v, default=str) for v in values],
                     dtype=pl.Utf8)


def _typed_series(name: str, values: list) -> pl.Series:
    """``values`` as a typed polars column; raises when polars cannot type them (it would
    hold them as Python objects, a column no Parquet, IPC or cache digest can take)."""
    s = pl.Series(name, values, strict=False)
    if s.dtype == pl.Object:
        raise TypeError(f"column {name!r}: values of mixed kinds")
    return s


def _to_series(name: str, values: list) -> pl.Series:
    """A per-sample column: typed where polars can type it, else JSON text."""
    try:
        return _typed_series(name, values)
    except Exception:
        return _json_series(name, values)


class ColumnBuilder:
    """One per-sample column built a slice at a time: values stay Python objects only until
    ``slice_rows`` of them have arrived, then become a polars slice, so a long run holds its
    columns in polars' compact form, not as millions of Python objects (at 665k samples the
    default scorers' columns are ≈ 0.3 GB in polars, ≈ 1.3 GB and more as Python lists).

    :meth:`finish` joins the slices with polars' supertype rules (``vertical_relaxed``): null,
    int and float slices, empty and non-empty lists, structs with different fields come out as
    one :func:`_to_series` call over the whole column gives. Values polars cannot hold in any
    slice make the whole column JSON text, as :func:`_to_series` would; the slices already
    converted are then written as JSON from their polars values."""

    def __init__(self, name: str, slice_rows: int = SLICE_ROWS):
        self.name, self.slice_rows = name, slice_rows
        self._pending: list = []
        self._parts: list[pl.Series] = []
        self._json = False  # the column has fallen back to JSON text

    def extend(self, values) -> None:
        self._pending.extend(values)
        if len(self._pending) >= self.slice_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        vals, self._pending = self._pending, []
        if not self._json:
            try:
                self._parts.append(_typed_series(self.name, vals))
                return
            except Exception:
                self._json = True
                self._parts = [_json_series(self.name, p.to_list()) for p in self._parts]
        self._parts.append(_json_series(self.name, vals))

    def finish(self) -> pl.Series:
        self._flush()
        parts, self._parts = self._parts, []
        if not parts:
            return pl.Series(self.name, [])
        if len(parts) == 1:
            return parts[0]
        try:
            return pl.concat([p.to_frame() for p in parts], how="vertical_relaxed").to_series()
        except Exception:  # no common supertype: JSON text, as one _to_series call gives
            return _json_series(self.name, [v for p in parts for v in p.to_list()])


def run_scorers(dataset, scorers: Sequence[Scorer], cache: Cache | None, *,
                chunk_size: int = 1024, show_progress: bool = True,
                timings: dict | None = None, hasher: _ImageHasher | None = None
                ) -> pl.DataFrame:
    """Per-sample columns of every scorer, row-aligned with ``dataset.frame``."""
    hasher = hasher if hasher is not None else _ImageHasher(cache)
    timings = timings if timings is not None else {}
    columns = {c: ColumnBuilder(c) for s in scorers for c in s.output_columns()}
    total = len(dataset) * max(1, len(scorers)) if getattr(dataset, "length_known", True) else None
    bar = progress(total=total, desc="vlitq score", unit="sample", disable=not show_progress or None)
    try:
        for chunk in dataset.iter_chunks(chunk_size):
            batch = chunk.to_batch()
            for s in scorers:
                t0, c0 = time.perf_counter(), time.process_time()
                res = run_scorer_on_batch(s, batch, cache, hasher)
                add_timing(timings, s.name, time.perf_counter() - t0, time.process_time() - c0,
                           peak_rss_mib())
                for c in s.output_columns():
                    columns[c].extend(res[c])
                bar.update(len(chunk))
            hasher.flush()
    finally:
        bar.close()
    cols = [b.finish() for b in columns.values()]
    return pl.DataFrame(cols) if cols else pl.DataFrame()


# ------------------------------------------------------------------------------- indicators
def _frame_digest(df: pl.DataFrame) -> str | None:
    """Digest of a frame's content (Arrow IPC bytes; polars' own row hash is not stable),
    hashed as they are written: the IPC copy of a 665k-sample frame is never held whole."""
    sink = HashSink()
    try:
        df.write_ipc(sink, compression="uncompressed")
    except Exception:  # a column polars cannot serialise: no indicator caching
        return None
    return blake2b(str(sink.nbytes), sink.hexdigest())


def image_hash_strings(images: pl.Series, hasher: _ImageHasher, root, allow,
                       step: int = SLICE_ROWS):
    """Each row's image content hashes joined by ``|`` (a slice of rows at a time, its images
    looked up in the memo store in one read)."""
    for a in range(0, len(images), step):
        part = images.slice(a, step).to_list()
        hasher.prefetch({"images": part, "image_root": [root] * len(part),
                         "allow_outside_root": [allow] * len(part)})
        for refs in part:
            yield "|".join(hasher(r, root, allow) for r in (refs or []))


def dataset_digest(dataset, cache: Cache | None,
                   hasher: _ImageHasher | None = None) -> str | None:
    """Digest of everything a dataset-level indicator may read from the dataset: its frame
    (without the raw ``original`` records and the file locations in ``source``, so a moved
    file costs nothing) and the content hash of every image (``hasher``: the run's, whose
    memo already holds the images the scorers hashed)."""
    frame = dataset.frame
    cols = [c for c in frame.columns if c not in ("original", "source")]
    df = frame.select(cols)
    if "images" in df.columns:
        hasher = hasher if hasher is not None else _ImageHasher(cache)
        root, allow = dataset.image_root, bool(getattr(dataset, "allow_outside_root", False))
        hashes = list(image_hash_strings(df["images"], hasher, root, allow))
        hasher.flush()
        df = df.with_columns(pl.Series("_image_content", hashes, dtype=pl.Utf8))
    d = _frame_digest(df)
    return None if d is None else blake2b(d, pl.__version__)


def indicator_key(ind: Indicator, ctx: IndicatorContext, data_digest: str | None) -> str | None:
    """Cache key of an indicator's result: its identity (execution parameters left out) and
    the content of everything it can see (dataset, per-sample columns so far, task column)."""
    if data_digest is None:
        return None
    sd = _frame_digest(ctx.samples)
    if sd is None:
        return None
    return blake2b(stable_json(result_params(ind)), data_digest, sd, ctx.task_column)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    raise TypeError(f"not JSON: {type(o).__name__}")


def result_to_json(res: IndicatorResult) -> dict | None:
    """An indicator result as JSON (None when it holds values JSON cannot keep exactly)."""
    d = {"value": res.value, "details": res.details, "per_task": res.per_task,
         "sample_columns": {k: list(v) for k, v in res.sample_columns.items()},
         "errors": [list(e) for e in res.errors], "warnings": list(res.warnings),
         "info": res.info, "task_column": res.task_column}
    try:
        return json.loads(json.dumps(d, default=_json_default))
    except (TypeError, ValueError):
        return None


def result_from_json(d: dict | None) -> IndicatorResult | None:
    if not isinstance(d, dict):
        return None
    try:
        return IndicatorResult(
            value=d["value"], details=d["details"] or {}, per_task=d["per_task"] or {},
            sample_columns=d["sample_columns"] or {},
            errors=[tuple(e) for e in d["errors"]], warnings=list(d["warnings"]),
            info=d["info"] or {}, task_column=d.get("task_column"))
    except (KeyError, TypeError):
        return None


def order_indicators(indicators: Sequence[Indicator]) -> list[Indicator]:
    """Topological order by ``after`` (names not requested are ignored)."""
    by_name = {i.name: i for i in indicators}
    done: list[Indicator] = []
    seen: set[str] = set()

    def visit(ind, stack=()):
        if ind.name in seen:
            return
        if ind.name in stack:
            raise ValueError(f"indicator dependency cycle: {' -> '.join(stack + (ind.name,))}")
        for dep in ind.after:
            if dep in by_name:
                visit(by_name[dep], stack + (ind.name,))
        seen.add(ind.name)
        done.append(ind)

    for ind in indicators:
        visit(ind)
    return done


def _aggregate(scorer: Scorer, s: pl.Series) -> tuple[float | None, int]:
    s = s.drop_nulls()
    if scorer.aggregate == "none" or s.len() == 0:
        return None, int(s.len())
    if scorer.aggregate == "share_true":
        return 100.0 * float(s.cast(pl.Float64).mean()), int(s.len())
    if not s.dtype.is_numeric() and s.dtype != pl.Boolean:
        return None, int(s.len())
    v = s.cast(pl.Float64).mean()
    return (None if v is None or math.isnan(v) else float(v)), int(s.len())


def run(dataset, components: Sequence, cache: Cache | None, *, chunk_size: int = 1024,
        show_progress: bool = True, extra_info: dict | None = None, score_fn=None) -> Report:
    """Score ``dataset`` with scorers then indicators; assemble the :class:`Report`.

    ``score_fn(dataset, scorers, cache, chunk_size=, show_progress=, timings=, hasher=)``
    computes the per-sample columns (default: :func:`run_scorers`; the Ray engine passes its
    own)."""
    t_start = time.time()
    scorers = [c for c in components if isinstance(c, Scorer)]
    indicators = order_indicators([c for c in components if isinstance(c, Indicator)])
    timings: dict[str, float] = {}
    streaming = hasattr(dataset, "gathered")
    if not streaming:
        frame = dataset.frame
    hasher = _ImageHasher(cache)  # one image-hash memo for the scorers and the digest
    if score_fn is None:
        scored = run_scorers(dataset, scorers, cache, chunk_size=chunk_size,
                             show_progress=show_progress, timings=timings, hasher=hasher)
    else:
        scored = score_fn(dataset, scorers, cache, chunk_size=chunk_size,
                          show_progress=show_progress, timings=timings, hasher=hasher)
    if streaming:  # indicators see the light frame gathered while streaming
        dataset = dataset.gathered()
        frame = dataset.frame
    produced = {c for s in scorers for c in s.output_columns()}
    # a scorer may own a data column's name (the ``language`` scorer: it copies the data's
    # value into ``language_given``); its output wins rather than clashing
    base_cols = [c for c in ("sample_id", "task", "language", "read_error", "read_warning")
                 if c in frame.columns and c not in produced]
    samples = frame.select(base_cols)
    if scored.width:
        samples = pl.concat([samples, scored], how="horizontal")

    warnings: list[str] = []
    errors: list[dict] = []

    def add_error(sid, scorer, reason):  # file / index are filled in at the end
        errors.append({"sample_id": sid, "scorer": scorer, "reason": reason,
                       "cause": "sample" if scorer == "read" else error_cause(reason),
                       "file": None, "index": None})

    if "read_error" in frame.columns:
        bad = frame.filter(pl.col("read_error").is_not_null() & (pl.col("read_error") != ""))
        for sid, e in zip(bad["sample_id"].to_list(), bad["read_error"].to_list()):
            add_error(sid, "read", e)
    if "read_warning" in frame.columns:  # read, but not exactly as the file has it (#16.3)
        n_warn = frame.height - frame["read_warning"].null_count()
        if n_warn:
            warnings.append(f"{n_warn} samples were read with a read_warning (a value coerced "
                            "to text, a lone surrogate replaced, image tokens not matching the "
                            "images ...): see the read_warning column")
    for s in scorers:
        ec = f"{s.name}_error"
        bad = samples.filter(pl.col(ec).is_not_null()).select("sample_id", ec)
        for sid, e in zip(bad["sample_id"].to_list(), bad[ec].to_list()):
            if e:
                add_error(sid, s.name, e)

    ind_rows: list[dict] = []
    for s in scorers:
        value, n = _aggregate(s, samples[s.name])
        if s.aggregate != "none":
            ind_rows.append({"indicator": s.name, "value": value, "direction": s.direction,
                             "principle": s.principle, "kind": "scorer", "n": n,
                             "details": None})

    per_task: dict[str, dict[str, Any]] = {}
    comp_info: dict[str, Any] = {}
    from_cache: set[str] = set()
    task_column = "task"
    data_digest = (dataset_digest(dataset, cache, hasher)
                   if cache is not None and indicators else None)
    for ind in indicators:
        ctx = IndicatorContext(dataset=dataset, samples=samples, cache=cache)
        ctx.task_column = task_column
        t0, c0 = time.perf_counter(), time.process_time()
        ikey = ind_store = res = None
        if cache is not None and getattr(ind, "cacheable", True):
            ikey = indicator_key(ind, ctx, data_digest)
            if ikey is not None:
                ind_store = cache.store(f"indicator_{ind.name}", {"v": 1})
                res = result_from_json(ind_store.get_many_json([ikey]).get(ikey))
                if res is not None:
                    from_cache.add(ind.name)
        if res is None:
            try:
                res = ind.compute(ctx)
            except Exception as exc:
                logger.exception("indicator %s failed", ind.name)
                res = IndicatorResult(
                    warnings=[f"{ind.name} failed: {type(exc).__name__}: {exc}"])
                ind_store = None  # a failure of the component is never cached
            if ind_store is not None and not (res.value is None and res.warnings):
                payload = result_to_json(res)
                if payload is not None:  # key order kept: the report shows details as given
                    ind_store.put_many_bytes({ikey: json.dumps(payload).encode()})
        add_timing(timings, ind.name, time.perf_counter() - t0, time.process_time() - c0,
                   peak_rss_mib())
        for col, vals in res.sample_columns.items():
            samples = samples.with_columns(_to_series(col, list(vals)))
        if getattr(res, "task_column", None):
            task_column = res.task_column
        for sid, reason in res.errors:
            add_error(sid, ind.name, reason)
        warnings.extend(res.warnings)
        for t, vals in res.per_task.items():
            per_task.setdefault(t, {}).update(vals)
        ind_rows.append({"indicator": ind.name, "value": res.value, "direction": ind.direction,
                         "principle": ind.principle, "kind": "indicator",
                         "n": res.details.get("n", len(dataset)) if res.details else len(dataset),
                         "details": json.dumps(res.details, default=str) if res.details else None})
        if res.info:
            comp_info[ind.name] = res.info

    ctx = IndicatorContext(dataset=dataset, samples=samples, cache=cache)
    ctx.task_column = task_column
    tasks = _task_table(ctx, samples, scorers, per_task)
    _locate_errors(errors, frame)

    for c in [*scorers, *indicators]:
        entry = comp_info.setdefault(c.name, {})
        entry.update({"kind": c.kind, "class": type(c).__name__, "params": c.get_params(),
                      "model": c.model_id(), "seconds": round(timings.get(c.name, 0.0), 4)})
        if c.name in timings.get("__cpu__", {}):  # process CPU seconds (steadier under load)
            entry["cpu_seconds"] = round(timings["__cpu__"][c.name], 4)
        if c.name in timings.get("__rss__", {}):  # peak RSS of its process when it finished
            entry["peak_rss_mib"] = round(timings["__rss__"][c.name], 1)
        if c.name in from_cache:
            entry["from_cache"] = True
    info = {
        "vlitq_version": _version(),
        "n_samples": len(dataset),
        "format": dataset.format,
        "image_root": dataset.image_root,
        "streamed": streaming,
        "task_column": task_column,
        "components": comp_info,
        "cache": (cache.root if cache is not None else None),
        "cache_stats": cache.stats() if cache is not None else {},
        "seconds": round(time.time() - t_start, 4),
        "warnings": warnings + (list(cache.events) if cache is not None else []),
    }
    if extra_info:
        info.update(extra_info)
    return Report(
        samples=samples,
        indicators=pl.DataFrame(ind_rows, schema=INDICATOR_SCHEMA),
        tasks=tasks,
        errors=pl.DataFrame(errors, schema=ERROR_SCHEMA),
        info=json.loads(json.dumps(info, default=str)),
    )


def _locate_errors(errors: list[dict], frame: pl.DataFrame) -> None:
    """Fill each error's ``file`` / ``index`` from the ``source`` column, looking up only the
    samples that have an error (no map of every sample's source is built)."""
    if not errors or "source" not in frame.columns:
        return
    want = {e["sample_id"] for e in errors}
    hit = frame.filter(pl.col("sample_id").is_in(list(want))).select("sample_id", "source")
    where = dict(zip(hit["sample_id"].to_list(), hit["source"].to_list()))
    for e in errors:
        loc = where.get(e["sample_id"]) or {}
        e["file"], e["index"] = loc.get("file"), loc.get("index")


def _task_table(ctx: IndicatorContext, samples: pl.DataFrame, scorers, per_task) -> pl.DataFrame:
    labels = ctx.task_labels()
    df = samples.with_columns(pl.Series("_task", labels))
    aggs = [pl.len().alias("n")]
    for s in scorers:
        if s.aggregate != "none" and (samples[s.name].dtype.is_numeric()
                                      or samples[s.name].dtype == pl.Boolean):
            e = pl.col(s.name).cast(pl.Float64).mean()
            aggs.append((e * 100 if s.aggregate == "share_true" else e).alias(s.name))
    t = df.group_by("_task").agg(aggs).rename({"_task": "task"}).sort("task")
    t = t.with_columns((100.0 * pl.col("n") / max(1, len(labels))).alias("share"))
    if per_task:
        keys = sorted({k for v in per_task.values() for k in v})
        extra = pl.DataFrame(
            [{"task": tk, **{k: per_task.get(tk, {}).get(k) for k in keys}} for tk in per_task],
            strict=False,
        )
        t = t.join(extra, on="task", how="left")
    return t


def _version() -> str:
    from vlitq import __version__

    return __version__
