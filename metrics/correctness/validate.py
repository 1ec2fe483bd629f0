"""Planted wrong answers must be judged incorrect by the voting machinery.

No vision-language weights can be downloaded here, so this shows what can be shown offline:

1. Voting on planted defects. 80 images of coloured shapes with responses naming their colour
   and shape; 20 responses are planted wrong (colour or shape swapped). The judge looks at the
   image (its centre pixel colour and fill) and answers correctly, but each of its answers is
   flipped with probability 0.25 and one in ten is unparseable chatter — a noisy stand-in for a
   real MLLM. Majority over k=5 votes must recover the planted defects far better than a single
   vote, and the agreement of the votes must be reported.
2. The real local path: a tiny random-weight LLaVA (tiny CLIP vision tower + tiny Llama) built
   from a config, saved and reloaded, judges 4 samples end to end. Random weights emit random
   words from its 40-word vocabulary: those are unparseable ('?'), never votes; when it happens
   to emit "yes"/"no" that is a vote (the label then means nothing, of course).

Run: python metrics/correctness/validate.py   (well under a minute on 2 CPU cores)
"""
import os
import random
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

import vlitq
from vlitq._utils import blake2b
from vlitq.data.dataset import Dataset, make_sample
from vlitq.models.judges import Judge
from vlitq.scorers.correctness import Correctness

root = tempfile.mkdtemp()
COLOURS = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 30, 220),
           "yellow": (230, 220, 30)}
SHAPES = ("circle", "square")
rng = random.Random(0)
records, planted = [], set()
for i in range(80):
    colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    im = Image.new("RGB", (64, 64), (255, 255, 255))
    d = ImageDraw.Draw(im)
    a, b = rng.randint(8, 12), rng.randint(52, 56)  # every image differs a little
    (d.ellipse if shape == "circle" else d.rectangle)([a, a, b, b], fill=COLOURS[colour])
    im.save(f"{root}/img{i}.png")
    said_c, said_s = colour, shape
    if i % 4 == 3:  # planted defect
        planted.add(f"s{i}")
        if i % 8 == 3:
            said_c = rng.choice([c for c in COLOURS if c != colour])
        else:
            said_s = [s for s in SHAPES if s != shape][0]
    records.append(make_sample(f"s{i}", [("What is shown in the image?",
                                          f"A {said_c} {said_s} on a white background.")],
                               [f"img{i}.png"]))
ds = Dataset.from_records(records, image_root=root)


class NoisyEyes(Judge):
    """Reads the image (centre colour; corner pixel tells circle from square), then lies with
    probability ``flip`` and chatters unparseably with probability 0.1."""

    backend = "scripted"

    def __init__(self, flip):
        super().__init__()
        self.flip = flip

    def model_id(self):
        return f"noisy-eyes-{self.flip}"

    def _generate(self, messages, images, *, temperature, max_tokens, seed, k):
        out = []
        for m, ims in zip(messages, images):
            said = m[-1]["content"].rsplit("Response:", 1)[1].split("\n")[0].lower()
            img = np.asarray(ims[0])
            centre = tuple(int(x) for x in img[32, 32])
            colour = min(COLOURS, key=lambda c: sum((a - b) ** 2 for a, b in
                                                    zip(COLOURS[c], centre)))
            shape = "square" if tuple(img[14, 14]) != (255, 255, 255) else "circle"
            right = colour in said and shape in said
            h = blake2b(img.tobytes(), said, str(k), str(seed), str(self.flip))
            r = random.Random(h).random()  # deterministic per (image, text, sample index)
            if r < 0.1:
                out.append("Hmm, let me look at the picture again.")
            elif r < 0.1 + self.flip:
                out.append("No." if right else "Yes.")
            else:
                out.append("Yes." if right else "No.")
        return out


def run(k, flip):
    rep = vlitq.score(ds, [Correctness(judge=NoisyEyes(flip), k=k, method="vote", judge_cache=False)],
                      cache=False, progress=False)
    s = rep.samples
    flagged = {sid for sid, v in zip(s["sample_id"], s["correctness"]) if v is False}
    tp = len(flagged & planted)
    prec = tp / max(1, len(flagged))
    rec = tp / len(planted)
    wrong = sum(1 for sid, v in zip(s["sample_id"], s["correctness"])
                if v is None or (v is False) != (sid in planted))  # mislabelled or undecided
    agr = s["correctness_agreement"].drop_nulls()
    return rep, prec, rec, wrong, float(agr.mean()), s["correctness_error"].drop_nulls().len()


print(f"{len(ds)} samples, {len(planted)} planted wrong answers; judge flips each vote with "
      f"p=0.25 and chatters 10% of the time")
res = {}
for k in (1, 5, 9):
    rep, prec, rec, wrong, agr, nerr = run(k, 0.25)
    res[k] = wrong
    print(f"  k={k}: C={rep.indicator('correctness'):.1f}  planted recall={rec:.2f} "
          f"precision={prec:.2f}  wrong or undecided={wrong}  mean agreement={agr:.2f}  errors={nerr}")
assert res[5] < res[1] and res[9] < res[1], res
rep, prec, rec, wrong, agr, _ = run(5, 0.0)
print(f"  noiseless judge, k=5: C={rep.indicator('correctness'):.1f} (expected "
      f"{100 * (1 - len(planted) / len(ds)):.1f}), recall={rec:.2f}, precision={prec:.2f}")
assert rec == 1.0 and prec == 1.0

# ---------------------------------------------------------------- tiny random LLaVA, real path
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "models"))
from judge_helpers import build_tiny_llava

d = build_tiny_llava(tempfile.mkdtemp())
small = ds.head(4)
rep = vlitq.score(small, [Correctness(judge=d, k=3, max_tokens=4, method="vote",
                                         judge_cache=False)],
                  cache=False, progress=False)
for r in rep.samples.iter_rows(named=True):
    print(f"  tiny random LLaVA {r['sample_id']}: label={r['correctness']} "
          f"votes={r['correctness_votes']} error={(r['correctness_error'] or '')[:90]}")
assert rep.samples["correctness_votes"].drop_nulls().len() == 4
for r in rep.samples.iter_rows(named=True):  # random words are '?', never votes
    assert r["correctness_invalid"] == sum(v.count("?") for v in r["correctness_votes"])
    assert (r["correctness"] is None) == (r["correctness_error"] is not None)
# the default reading, by probability (calibrated on the judged examples), on the same model
rep = vlitq.score(small, [Correctness(judge=d, judge_cache=False)], cache=False, progress=False)
probs = rep.samples["correctness_prob"].to_list()
print(f"  tiny random LLaVA by probability: P(correct) = {[round(p, 3) for p in probs]}")
assert all(p is not None and 0 < p < 1 for p in probs)  # every sample gets a value
print("correctness: validation finished")
