"""Ray Data engine: per-sample scorers in one actor pool, for clusters (``engine="ray"``).

The per-sample scorers run together in one actor pool, ``Dataset.map_batches(ScorerUDF,
compute=ActorPoolStrategy(size=n), num_gpus=...)``: each actor loads every scorer's model once
and passes each block through all of them, through the same cached code path as the local
engine (a shared ``VLITQ_CACHE_HOME`` on a network file system makes a cluster run resumable
too). One pool, not one per scorer: a pool per scorer needs scorers × actors CPU slots and
deadlocks on a machine with fewer (five scorers × two actors on two cores never started), and
a block crosses the object store once instead of once per scorer. Reading and writing are Ray
tasks that reserve no CPU slot (short, I/O-bound; their concurrency is capped at the CPU
count), so the scoring actors can hold every core. Each actor measures its scorers' wall and
CPU seconds, which the report sums over actors (actor-seconds, comparable with the local
engine's figures). Scores are written as Parquet (``output_dir``) and
gathered; the dataset-level indicators then run on the driver over the gathered columns, so the
report is the same as the local engine's.

Reading: given a file, a folder of shards or a list of files (``vlitq.score(path,
engine="ray")``), the files are read by Ray tasks, one per file, each with vlitq's own reader of
the format (so ids, read errors and the row shape are those of :func:`vlitq.read`): the driver
never parses the data. The scored rows are written as Parquet (light columns + scores), and the
driver reads that Parquet back for the dataset-level indicators. An in-memory
:class:`~vlitq.data.Dataset` is handed to Ray as Arrow blocks instead.

Options (``vlitq.score(..., engine="ray", ...)``): ``num_actors`` (default: the cluster's CPU
count, or its GPU count / ``num_gpus`` when ``num_gpus`` is set), ``num_gpus`` (per actor,
default 0), ``batch_size`` (rows per actor call, default ``chunk_size``; each scorer
still splits them into its own ``batch_size``), ``output_dir`` (default: a temporary folder), ``address`` (``ray.init``
address; default: a running cluster or a local instance).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time

import polars as pl

from vlitq._dependencies import import_optional
from vlitq._utils import peak_rss_mib
from vlitq.cache import Cache
from vlitq.engine.local import (SLICE_ROWS, ColumnBuilder, _ImageHasher, add_timing,
                                run as local_run, run_scorer_on_batch)

logger = logging.getLogger("vlitq")

#: Input files a folder may hold (shards), read by one Ray task each.
SHARD_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv", ".tsv")


class RayFiles:
    """Input files read by Ray tasks (see the module docstring); after scoring,
    :meth:`gathered` is the light dataset of everything read (the streaming protocol of the
    local engine)."""

    def __init__(self, paths, *, format: str | None = None, image_root: str | None = None,
                 allow_outside_root: bool = False, **options):
        from vlitq.data.formats import FormatError, detect

        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        files: list[str] = []
        for p in map(os.fspath, items):
            if os.path.isdir(p) and (format is None or format in ("llava", "flat")) and any(
                    f.endswith(SHARD_SUFFIXES) for f in os.listdir(p)):
                files += sorted(os.path.join(p, f) for f in os.listdir(p)
                                if f.endswith(SHARD_SUFFIXES))
            elif os.path.exists(p):
                files.append(p)
            else:
                raise FormatError(f"no such file or folder: {p}")
        if not files:
            raise FormatError(f"no input files in {items}")
        self.files = files
        self.format = format or detect(files[0])
        first = os.fspath(items[0])
        self.image_root = image_root or (first if os.path.isdir(first)
                                         else os.path.dirname(os.path.abspath(first)))
        self.allow_outside_root = allow_outside_root
        self.options = options
        self._gathered = None

    def __len__(self) -> int:
        return len(self._gathered) if self._gathered is not None else 0

    @property
    def length_known(self) -> bool:
        return self._gathered is not None

    def gathered(self):
        from vlitq.data.dataset import Dataset

        if self._gathered is None:
            raise RuntimeError("RayFiles.gathered() before the Ray run")
        return Dataset(self._gathered, self.image_root, self.format, {},
                       self.allow_outside_root)


def _read_file(batch, *, fmt: str, options: dict, image_root: str, allow_outside_root: bool,
               rows_per_block: int = 1024):
    """Ray task body: one input file → its samples as Arrow tables in the Dataset row shape,
    plus the columns the scorers need (``image_root``...) and the sort keys ``_file``/``_pos``."""
    from itertools import islice

    from vlitq.data.dataset import UniqueIds, records_to_frame
    from vlitq.data.formats import iter_samples

    rows = max(1, int(rows_per_block))
    for file_no, path in zip(batch["_file"], batch["path"]):
        # streamed: ``rows_per_block`` records at a time become one block, so a read task
        # never holds the frame of a whole file (ids unique over the file, as vlitq.read)
        it, unique, pos = iter_samples(str(path), fmt, **options), UniqueIds(), 0
        while True:
            recs = list(islice(it, rows))
            if not recs and pos:
                break
            f = records_to_frame(recs, unique=unique)
            f = f.with_columns(
                pl.lit(int(file_no), dtype=pl.Int64).alias("_file"),
                pl.int_range(pos, pos + f.height, dtype=pl.Int64).alias("_pos"),
                pl.lit(image_root, dtype=pl.Utf8).alias("image_root"),
                pl.lit(allow_outside_root).alias("allow_outside_root"))
            pos += f.height
            yield f.to_arrow()
            if not recs:
                break


def _light_table(table, images: list | None = None):
    """:func:`vlitq.engine.stream.light_frame` on an Arrow table, in Arrow: no ``original``,
    inline image data replaced by its hash. Not through polars: a polars round trip of Ray's
    blocks in the actor kept ≈ 37 MB of native memory per 1,024-row block (measured: an
    actor's anonymous memory 664 → 1,399 MiB over 20 blocks with it, 664 → 789 without).
    ``images``: the column as Python lists when the caller has it already."""
    import pyarrow as pa

    from vlitq.engine.stream import is_inline, light_image_refs

    if "original" in table.column_names:
        table = table.drop_columns(["original"])
    if "images" in table.column_names:
        col = table.column("images")
        refs = images if images is not None else col.to_pylist()
        if any(is_inline(r) for rs in refs for r in (rs or ())):
            table = table.set_column(table.column_names.index("images"), "images",
                                     pa.array(light_image_refs(refs), type=col.type))
    return table


class ScorerUDF:
    """Callable class for ``map_batches``: every per-sample scorer of the run, their models
    loaded once per actor; a block goes through all of them (as a chunk in the local engine).

    Adds ``__<scorer>`` (each row's columns as JSON) and ``__timing`` (this block's
    ``{scorer: [wall s, CPU s, the actor's peak RSS MiB]}`` on its first row). With ``light`` (input read from files),
    the raw ``original`` records and inline image bytes are dropped before the block leaves
    the actor (:func:`vlitq.engine.stream.light_frame`)."""

    def __init__(self, specs: list, cache_root: str | None, light: bool = False):
        from vlitq import registry

        self.scorers = [registry.create(name, params) for name, params in specs]
        self.cache = Cache(cache_root) if cache_root else None
        self.hasher = _ImageHasher(self.cache)
        self.light = light

    def __call__(self, table):
        import pyarrow as pa

        batch = {c: table.column(c).to_pylist() for c in table.column_names}
        n = len(batch["sample_id"])
        payloads, timing = {}, {}
        for s in self.scorers:
            t0, c0 = time.perf_counter(), time.process_time()
            res = run_scorer_on_batch(s, batch, self.cache, self.hasher)
            cols = s.output_columns()
            payloads[s.name] = [json.dumps({c: res[c][i] for c in cols}, default=str)
                                for i in range(n)]
            timing[s.name] = [time.perf_counter() - t0, time.process_time() - c0,
                              peak_rss_mib()]
        self.hasher.flush()
        if self.light:
            table = _light_table(table, batch.get("images"))
        for name, vals in payloads.items():
            table = table.append_column(f"__{name}", pa.array(vals, pa.string()))
        marks = [json.dumps(timing)] + [None] * (table.num_rows - 1) if table.num_rows else []
        return table.append_column("__timing", pa.array(marks, pa.string()))


def _compact_for_actors(cache, scorers) -> None:
    """Merge the part files of every store the actors will open (each scorer's, the image
    hashes') on the driver, once, before they start: every actor loads its stores whole and
    compacts a store of more than ``COMPACT_AT`` parts itself, so N actors would each merge
    the same parts (a cold run leaves a part per block and scorer). Done in Arrow: the
    driver's memory does not hold the values as Python objects."""
    from vlitq.cache import COMPACT_AT
    from vlitq.engine.local import component_params_key, verify_images

    stores = [cache.store(s.name, component_params_key(s)) for s in scorers if s.cacheable]
    if not verify_images():
        stores.append(cache.store("image_hashes", {"v": 1}))
    for st in stores:
        try:
            if st.n_parts() > COMPACT_AT:
                st.compact_on_disk()
        except OSError as exc:  # read-only or full disk: the actors read the parts as they are
            logger.debug("could not compact %s: %s", st.path, exc)


class _RunMemo:
    """A whole Ray run of input files, kept in the cache so that the same run again starts
    no Ray at all: its scored Parquet (light rows + every scorer's columns) is linked into
    ``<cache>/ray_runs/<key>/``; a later run with the same key reads it back on the driver.

    The key is the input files' paths and content (blake2b of their bytes: the driver reads
    each file once, ≈ 1 s per GB here; the rows carry their file's path), their format, reader options, image root, every scorer's
    identity (name, version, the parameters that change results, model id, in run order) and
    the vlitq and polars versions. Images are not in the key (the driver has not read the
    rows yet): the content hashes of every row's images are digested when the run is kept
    and compared again, through the image-hash memo (``stat`` per image), before a kept run
    is used; a difference (or ``VLITQ_VERIFY_IMAGES=1`` with a scorer that reads images)
    runs Ray as usual. A run is kept only when no row has an error that must be retried (a
    component that could not run, a transient failure: :func:`~vlitq.engine.local.cacheable_error`);
    each kept file's checksum is verified before use, a damaged entry is removed (warning)
    and the run recomputed."""

    NAMESPACE = "ray_runs"

    def __init__(self, cache, files: "RayFiles", scorers):
        from vlitq._utils import blake2b, stable_json
        from vlitq.cache import _file_digest, result_params
        from vlitq.engine.local import _version, verify_images

        self.cache = cache
        self.uses_images = any("images" in s.inputs for s in scorers)
        self.dir = None
        if cache is None or not cache.root or (verify_images() and self.uses_images):
            return
        parts = ["vlitq-ray-run-v1", _version(), pl.__version__,
                 stable_json([result_params(s) for s in scorers]), files.format,
                 stable_json(files.options), os.path.abspath(files.image_root),
                 str(bool(files.allow_outside_root))]
        try:
            # paths too: the rows carry their file's path (an error's location)
            parts += [x for f in files.files for x in (os.path.abspath(f), _file_digest(f))]
        except OSError:
            return
        self.dir = os.path.join(cache.root, self.NAMESPACE, blake2b(*parts))

    def _drop(self, why: str) -> None:
        import shutil

        msg = f"vlitq cache: kept Ray run {self.dir} not used ({why}); the run is recomputed"
        logger.warning(msg)
        self.cache.events.append(msg)
        shutil.rmtree(self.dir, ignore_errors=True)

    def load(self) -> tuple[list[str], str | None] | None:
        """The kept run's Parquet files (checksums verified) and its images' digest."""
        if self.dir is None or not os.path.isdir(self.dir):
            return None
        from vlitq.cache import _file_digest

        try:
            with open(os.path.join(self.dir, "entry.json")) as fh:
                entry = json.load(fh)
            paths = []
            for name, digest in entry["parts"]:
                path = os.path.join(self.dir, name)
                if _file_digest(path) != digest:
                    self._drop(f"{name}: checksum mismatch")
                    return None
                paths.append(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._drop(f"unreadable: {type(exc).__name__}: {exc}")
            return None
        return paths, entry.get("images")

    def images_digest(self, light: pl.DataFrame, image_root, allow,
                      hasher=None) -> str | None:
        """Digest of the content hash of every row's images (None: no scorer reads them).
        ``hasher``: the run's, so the dataset digest after it finds every hash in its memo."""
        if not self.uses_images or "images" not in light.columns:
            return None
        import hashlib

        from vlitq.engine.local import _ImageHasher, image_hash_strings

        hasher = hasher if hasher is not None else _ImageHasher(self.cache)
        h = hashlib.blake2b(digest_size=16)
        for row in image_hash_strings(light["images"], hasher, image_root, allow):
            h.update((row + "\n").encode("utf-8", "surrogatepass"))
        hasher.flush()
        return h.hexdigest()

    def save(self, parts: list[str], images: str | None) -> None:
        import shutil
        import uuid

        from vlitq.cache import _file_digest

        if self.dir is None or os.path.isdir(self.dir):
            return
        tmp = os.path.join(os.path.dirname(self.dir), f".tmp-{uuid.uuid4().hex}")
        try:
            os.makedirs(tmp)
            names = []
            for i, src in enumerate(parts):
                name = f"{i:06d}.parquet"
                _link_or_copy(src, os.path.join(tmp, name))
                names.append([name, _file_digest(os.path.join(tmp, name))])
            with open(os.path.join(tmp, "entry.json"), "w") as fh:
                json.dump({"parts": names, "images": images}, fh)
            os.rename(tmp, self.dir)  # whole or not at all
        except OSError as exc:  # read-only or full cache, or another run kept it first
            logger.debug("could not keep the Ray run in %s: %s", self.dir, exc)
            shutil.rmtree(tmp, ignore_errors=True)


def _gather(parts: list[str], dataset, scorers, files: bool, timings: dict | None):
    """The scored Parquet back on the driver: the light rows and keys first (the light rows
    become ``dataset``'s gathered frame), then one scorer's column at a time, decoded in
    slices, so the driver never holds every scorer's payload at once."""
    score_cols = [f"__{s.name}" for s in scorers]
    parts = _parts_in_row_order(parts)
    # Ray's writer gives every part one schema
    head = pl.read_parquet(parts, columns=[c for c in pl.read_parquet_schema(parts[0])
                                           if c not in score_cols])
    order = head.select(pl.arg_sort_by("_file", "_pos")).to_series()
    if order.is_sorted():  # a sorted permutation is the identity
        order = None  # parts hold contiguous runs of rows: already in order, nothing gathered
    if timings is not None:
        for mark in head["__timing"].drop_nulls().to_list():
            for name, (wall, proc, *peak) in json.loads(mark).items():
                add_timing(timings, name, wall, proc, *peak[:1])
    if files:
        light = (head if order is None else head[order]).drop(
            ["_file", "_pos", "image_root", "allow_outside_root", "__timing"])
        if light["sample_id"].is_duplicated().any():  # ids unique over all files
            from vlitq.data.dataset import _dedupe_ids

            light = light.with_columns(pl.Series(
                "sample_id", _dedupe_ids(light["sample_id"].to_list()), dtype=pl.Utf8))
        dataset._gathered = light
    del head
    cols = []
    for s, sc in zip(scorers, score_cols):
        payload = pl.read_parquet(parts, columns=[sc])[sc]
        if order is not None:
            payload = payload[order]
        builders = {c: ColumnBuilder(c) for c in s.output_columns()}
        for a in range(0, len(payload), SLICE_ROWS):  # decoded a slice at a time, held in polars
            rows = list(map(json.loads, payload.slice(a, SLICE_ROWS).to_list()))
            for c, b in builders.items():
                b.extend([row.get(c) for row in rows])
            del rows
        del payload
        cols += [b.finish() for b in builders.values()]
    return pl.DataFrame(cols)


def _parts_in_row_order(parts: list[str]) -> list[str]:
    """The Parquet parts sorted by their first row's ``(_file, _pos)``: Ray writes them in
    the order blocks finish, but each holds a contiguous run of one file's rows, so read in
    this order the rows are in file order and the driver need not gather (copy) them."""
    firsts = []
    for p in parts:
        k = pl.read_parquet(p, columns=["_file", "_pos"], n_rows=1)
        firsts.append((k["_file"][0], k["_pos"][0]) if k.height else (-1, -1))
    return [p for _, p in sorted(zip(firsts, parts))]


def _retry_needed(scored: pl.DataFrame, scorers) -> bool:
    """Whether a row has an error that must not be kept (see ``cacheable_error``)."""
    from vlitq.engine.local import cacheable_error

    for s in scorers:
        ec = f"{s.name}_error"
        if ec in scored.columns:
            errs = scored[ec].drop_nulls().unique().to_list()
            if any(not cacheable_error(e) for e in errs):
                return True
    return False


def _ray_score_fn(*, num_actors=None, num_gpus=0.0, batch_size=None, output_dir=None,
                  address=None, run_info=None):
    def score_fn(dataset, scorers, cache, *, chunk_size, show_progress, timings, hasher=None):
        files = isinstance(dataset, RayFiles)
        memo = _RunMemo(cache, dataset, scorers) if files and scorers else None
        kept = memo.load() if memo is not None else None
        if kept is not None:
            parts, images = kept
            scored = _gather(parts, dataset, scorers, files, None)
            now = memo.images_digest(dataset._gathered, dataset.image_root,
                                     dataset.allow_outside_root, hasher)
            if now == images:
                if output_dir:  # the run's result where it was asked for
                    _link_parts(parts, output_dir)
                if run_info is not None:
                    run_info["served_from_cache"] = True
                return scored
            memo._drop("an image changed since it was kept")
        parts = _run_ray(dataset, scorers, cache, files, chunk_size=chunk_size,
                         show_progress=show_progress)
        if parts is None:
            return pl.DataFrame()
        scored = _gather(parts, dataset, scorers, files, timings)
        if memo is not None and not _retry_needed(scored, scorers):
            memo.save(parts, memo.images_digest(dataset._gathered, dataset.image_root,
                                                dataset.allow_outside_root, hasher))
        return scored

    def _execute(ray, dataset, scorers, cache, files, chunk_size, n_cpu, n_act):
        if files:
            # the files are read by Ray tasks (one per file), never on the driver
            ds = ray.data.from_items([{"_file": i, "path": p}
                                      for i, p in enumerate(dataset.files)],
                                     override_num_blocks=len(dataset.files))
            ds = ds.map_batches(_read_file, fn_kwargs=dict(
                fmt=dataset.format, options=dataset.options, image_root=dataset.image_root,
                allow_outside_root=dataset.allow_outside_root, rows_per_block=chunk_size),
                batch_size=1, batch_format="numpy", num_cpus=0,
                concurrency=min(len(dataset.files), n_cpu))
        else:
            tables, row = [], 0
            for chunk in dataset.iter_chunks(chunk_size):
                f = chunk.frame.with_columns(
                    pl.lit(0, dtype=pl.Int64).alias("_file"),
                    pl.int_range(row, row + chunk.frame.height, dtype=pl.Int64).alias("_pos"),
                    pl.lit(chunk.image_root, dtype=pl.Utf8).alias("image_root"),
                    pl.lit(chunk.allow_outside_root).alias("allow_outside_root"))
                row += f.height
                tables.append(f.to_arrow())
            if not tables:
                return None
            ds = ray.data.from_arrow(tables)
        if not scorers and not files:
            return None
        root = cache.root if cache is not None else None
        if cache is not None and root:
            _compact_for_actors(cache, scorers)
        specs = [(s.name, s.get_params()) for s in scorers]
        # the light rows travel with the scores when the input was read from files: the
        # driver reads them back (no scorer: the actors only drop the raw records)
        ds = ds.map_batches(
            ScorerUDF, fn_constructor_args=(specs, root, files),
            compute=ray.data.ActorPoolStrategy(size=n_act), num_gpus=num_gpus or None,
            batch_size=batch_size or chunk_size, batch_format="pyarrow")
        if not files:
            ds = ds.select_columns(["sample_id", "_file", "_pos", "__timing"]
                                   + [f"__{s.name}" for s in scorers])
        out = output_dir or tempfile.mkdtemp(prefix="vlitq-ray-")
        ds.write_parquet(out, ray_remote_args={"num_cpus": 0}, concurrency=n_cpu)
        parts = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".parquet"))
        if not parts:
            raise RuntimeError(f"the Ray run wrote no Parquet under {out}")
        return parts

    def _run_ray(dataset, scorers, cache, files, *, chunk_size, show_progress):
        """Read → score → write on Ray; the written Parquet files (None: nothing to score)."""
        ray = import_optional("ray", purpose='engine="ray"')
        import pyarrow as pa  # noqa: F401  (Ray's pyarrow batch format needs it)

        # Ray as it was found: a cluster this run started (or connected to) is shut down
        # once the scores are written, so its daemons and idle workers (≈ 1.3 GiB on a local
        # machine) do not stay beside the driver while the indicators run; one the caller
        # started with ``ray.init`` stays up for the next run.
        started = not ray.is_initialized()
        if started:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = bool(show_progress)
        n_cpu = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if num_actors:
            n_act = int(num_actors)
        elif num_gpus:
            n_act = max(1, int(ray.cluster_resources().get("GPU", 0) // num_gpus))
        else:
            n_act = n_cpu
        saved_block = ctx.target_max_block_size
        if files:
            # Ray coalesces the reader's pieces up to its block target (128 MiB): a 100 MiB
            # file was one block, scored by one actor while the others waited, and a 609 MiB
            # one ~20 blocks whose last few kept one actor busy for minutes after the other
            # finished. Blocks of about 1/16 of an actor's share spread the work evenly.
            ctx.target_max_block_size = block_bytes(
                sum(os.path.getsize(p) for p in dataset.files), n_act)
        try:
            return _execute(ray, dataset, scorers, cache, files, chunk_size, n_cpu, n_act)
        finally:
            ctx.target_max_block_size = saved_block
            if started:
                ray.shutdown()

    return score_fn


def block_bytes(input_bytes: int, n_actors: int, *, per_actor: int = 16,
                lo: int = 1 << 20, hi: int = 16 << 20) -> int:
    """Ray Data's block target for a run reading ``input_bytes`` of files with ``n_actors``
    scoring actors: about ``per_actor`` blocks per actor (each actor call gets one block, so
    the last blocks leave at most a small tail), within ``[lo, hi]`` bytes.

    >>> block_bytes(18 << 20, 2) >> 20, block_bytes(609 << 20, 2) >> 20
    (1, 16)
    """
    return int(min(hi, max(lo, int(input_bytes) // max(1, int(n_actors) * per_actor))))


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (no copy on one file system), else a copy."""
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _link_parts(parts: list[str], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for src in parts:
        dst = os.path.join(out, os.path.basename(src))
        if not os.path.exists(dst):
            _link_or_copy(src, dst)


def run(dataset, components, cache, *, chunk_size=1024, show_progress=True, num_actors=None,
        num_gpus=0.0, batch_size=None, output_dir=None, address=None):
    """Score with Ray Data; same :class:`~vlitq.report.Report` as the local engine."""
    run_info = {"num_actors": num_actors, "num_gpus": num_gpus, "served_from_cache": False}
    fn = _ray_score_fn(num_actors=num_actors, num_gpus=num_gpus, batch_size=batch_size,
                       output_dir=output_dir, address=address, run_info=run_info)
    return local_run(dataset, components, cache, chunk_size=chunk_size,
                     show_progress=show_progress, score_fn=fn,
                     extra_info={"engine": "ray", "ray": run_info})
