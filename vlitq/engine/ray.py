"""Ray Data engine: per-sample scorers as actor pools, for clusters (``engine="ray"``).

Each scorer runs as ``Dataset.map_batches(ScorerUDF, compute=ActorPoolStrategy(size=n),
num_gpus=..., batch_size=...)``: an actor loads its model once and scores batches through the
same cached code path as the local engine (a shared ``VLITQ_CACHE_HOME`` on a network file
system makes a cluster run resumable too). Scores are written as Parquet (``output_dir``) and
gathered; the dataset-level indicators then run on the driver over the gathered columns, so the
report is the same as the local engine's.

Reading: given a file, a folder of shards or a list of files (``vlitq.score(path,
engine="ray")``), the files are read by Ray tasks, one per file, each with vlitq's own reader of
the format (so ids, read errors and the row shape are those of :func:`vlitq.read`): the driver
never parses the data. The scored rows are written as Parquet (light columns + scores), and the
driver reads that Parquet back for the dataset-level indicators. An in-memory
:class:`~vlitq.data.Dataset` is handed to Ray as Arrow blocks instead.

Options (``vlitq.score(..., engine="ray", ...)``): ``num_actors`` (default: 2, or the
cluster's CPU count / 2), ``num_gpus`` (per actor, default 0), ``batch_size`` (default: each
scorer's own), ``output_dir`` (default: a temporary folder), ``address`` (``ray.init``
address; default: a running cluster or a local instance).
"""
from __future__ import annotations

import json
import os
import tempfile
import time

import polars as pl

from vlitq._dependencies import import_optional
from vlitq.cache import Cache
from vlitq.engine.local import _ImageHasher, _to_series, run as local_run, run_scorer_on_batch

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


class _ReadFile:
    """Ray task body: one input file → its samples as an Arrow table in the Dataset row shape,
    plus the columns the scorers need (``image_root``...) and the sort keys ``_file``/``_pos``."""

    def __init__(self, fmt: str, options: dict, image_root: str, allow_outside_root: bool,
                 rows_per_block: int = 1024):
        self.fmt, self.options = fmt, options
        self.image_root, self.allow = image_root, allow_outside_root
        self.rows = max(1, int(rows_per_block))

    def __call__(self, batch):
        from vlitq.data.dataset import iter_to_frame
        from vlitq.data.formats import iter_samples

        for file_no, path in zip(batch["_file"], batch["path"]):
            f = iter_to_frame(iter_samples(str(path), self.fmt, **self.options))
            f = f.with_columns(
                pl.lit(int(file_no), dtype=pl.Int64).alias("_file"),
                pl.int_range(0, f.height, dtype=pl.Int64).alias("_pos"),
                pl.lit(self.image_root, dtype=pl.Utf8).alias("image_root"),
                pl.lit(self.allow).alias("allow_outside_root"))
            # blocks of ``rows_per_block`` rows, so that every scoring actor gets work
            for a in range(0, max(1, f.height), self.rows):
                yield f.slice(a, self.rows).to_arrow()


def _light(table):
    """Ray map: drop ``original`` and inline image bytes before the rows are written."""
    from vlitq.engine.stream import light_frame

    return light_frame(pl.from_arrow(table)).to_arrow()


class ScorerUDF:
    """Callable class for ``map_batches``: one scorer, its model loaded once per actor."""

    def __init__(self, name: str, params: dict, cache_root: str | None):
        from vlitq import registry

        self.scorer = registry.create(name, params)
        self.cache = Cache(cache_root) if cache_root else None
        self.hasher = _ImageHasher()

    def __call__(self, table):
        import pyarrow as pa

        batch = {c: table.column(c).to_pylist() for c in table.column_names}
        res = run_scorer_on_batch(self.scorer, batch, self.cache, self.hasher)
        cols = self.scorer.output_columns()
        n = len(batch["sample_id"])
        payload = [json.dumps({c: res[c][i] for c in cols}, default=str) for i in range(n)]
        return table.append_column(f"__{self.scorer.name}", pa.array(payload, pa.string()))


def _ray_score_fn(*, num_actors=None, num_gpus=0.0, batch_size=None, output_dir=None,
                  address=None):
    def score_fn(dataset, scorers, cache, *, chunk_size, show_progress, timings):
        ray = import_optional("ray", purpose='engine="ray"')
        import pyarrow as pa

        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = bool(show_progress)
        files = isinstance(dataset, RayFiles)
        if files:
            # the files are read by Ray tasks (one per file), never on the driver
            ds = ray.data.from_items([{"_file": i, "path": p}
                                      for i, p in enumerate(dataset.files)],
                                     override_num_blocks=len(dataset.files))
            ds = ds.map_batches(_ReadFile, fn_constructor_args=(
                dataset.format, dataset.options, dataset.image_root,
                dataset.allow_outside_root, chunk_size), batch_size=1, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(len(dataset.files), max(
                    1, int(ray.cluster_resources().get("CPU", 2))))))
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
                return pl.DataFrame()
            ds = ray.data.from_arrow(tables)
        if not scorers and not files:
            return pl.DataFrame()
        n_act = num_actors or max(1, int(ray.cluster_resources().get("CPU", 2)) // 2)
        root = cache.root if cache is not None else None
        t0 = time.perf_counter()
        for s in scorers:
            ds = ds.map_batches(
                ScorerUDF, fn_constructor_args=(s.name, s.get_params(), root),
                compute=ray.data.ActorPoolStrategy(size=n_act),
                num_gpus=num_gpus or None, batch_size=batch_size or s.batch_size,
                batch_format="pyarrow")
        if files:  # the light rows travel with the scores: the driver reads them back
            ds = ds.map_batches(_light, batch_format="pyarrow")
        else:
            ds = ds.select_columns(["sample_id", "_file", "_pos"]
                                   + [f"__{s.name}" for s in scorers])
        out = output_dir or tempfile.mkdtemp(prefix="vlitq-ray-")
        ds.write_parquet(out)
        gathered = pl.read_parquet(os.path.join(out, "*.parquet")).sort("_file", "_pos")
        elapsed = time.perf_counter() - t0
        if files:
            light = gathered.drop(["_file", "_pos", "image_root", "allow_outside_root"]
                                  + [f"__{s.name}" for s in scorers])
            if light["sample_id"].is_duplicated().any():  # ids unique over all files
                from vlitq.data.dataset import _dedupe_ids

                light = light.with_columns(pl.Series(
                    "sample_id", _dedupe_ids(light["sample_id"].to_list()), dtype=pl.Utf8))
            dataset._gathered = light
        cols = []
        for s in scorers:
            rows = [json.loads(v) for v in gathered[f"__{s.name}"].to_list()]
            for c in s.output_columns():
                cols.append(_to_series(c, [r.get(c) for r in rows]))
            timings[s.name] = timings.get(s.name, 0.0) + elapsed / len(scorers)
        _ = pa  # pyarrow is needed by Ray's pyarrow batch format
        return pl.DataFrame(cols)

    return score_fn


def run(dataset, components, cache, *, chunk_size=1024, show_progress=True, num_actors=None,
        num_gpus=0.0, batch_size=None, output_dir=None, address=None):
    """Score with Ray Data; same :class:`~vlitq.report.Report` as the local engine."""
    fn = _ray_score_fn(num_actors=num_actors, num_gpus=num_gpus, batch_size=batch_size,
                       output_dir=output_dir, address=address)
    return local_run(dataset, components, cache, chunk_size=chunk_size,
                     show_progress=show_progress, score_fn=fn,
                     extra_info={"engine": "ray", "ray": {"num_actors": num_actors,
                                                          "num_gpus": num_gpus}})
