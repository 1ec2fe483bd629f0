"""Planted paraphrase families of responses must come back as DBSCAN clusters.

k families (each: ten paraphrases of one scene, built from synonyms) → the packaged
all-MiniLM-L6-v2 → DBSCAN (calibrated eps 0.434, min_samples 3). Claims checked:

1. k families → k clusters, so the value is ln k (k = 1, 2, 4, 8), noise share small;
2. duplicating every sample does not raise the value;
3. the Vendi score (cross-check) grows with k;
4. responses with nothing in common (all DBSCAN noise) are each a cluster of their own: ln 5
   for five, not 0;
5. the rarefied companion at m = 10 grows with k.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from families import family_responses

import vlitq
from vlitq.data.dataset import Dataset, make_sample


def dataset(k: int, seed: int = 0) -> Dataset:
    recs = [make_sample(f"r{i}", [("Describe the image.", text)], task="caption")
            for i, (_, text) in enumerate(family_responses(k, seed=seed))]
    return Dataset.from_records(recs)


def score(ds):
    return vlitq.score(ds, ["response_diversity"], cache=False, progress=False)


vendi = {}
for k in (1, 2, 4, 8):
    rep = score(dataset(k))
    d = rep.details("response_diversity")
    clusters = rep.tasks["response_diversity_clusters"][0]
    vendi[k] = d["vendi"]
    print(f"k={k} families: clusters={clusters} value={rep.indicator('response_diversity'):.3f} "
          f"(ln k={math.log(k):.3f}) noise={d['noise_share']:.3f} vendi={d['vendi']:.2f} "
          f"eps_suggested={d['eps_suggested']:.3f}")
    assert clusters == k, (k, clusters)
    assert d["noise_share"] <= 0.1
assert vendi[1] < vendi[2] < vendi[4] < vendi[8]

ds = dataset(4)
dup = Dataset.from_records(ds.frame.to_dicts() + ds.frame.to_dicts())
v1, v2 = score(ds).indicator("response_diversity"), score(dup).indicator("response_diversity")
print(f"duplicated dataset: {v1:.3f} -> {v2:.3f}")
assert v2 <= v1 + 1e-12

odd = ["The stock market fell sharply on Tuesday.", "Photosynthesis converts light to sugar.",
       "He scored twice in the final.", "Add two eggs and whisk the batter.",
       "The treaty was signed in 1648."]
rep = score(Dataset.from_records([make_sample(f"o{i}", [("Q?", t)]) for i, t in enumerate(odd)]))
print(f"unrelated responses: value={rep.indicator('response_diversity'):.3f} "
      f"noise={rep.details('response_diversity')['noise_share']:.2f}")
assert abs(rep.indicator("response_diversity") - math.log(5)) < 1e-9
assert rep.details("response_diversity")["noise_share"] == 1.0

rare = {}
for k in (1, 2, 4, 8):
    comp = vlitq.registry.create("response_diversity", {"rarefy_m": 10})
    rare[k] = vlitq.score(dataset(k), [comp], cache=False,
                          progress=False).details("response_diversity")["rarefied"]
print("rarefied ln E[S_10] by k:", {k: round(v, 3) for k, v in rare.items()})
assert rare[1] < rare[2] < rare[4] < rare[8]
print("response_diversity validation passed")
