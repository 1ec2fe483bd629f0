"""CHAIR catches planted hallucinated objects and leaves faithful responses alone.

Builds 300 COCO-style samples: each image gets 1-4 annotated COCO classes, and each response
mentions those objects with varied wording (synonyms, plurals: "a man" for person, "two
puppies" for dog, "the sofa" for couch). In a random third of the samples one object that is
NOT annotated is planted into the response, again through a synonym or plural. Claims:

- every planted object is caught (recall 100 %) and named in ``chair_hallucinated``;
- no faithful sample is flagged (0 false alarms);
- the dataset CHAIR_s equals the planted share and the pooled CHAIR_i equals
  planted / mentioned objects, both computed independently here.
"""
import json

import numpy as np

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.scorers._coco_objects import COCO_CLASSES, SYNONYMS

rng = np.random.default_rng(0)
# words a writer would use for each class: the name, its synonyms, and plural forms
SAFE_WORDINGS = {
    "person": ["a man", "a woman", "two people", "a child", "several kids", "a person"],
    "dog": ["a dog", "two puppies", "a small terrier"],
    "cat": ["a cat", "a kitten", "two cats"],
    "couch": ["a sofa", "the couch"],
    "bicycle": ["a bike", "two bicycles"],
    "motorcycle": ["a motorbike", "a motorcycle", "scooters"],
    "tv": ["a television", "a tv"],
    "car": ["a car", "a taxi", "parked cars"],
    "dining table": ["a dining table", "a wooden table"],
}


def wording(cls):
    if cls in SAFE_WORDINGS:
        return str(rng.choice(SAFE_WORDINGS[cls]))
    syn = [s for s in SYNONYMS[cls] if " " not in s] or [cls]
    return "a " + str(rng.choice([cls, cls, *syn[:3]]))


classes = list(COCO_CLASSES)
recs, planted = [], {}
n_objects_mentioned = 0
for i in range(300):
    objs = list(rng.choice(classes, size=int(rng.integers(1, 5)), replace=False))
    parts = [wording(o) for o in objs]
    if rng.random() < 1 / 3:
        extra = str(rng.choice([c for c in classes if c not in objs]))
        planted[f"s{i}"] = extra
        parts.insert(int(rng.integers(0, len(parts) + 1)), wording(extra))
        n_objects_mentioned += 1
    n_objects_mentioned += len(objs)
    response = "In this picture there is " + ", ".join(parts[:-1]) + \
        (" and " if len(parts) > 1 else "") + parts[-1] + "."
    recs.append(make_sample(f"s{i}", [("<image>\nDescribe the image in detail.", response)],
                            [f"coco/{i:012d}.jpg"], objects=objs))
# samples without annotations must be left out, not counted
recs += [make_sample(f"u{i}", [("Describe.", "A dog on a couch.")], [f"x{i}.jpg"], objects=None)
         for i in range(20)]

rep = vlitq.score(Dataset.from_records(recs), ["chair", "chair_i"], cache=False, progress=False)
s = rep.samples
flagged = {sid for sid, f in zip(s["sample_id"].to_list(), s["chair"].to_list()) if f}
caught = set(planted) & flagged
false_alarms = flagged - set(planted)
named = sum(planted[sid] in h for sid, h in zip(s["sample_id"].to_list(),
                                                s["chair_hallucinated"].to_list())
            if sid in planted)
ind = {r["indicator"]: r for r in rep.indicators.iter_rows(named=True)}
details = json.loads(ind["chair_i"]["details"])
exp_s = 100 * len(planted) / 300
exp_i = 100 * len(planted) / n_objects_mentioned
print(f"planted hallucinations: {len(planted)} of 300 samples; caught {len(caught)}, named "
      f"{named}, false alarms {len(false_alarms)} {sorted(false_alarms)[:5]}")
print(f"CHAIR_s {ind['chair']['value']:.2f} % (expected {exp_s:.2f}); "
      f"CHAIR_i {ind['chair_i']['value']:.2f} % (expected {exp_i:.2f}); "
      f"unannotated left out: {details['n_unannotated']}")
for sid in sorted(false_alarms)[:5]:
    row = s.filter(s["sample_id"] == sid).row(0, named=True)
    print("  false alarm:", sid, row["chair_hallucinated"], recs[int(sid[1:])]["turns"])
assert caught == set(planted) and named == len(planted)
assert not false_alarms
assert abs(ind["chair"]["value"] - exp_s) < 1e-9 and abs(ind["chair_i"]["value"] - exp_i) < 1e-9
assert details["n_unannotated"] == 20 and rep.errors.height == 0
print("chair: every planted object caught, no false alarm, CHAIR_s/CHAIR_i as expected")

# Hand-written sentences in LLaVA's style, including the known failure modes (printed, and the
# documented limitations asserted so that a change in behaviour is noticed).
from vlitq.scorers._coco_objects import find_mentions

cases = [
    ("A man in an orange shirt holds a frisbee.", ["person", "orange", "frisbee"]),  # colour!
    ("People queue at a hot dog stand near the bus stop.", ["person"]),
    ("A baby elephant follows its mother across the river.", ["elephant", "person"]),
    ("Two skiers ride the ski lift above the slope.", ["person"]),
    ("The remote control lies next to the laptop computer on the desk.",
     ["remote", "laptop", "dining table"]),
]
for text, expect in cases:
    got = [c for _, c in find_mentions(text)]
    print(f"  {text!r}: {got}")
    assert got == expect, (text, got)
print("known limitations reproduced: the colour 'orange' counts as the fruit; a person word "
      "that refers to an animal ('its mother') counts as a person unless it directly precedes "
      "the animal ('baby elephant')")
