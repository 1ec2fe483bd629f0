"""Planted broken images must be flagged; real photos must pass."""
import os
import tempfile

import numpy as np
from PIL import Image

import vlitq
from vlitq.data.dataset import Dataset, make_sample

root = tempfile.mkdtemp()
rng = np.random.default_rng(0)
for i in range(5):
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(f"{root}/ok{i}.jpg")
Image.fromarray(np.zeros((1, 200, 3), np.uint8)).save(f"{root}/strip.png")
data = open(f"{root}/ok0.jpg", "rb").read()
open(f"{root}/trunc.jpg", "wb").write(data[: len(data) // 3])
open(f"{root}/noise.jpg", "wb").write(os.urandom(500))
samples = [make_sample(f"ok{i}", [("Q", "A")], [f"ok{i}.jpg"]) for i in range(5)]
bad = {"missing": "nope.jpg", "trunc": "trunc.jpg", "noise": "noise.jpg",
       "escape": "../../etc/passwd", "strip": "strip.png"}
samples += [make_sample(k, [("Q", "A")], [v]) for k, v in bad.items()]
rep = vlitq.score(Dataset.from_records(samples, image_root=root), ["image_check"], cache=False,
                  progress=False)
flagged = set(rep.errors["sample_id"].to_list())
for r in rep.errors.iter_rows(named=True):
    print(f"{r['sample_id']:>8}: {r['reason']}")
assert flagged == set(bad), flagged
print(f"image_check: {len(bad)}/{len(bad)} planted defects caught, 0/5 false alarms")
