"""Read speed and peak memory of the LLaVA reader on a synthetic 100k-record JSON file.

The records mimic LLaVA-Instruct-150K (about 1.4 KB each: an id, an image path, 2-5 human/gpt
turns of conversation text). Generation runs in this process; each read runs in a fresh
subprocess so its peak RSS is the reader's own.

    python benchmarks/bench_read.py [--n 100000] [--format json|jsonl] [--keep]

Prints rows/s (wall clock; CPU seconds beside it, which a busy machine inflates less) and the
peak RSS of the reading process (``resource.getrusage``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

WORDS = ("the a man woman dog cat red blue small large sitting standing next to on in of with "
         "street table kitchen window car bus tree sky water people two three holding looking "
         "building white black green wooden image picture shows there is are what where why "
         "how color doing near behind front playing").split()


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def make_file(path: str, n: int, jsonl: bool, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        if not jsonl:
            fh.write("[")
        for i in range(n):
            conv = []
            for k in range(rng.randint(1, 3)):
                q = sentence(rng, 6, 16)
                conv.append({"from": "human", "value": ("<image>\n" + q) if k == 0 else q})
                conv.append({"from": "gpt", "value": " ".join(sentence(rng, 8, 30)
                                                               for _ in range(rng.randint(1, 4)))})
            rec = {"id": f"{i:012d}", "image": f"{rng.randint(0, 10**12):012d}.jpg",
                   "conversations": conv}
            if jsonl:
                fh.write(json.dumps(rec) + "\n")
            else:
                fh.write(("," if i else "") + json.dumps(rec))
        if not jsonl:
            fh.write("]")


READER = r"""
import resource, sys, time
t0 = time.perf_counter()
import vlitq
import vlitq.data.formats as F
F._load_all()
t1, c1 = time.perf_counter(), time.process_time()
ds = vlitq.read(sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(len(ds), t2 - t1, rss, ds.frame.estimated_size() / 2**20, c2 - c1)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--format", choices=["json", "jsonl"], default="json")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--path", default=None, help="read this file instead of generating one")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="vlitq-bench-")
    path = args.path or os.path.join(d, f"llava_{args.n}.{args.format}")
    if not args.path:
        t = time.perf_counter()
        make_file(path, args.n, args.format == "jsonl")
        print(f"generated {args.n} records in {time.perf_counter() - t:.1f} s: {path}")
    size = os.path.getsize(path) / 2**20
    env = dict(os.environ, VLITQ_DISABLE_PROGRESS_BARS="1")
    best = None
    for r in range(args.repeat):
        proc = subprocess.run([sys.executable, "-c", READER, path], capture_output=True,
                              text=True, env=env)
        if proc.returncode:
            sys.exit(f"reader failed:\n{proc.stderr}")
        out = proc.stdout.split()
        n, secs, rss, frame_mb, cpu = (int(out[0]), float(out[1]), float(out[2]),
                                       float(out[3]), float(out[4]))
        print(f"run {r + 1}: {n} rows in {secs:.2f} s wall ({cpu:.2f} s CPU) = "
              f"{n / secs:,.0f} rows/s, {size / secs:.1f} MiB/s; peak RSS {rss:,.0f} MiB; "
              f"frame {frame_mb:,.0f} MiB")
        best = secs if best is None else min(best, secs)
    print(f"best: {args.n / best:,.0f} rows/s ({args.format}, {size:.0f} MiB file)")
    if not args.keep and not args.path:
        os.remove(path)
    if not os.listdir(d):
        os.rmdir(d)


if __name__ == "__main__":
    main()
