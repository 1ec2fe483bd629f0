"""Read speed and peak memory of the readers on synthetic 100k-record files.

The records mimic LLaVA-Instruct-150K (about 1.4 KB each: an id, an image path, 2-6 turns of
conversation text), written in the shape of each convention: ``json``/``jsonl`` (LLaVA),
``llamafactory`` (sharegpt ``messages`` + ``images``), ``lf_parts`` (LLaMA-Factory v1 content
parts), ``alpaca``, ``internvl`` (XComposer ``<ImageHere>``, two images), ``qwenvl``
(``<img>path</img>`` in the text), ``qa`` (a questions file + two answer files: 100k samples
from 50k questions) and ``flat`` (JSON Lines read with a field mapping). Generation runs in
this process; each read runs in a fresh subprocess so its peak RSS is the reader's own.

    python benchmarks/bench_read.py [--n 100000] [--format json|jsonl|...|all] [--keep]

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


def _conv(rng: random.Random):
    """(question, answer) pairs of one record."""
    return [(sentence(rng, 6, 16), " ".join(sentence(rng, 8, 30) for _ in range(rng.randint(1, 4))))
            for _ in range(rng.randint(1, 3))]


def _record(kind: str, i: int, rng: random.Random) -> dict:
    img = f"{rng.randint(0, 10**12):012d}.jpg"
    pairs = _conv(rng)
    if kind in ("json", "jsonl"):
        conv = []
        for k, (q, a) in enumerate(pairs):
            conv += [{"from": "human", "value": ("<image>\n" + q) if k == 0 else q},
                     {"from": "gpt", "value": a}]
        return {"id": f"{i:012d}", "image": img, "conversations": conv}
    if kind == "llamafactory":
        msgs = []
        for k, (q, a) in enumerate(pairs):
            msgs += [{"role": "user", "content": ("<image>" + q) if k == 0 else q},
                     {"role": "assistant", "content": a}]
        return {"messages": msgs, "images": [img]}
    if kind == "lf_parts":
        msgs = []
        for k, (q, a) in enumerate(pairs):
            parts = [{"type": "text", "value": q}]
            if k == 0:
                parts.insert(0, {"type": "image_url", "value": img})
            msgs += [{"role": "user", "content": parts},
                     {"role": "assistant", "content": [{"type": "text", "value": a}]}]
        return {"messages": msgs}
    if kind == "alpaca":
        q, a = pairs[0]
        return {"instruction": q, "input": "", "output": a, "images": [img]}
    if kind == "internvl":
        conv = []
        for k, (q, a) in enumerate(pairs):
            conv += [{"from": "user", "value": ("Image1 <ImageHere>; Image2 <ImageHere>; " + q)
                      if k == 0 else q}, {"from": "bot", "value": a}]
        return {"id": str(i), "image": [img, "b_" + img], "conversations": conv}
    if kind == "qwenvl":
        conv = []
        for k, (q, a) in enumerate(pairs):
            conv += [{"from": "user", "value": (f"Picture 1: <img>{img}</img>\n{q}") if k == 0
                      else q}, {"from": "assistant", "value": a}]
        return {"id": f"identity_{i}", "conversations": conv}
    if kind == "flat":
        q, a = pairs[0]
        return {"uid": i, "q": q, "a": a, "pic": img}
    raise ValueError(kind)


def make_file(path: str, n: int, jsonl: bool, seed: int = 0, kind: str | None = None) -> None:
    """Write ``n`` records of ``kind`` (default: LLaVA) as JSON Lines or a JSON array."""
    rng = random.Random(seed)
    kind = kind or ("jsonl" if jsonl else "json")
    if kind == "qa":  # n samples = n/2 questions x 2 answer files
        nq = max(1, n // 2)
        d = os.path.dirname(path)
        with open(path, "w", encoding="utf-8") as fq, \
                open(os.path.join(d, "answers_gpt4.jsonl"), "w", encoding="utf-8") as fa, \
                open(os.path.join(d, "answers_model.jsonl"), "w", encoding="utf-8") as fb:
            for i in range(nq):
                q, a = _conv(rng)[0]
                fq.write(json.dumps({"question_id": i, "image": f"{i:06d}.jpg", "text": q,
                                     "category": rng.choice(["conv", "detail", "complex"])}) + "\n")
                fa.write(json.dumps({"question_id": i, "text": a}) + "\n")
                fb.write(json.dumps({"question_id": i, "text": a[::-1], "model_id": "m",
                                     "answer_id": str(i)}) + "\n")
        return
    with open(path, "w", encoding="utf-8") as fh:
        if not jsonl:
            fh.write("[")
        for i in range(n):
            rec = _record(kind, i, rng)
            if jsonl:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                fh.write(("," if i else "") + json.dumps(rec, ensure_ascii=False))
        if not jsonl:
            fh.write("]")


KINDS = {  # kind: (file name, JSON Lines?, read options)
    "json": ("llava_{n}.json", False, {}), "jsonl": ("llava_{n}.jsonl", True, {}),
    "llamafactory": ("lf_sharegpt_{n}.json", False, {}),
    "lf_parts": ("lf_v1_parts_{n}.jsonl", True, {}),
    "alpaca": ("alpaca_{n}.json", False, {}),
    "internvl": ("xcomposer_{n}.jsonl", True, {}),
    "qwenvl": ("qwenvl_{n}.json", False, {}),
    "qa": ("questions.jsonl", True, {}),
    "flat": ("table_{n}.jsonl", True, {"instruction": "q", "response": "a", "image": "pic",
                                       "id": "uid"}),
}


READER = r"""
import resource, sys, time
t0 = time.perf_counter()
import vlitq
import vlitq.data.formats as F
F._load_all()
t1, c1 = time.perf_counter(), time.process_time()
import json as _json
ds = vlitq.read(sys.argv[1], **_json.loads(sys.argv[2]))
t2, c2 = time.perf_counter(), time.process_time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
assert ds.frame["read_error"].null_count() == len(ds), "unexpected read errors"
print(len(ds), t2 - t1, rss, ds.frame.estimated_size() / 2**20, c2 - c1, ds.format)
"""


def bench(kind: str, n: int, repeat: int, keep: bool, path: str | None = None) -> dict:
    name, jsonl, opts = KINDS[kind]
    d = tempfile.mkdtemp(prefix=f"vlitq-bench-{kind}-")
    if path is None:
        path = os.path.join(d, name.format(n=n))
        t = time.perf_counter()
        make_file(path, n, jsonl, kind=kind)
        print(f"generated {n} {kind} records in {time.perf_counter() - t:.1f} s: {path}")
    size = sum(os.path.getsize(os.path.join(os.path.dirname(path), f))
               for f in os.listdir(os.path.dirname(path))) / 2**20
    env = dict(os.environ, VLITQ_DISABLE_PROGRESS_BARS="1")
    best = None
    for r in range(repeat):
        proc = subprocess.run([sys.executable, "-c", READER, path, json.dumps(opts)],
                              capture_output=True, text=True, env=env)
        if proc.returncode:
            sys.exit(f"reader failed:\n{proc.stderr}")
        out = proc.stdout.split()
        rows, secs, rss, frame_mb, cpu = (int(out[0]), float(out[1]), float(out[2]),
                                          float(out[3]), float(out[4]))
        print(f"{kind} run {r + 1}: {rows} rows ({out[5]}) in {secs:.2f} s wall ({cpu:.2f} s "
              f"CPU) = {rows / secs:,.0f} rows/s wall, {rows / cpu:,.0f} rows/s CPU; "
              f"peak RSS {rss:,.0f} MiB; frame {frame_mb:,.0f} MiB; files {size:.0f} MiB")
        if best is None or secs < best["wall"]:
            best = {"kind": kind, "rows": rows, "wall": secs, "cpu": cpu, "rss": rss,
                    "mib": size}
    if not keep:
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        os.rmdir(d)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--format", choices=[*KINDS, "all", "new"], default="json",
                    help="'new': every reader added for issue 16; 'all': those and LLaVA")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--path", default=None, help="read this file instead of generating one")
    args = ap.parse_args()
    kinds = ([k for k in KINDS if k not in ("json", "jsonl")] if args.format == "new" else
             list(KINDS) if args.format == "all" else [args.format])
    results = [bench(k, args.n, args.repeat, args.keep, args.path) for k in kinds]
    print("\n| reader | rows | files MiB | wall s | CPU s | rows/s (CPU) | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for b in results:
        print(f"| {b['kind']} | {b['rows']:,} | {b['mib']:.0f} | {b['wall']:.1f} | "
              f"{b['cpu']:.1f} | {b['rows'] / b['cpu']:,.0f} | {b['rss']:,.0f} |")


if __name__ == "__main__":
    main()
