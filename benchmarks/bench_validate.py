"""Speed of the validation tools on this machine.

    PYTHONPATH=. python benchmarks/bench_validate.py

- correlate: 30 datasets × 10 indicators × 12 benchmark dimensions × 3 models, with and without
  a 1000-resample bootstrap; icc(form="all") on 12 dimensions × 3 models.
- evaluate / tune: tiny LLaVA and BLIP-2 built from configs (random weights; see
  tests/validate/conftest.py) on 32×32 images: CPU throughput of vlitq's own code paths
  (processor, batching, Trainer), not of the real 7B / 2.7B models.

Prints seconds, items/s and peak RSS (resource.getrusage).
"""
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "validate"))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_stats():
    from vlitq.validate import correlate, icc

    rng = np.random.default_rng(0)
    names = [f"ds{i}" for i in range(30)]
    ind = pl.DataFrame({"dataset": names, **{f"ind{j}": rng.normal(size=30) for j in range(10)}})
    rows = [{"dataset": n, "model": m, **{f"dim{k}": float(rng.normal()) for k in range(12)}}
            for n in names for m in ("llava", "blip2", "openflamingo")]
    perf = pl.DataFrame(rows)
    correlate(ind.select("dataset", "ind0"), perf)  # imports scipy.stats once (slow cold)
    for boot in (0, 1000):
        t = time.perf_counter()
        table = correlate(ind, perf, bootstrap=boot)
        dt = time.perf_counter() - t
        print(f"correlate 30x10x12 bootstrap={boot}: {dt:.3f} s "
              f"({table.height / dt:.0f} pairs/s)")
    t = time.perf_counter()
    for _ in range(100):
        icc(rng.normal(size=(12, 3)), "all")
    print(f"icc(all) 12x3: {(time.perf_counter() - t) / 100 * 1000:.2f} ms per call")


def bench_models():
    import conftest

    from vlitq.data.dataset import Dataset, make_sample
    from vlitq.validate import evaluate, tune

    tmp = Path(tempfile.mkdtemp())
    imgs = conftest.write_images(tmp, n=24)
    qs = [{"question_id": str(i), "image": n, "question": "What colour is the square?",
           "options": ["red", "blue", "green", "yellow"], "answer": "red",
           "dimension": f"d{i % 3}"} for i, (n, _) in enumerate(imgs)]
    (tmp / "bench.json").write_text(json.dumps(qs))
    ds = Dataset.from_records([make_sample(f"s{i}", [("What colour is the square?",
                                                      f"The square is {c}.")], [n])
                               for i, (n, c) in enumerate(imgs)], image_root=str(tmp))
    for kind, build in (("llava", conftest.build_llava), ("blip2", conftest.build_blip2)):
        path = tmp / kind
        path.mkdir()
        build(path)
        t = time.perf_counter()
        res = evaluate(str(path), tmp / "bench.json", device="cpu", progress_bar=False)
        dt = time.perf_counter() - t
        print(f"evaluate tiny {kind}: {len(qs)} questions x 4 options in {dt:.2f} s "
              f"({len(qs) / dt:.1f} questions/s), overall {res.overall:.1f}%")
        t = time.perf_counter()
        out = tune(ds, model=kind, base=str(path), out=tmp / f"{kind}-out", max_steps=12,
                   batch_size=2, grad_accum=1, device="cpu", num_workers=0, logging_steps=1,
                   save_steps=1000)
        dt = time.perf_counter() - t
        print(f"tune tiny {kind}: 12 steps x batch 2 in {dt:.2f} s (incl. loading; "
              f"{24 / dt:.1f} examples/s); loss {out.losses[0]:.3f} -> {out.losses[-1]:.3f}")
    print(f"peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    os.environ.setdefault("VLITQ_DISABLE_PROGRESS_BARS", "1")
    print(f"machine: {os.cpu_count()} CPU cores")
    bench_stats()
    bench_models()
