"""Planted instruction families must come back as Ego-Splitting clusters.

Each of k families is a set of paraphrases built from its own verbs and nouns; all families
share the generic words "image", "picture", "photo" (so the co-occurrence graph is one connected
piece and only ego-net splitting can separate the families). Claims checked:

1. k planted families → about k clusters (|clusters − k| ≤ 1) for k = 2, 4, 8;
2. duplicating every sample does not raise the value;
3. more families → a higher value (monotone in k);
4. the M2BIT edit-distance figure is reported per task and falls when every sample is one
   template;
5. splitting ego-nets by connected components only (karateclub) cannot separate the families,
   because template words ("shown", "visible") connect every ego-net.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from validate_data import FAMILIES, GENERIC, TEMPLATES

import vlitq
from vlitq.data.dataset import Dataset, make_sample


def dataset(k: int, per_family: int = 40, seed: int = 0, task: str = "vqa") -> Dataset:
    rng = random.Random(seed)
    recs = []
    for f in range(k):
        verbs, nouns = FAMILIES[f]
        for i in range(per_family):
            n, n2 = rng.sample(nouns, 2)
            text = rng.choice(TEMPLATES).format(v=rng.choice(verbs), n=n, n2=n2,
                                                g=rng.choice(GENERIC))
            recs.append(make_sample(f"f{f}-{i}", [(text, "ok")], task=task))
    return Dataset.from_records(recs)


def score(ds):
    return vlitq.score(ds, ["instruction_diversity"], cache=False, progress=False)


values = {}
for k in (1, 2, 4, 8):
    rep = score(dataset(k))
    values[k] = rep.indicator("instruction_diversity")
    print(f"k={k} planted families -> {values[k]:.0f} clusters, edit distance "
          f"{rep.details('instruction_diversity')['edit_distance']:.3f}")
for k in (2, 4, 8):
    assert abs(values[k] - k) <= 1, (k, values[k])
assert values[1] <= values[2] <= values[4] <= values[8]

ds = dataset(4)
dup = Dataset.from_records(ds.frame.to_dicts() + ds.frame.to_dicts())
v1, v2 = score(ds).indicator("instruction_diversity"), score(dup).indicator("instruction_diversity")
print(f"duplicated dataset: {v1:.0f} -> {v2:.0f} clusters")
assert v2 <= v1

one = Dataset.from_records([make_sample(f"t{i}", [("Please count the dogs in this image.", "ok")],
                                        task="vqa") for i in range(40)])
r1 = score(one)
e1 = r1.details("instruction_diversity")["edit_distance"]
print(f"single template: {r1.indicator('instruction_diversity'):.0f} cluster(s), "
      f"edit distance {e1:.3f}")
assert e1 == 0.0 and r1.indicator("instruction_diversity") == 1
comp = vlitq.score(dataset(4), [vlitq.registry.create(
    "instruction_diversity", {"local_clusterer": "components",
                              "global_clusterer": "components"})], cache=False, progress=False)
vc = comp.indicator("instruction_diversity")
print(f"4 families, components-only local step (karateclub's choice): {vc:.0f} cluster(s)")
assert vc < values[4]
print("per-task table:\n", score(dataset(3)).tasks)
print("instruction_diversity validation passed")
