"""Peak memory and time of ``elements`` on oversized instructions, with and without the
length cap (#16.3: "four 1 MB responses take 4.6 GB in elements").

Each run is a fresh subprocess (peak RSS is per process): four samples whose instruction is
``--mib`` MiB of English sentences (kept under spaCy's 1,000,000-character limit), scored by
``elements`` with ``max_chars`` = the cap, then without a cap.

    python benchmarks/bench_text_caps.py            # cap 10,000 vs none, 0.95 MiB each
    python benchmarks/bench_text_caps.py --caps 10000 --mib 0.95

Prints seconds, peak RSS (MiB) and how many samples were flagged ``elements_truncated``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = ["A man in a red shirt is riding a brown horse along the beach next to a dog.",
             "Two children are playing with a yellow ball in a park under a tall tree.",
             "What is the woman holding in her left hand while she waits for the bus?"]


def _child(cap: str, mib: float, n: int) -> None:
    sys.path.insert(0, HERE)
    from _common import peak_rss_mib

    from vlitq.data.dataset import Dataset, make_sample
    from vlitq.scorers.elements import ElementsScorer

    chars = min(int(mib * (1 << 20)), 999_000)
    body = " ".join(SENTENCES[i % 3] for i in range(chars // 70 + 1))[:chars]
    ds = Dataset.from_records([make_sample(f"s{i}", [(body, "A long answer.")], [])
                               for i in range(n)])
    scorer = ElementsScorer(max_chars=None if cap == "none" else int(cap), batch_size=4)
    scorer.ensure_loaded()
    base = peak_rss_mib()
    t = time.perf_counter()
    out = scorer(ds.to_batch())
    sec = time.perf_counter() - t
    print(json.dumps({"cap": cap, "samples": n, "chars_each": chars, "seconds": round(sec, 1),
                      "peak_rss_mib": round(peak_rss_mib(), 1),
                      "rss_after_load_mib": round(base, 1),
                      "truncated": sum(bool(x) for x in out["elements_truncated"]),
                      "errors": sum(e is not None for e in out["elements_error"]),
                      "elements": out["elements"]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--caps", nargs="+", default=["10000", "none"])
    ap.add_argument("--mib", type=float, default=0.95)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        _child(a.child, a.mib, a.n)
        return
    for cap in a.caps:
        r = subprocess.run([sys.executable, __file__, "--child", cap, "--mib", str(a.mib),
                            "--n", str(a.n)], capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr[-2000:])


if __name__ == "__main__":
    main()
