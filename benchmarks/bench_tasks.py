"""Throughput of the task labeller: embedding mode at scale, llm (TagGPT) mode on a sample.

Usage::

    python benchmarks/bench_tasks.py --n 100000 --llm-n 200

Stages timed:

1. instruction embeddings (packaged all-MiniLM-L6-v2) of the distinct instructions → seconds per
   1k instructions;
2. embedding mode on all ``--n`` samples (embeddings served from the cache filled in 1.):
   k by silhouette on a 4k sample, k-means (MiniBatchKMeans above 20k), cluster naming;
3. candidate search: top-k tags for every instruction against a 50-tag set in chunks (the step
   the llm mode runs on all instructions; memory chunk × tags, never N × N);
4. llm mode end to end on ``--llm-n`` samples with the offline default judge (SmolLM2-135M):
   LLM calls (batches), prompts, and seconds per 1k instructions.

Prints samples/s, peak RSS (``resource.getrusage``) and, beside wall seconds, the CPU seconds
of this process (on a shared machine wall time grows with the other jobs' load; CPU time
does not).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("VLITQ_DISABLE_PROGRESS_BARS", "1")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    return time.process_time()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--llm-n", type=int, default=200)
    ap.add_argument("--skip-llm", action="store_true")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    args = ap.parse_args()

    import vlitq
    from vlitq.data.dataset import Dataset
    from vlitq.data.synthetic_tasks import make_task_family_samples
    from vlitq.cache import Cache
    from vlitq.indicators.tasks import Tasks
    from vlitq.indicators._task_labellers import instruction_text, top_k_candidates
    from vlitq.models.text import SentenceEncoder

    per = args.n // 7
    recs = make_task_family_samples([per] * 6 + [args.n - 6 * per], seed=0)
    ds = Dataset.from_records(recs)
    texts = [instruction_text(t) for t in ds.frame["turns"].to_list()]
    uniq = list(dict.fromkeys(texts))
    print(f"{len(ds)} samples, {len(uniq)} distinct instructions")
    cache = Cache(tempfile.mkdtemp(prefix="vlitq-bench-tasks-"))

    enc = SentenceEncoder(args.encoder, cache=cache)
    enc.encode(["warm up"], use_cache=False)
    t0, c0 = time.perf_counter(), cpu_s()
    emb = enc.encode(uniq)
    dt = time.perf_counter() - t0
    print(f"[1] embeddings ({args.encoder}): {dt:.1f} s wall, {cpu_s() - c0:.1f} s CPU for "
          f"{len(uniq)} instructions = "
          f"{1000 * dt / len(uniq):.2f} s per 1k ({len(uniq) / dt:.0f}/s); "
          f"peak RSS {peak_rss_mb():.0f} MB")

    t0, c0 = time.perf_counter(), cpu_s()
    rep = vlitq.score(ds, [Tasks(task_source="embedding", encoder=enc)], cache=cache,
                      progress=False)
    dt = time.perf_counter() - t0
    d = rep.details("tasks")
    print(f"[2] embedding mode on {len(ds)} samples (embeddings cached): {dt:.1f} s wall, "
          f"{cpu_s() - c0:.1f} s CPU = "
          f"{1000 * dt / len(ds):.3f} s per 1k ({len(ds) / dt:.0f} samples/s); k={d['k']}, "
          f"ARI={d['ari']:.3f}; stage seconds {d['seconds']}; peak RSS {peak_rss_mb():.0f} MB")

    tags = [f"task tag number {i}" for i in range(50)]
    tag_emb = SentenceEncoder(args.encoder).encode(tags)
    t0 = time.perf_counter()
    top_k_candidates(emb, tag_emb, 5)
    dt = time.perf_counter() - t0
    print(f"[3] top-5 candidate search, {len(uniq)} instructions x 50 tags: {dt:.2f} s "
          f"({1000 * dt / len(uniq):.4f} s per 1k); peak RSS {peak_rss_mb():.0f} MB")

    if args.skip_llm:
        return
    try:
        from vlitq.models.judges import get_judge  # noqa: F401
    except ImportError as exc:
        print(f"[4] llm mode skipped: judge layer not installed ({exc})")
        return
    small = Dataset.from_records(make_task_family_samples(max(1, args.llm_n // 7), seed=5))
    t0, c0 = time.perf_counter(), cpu_s()
    r = vlitq.score(small, [Tasks(task_source="llm")], cache=Cache(tempfile.mkdtemp()),
                    progress=False)
    dt = time.perf_counter() - t0
    d = r.details("tasks")
    if d.get("mode") != "llm":
        print(f"[4] llm mode fell back to {d.get('mode')}: {r.warnings}")
        return
    n_ins = d["n_distinct_instructions"]
    print(f"[4] llm mode ({d['judge']}) on {len(small)} samples / {n_ins} distinct: "
          f"{dt:.1f} s wall ({cpu_s() - c0:.0f} s CPU) = {1000 * dt / n_ins:.0f} s per 1k "
          f"instructions; LLM calls "
          f"{d['llm_calls']} ({1000 * d['llm_calls'] / n_ins:.0f} per 1k), prompts "
          f"{d['llm_prompts']} ({1000 * d['llm_prompts'] / n_ins:.0f} per 1k), completions "
          f"{d['llm_sequences']} ({1000 * d['llm_sequences'] / n_ins:.0f} per 1k); "
          f"ARI={d['ari']:.3f}; stage seconds {d['seconds']}; "
          f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
