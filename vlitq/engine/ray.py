"""Ray Data engine: per-sample scorers as actor pools, for clusters (``engine="ray"``).

Each scorer runs as ``Dataset.map_batches(ScorerUDF, compute=ActorPoolStrategy(size=n),
num_gpus=..., batch_size=...)``: an actor loads its model once and scores batches through the
same cached code path as the local engine (a shared ``VLITQ_CACHE_HOME`` on a network file
system makes a cluster run resumable too). Scores are written as Parquet (``output_dir``) and
gathered; the dataset-level indicators then run on the driver over the gathered columns, so the
report is the same as the local engine's.

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
        tables, row = [], 0
        for chunk in dataset.iter_chunks(chunk_size):
            f = chunk.frame.with_columns(
                pl.int_range(row, row + chunk.frame.height, dtype=pl.Int64).alias("_row"),
                pl.lit(chunk.image_root, dtype=pl.Utf8).alias("image_root"),
                pl.lit(chunk.allow_outside_root).alias("allow_outside_root"))
            row += f.height
            tables.append(f.to_arrow())
        if not tables or not scorers:
            return pl.DataFrame()
        ds = ray.data.from_arrow(tables)
        n_act = num_actors or max(1, int(ray.cluster_resources().get("CPU", 2)) // 2)
        root = cache.root if cache is not None else None
        t0 = time.perf_counter()
        for s in scorers:
            ds = ds.map_batches(
                ScorerUDF, fn_constructor_args=(s.name, s.get_params(), root),
                compute=ray.data.ActorPoolStrategy(size=n_act),
                num_gpus=num_gpus or None, batch_size=batch_size or s.batch_size,
                batch_format="pyarrow")
        keep = ["sample_id", "_row"] + [f"__{s.name}" for s in scorers]
        ds = ds.select_columns(keep)
        out = output_dir or tempfile.mkdtemp(prefix="vlitq-ray-")
        ds.write_parquet(out)
        gathered = pl.read_parquet(os.path.join(out, "*.parquet")).sort("_row")
        elapsed = time.perf_counter() - t0
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
