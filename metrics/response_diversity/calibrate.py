"""Calibrate the response_diversity radius for an encoder (default: the packaged
all-MiniLM-L6-v2) and print the figures behind ``CALIBRATED_EPS``.

The radius is the cosine at which two responses say the same thing: the threshold with the
best balanced accuracy between the packaged paraphrase pairs and the "same topic, different
content" pairs (plus unrelated crossings); ``eps = 1 - threshold``. Robustness: the same on
five random halves of the pairs.

    python metrics/response_diversity/calibrate.py [encoder] [--pairs pairs.json]
"""
import argparse
import json
import random

from vlitq.models.calibration import (CALIBRATED_EPS, DIFFERENT_PAIRS, PARAPHRASE_PAIRS,
                                          calibrate_eps)
from vlitq.models.text import SentenceEncoder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("encoder", nargs="?", default="all-MiniLM-L6-v2")
    ap.add_argument("--pairs", default=None, help='JSON {"paraphrase": [...], "different": [...]}')
    args = ap.parse_args()
    enc = SentenceEncoder(args.encoder)
    pos = neg = None
    if args.pairs:
        with open(args.pairs, encoding="utf-8") as fh:
            obj = json.load(fh)
        pos = [tuple(p) for p in obj["paraphrase"]]
        neg = [tuple(p) for p in obj["different"]]
    res = calibrate_eps(enc, pos, neg)
    print(f"{args.encoder}: threshold {res['threshold']:.4f} -> eps {res['eps']:.4f}; "
          f"balanced accuracy {res['balanced_accuracy']:.3f}; paraphrases: min "
          f"{res['pos_min']:.3f}, median {res['pos_median']:.3f}; different: max "
          f"{res['neg_max']:.3f}, median {res['neg_median']:.3f} "
          f"({res['n_paraphrase_pairs']} / {res['n_different_pairs']} pairs)")
    if pos is None:
        halves = []
        for seed in range(5):
            rng = random.Random(seed)
            p = rng.sample(list(PARAPHRASE_PAIRS), len(PARAPHRASE_PAIRS) // 2)
            n = rng.sample(list(DIFFERENT_PAIRS), len(DIFFERENT_PAIRS) // 2)
            halves.append(calibrate_eps(enc, p, n)["eps"])
        print("eps on random halves of the pairs:", [round(h, 4) for h in halves])
    stored = CALIBRATED_EPS.get(args.encoder.lower())
    if stored is not None:
        print(f"stored CALIBRATED_EPS[{args.encoder.lower()!r}] = {stored}")


if __name__ == "__main__":
    main()
