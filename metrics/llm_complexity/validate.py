"""Does llm_complexity rank instructions that ask for more above single-object questions?

A set of 24 hand-written instruction-response pairs at three levels (1: one object, one
attribute; 2: several objects / spatial relations; 3: reasoning, comparison, planning) is rated
by the default offline judge (SmolLM2-135M-Instruct) two ways — the expected rating over its
probabilities of "1".."10" (default) and its greedy sampled reply (``method="sample"``) — and
the Spearman rank correlation between level and rating is reported. Asserted for the offline
default by probability: no collapse (more than half the values distinct) and level 3 rated
above level 1 on average. With ``VLITQ_VALIDATE_REAL=1`` and the real-data corpus, the 90
LLaVA-Bench COCO pairs are rated too, by question type. Then the machinery a real judge relies on is
checked with scripted answers: strict parsing (no number -> error, never 0) and the collapse
warning in the report.

Run: python metrics/llm_complexity/validate.py   (about 1-2 minutes on 2 CPU cores)
(CI: VLITQ_VALIDATE_FAST=1 rates 2 pairs per level with SmolLM2; the scripted checks are whole.)
"""
import os
import sys
import time

import numpy as np

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.models.judges import Judge
from vlitq.scorers.llm_complexity import LLMComplexity

LEVELS = {
    1: [("What colour is the cup?", "The cup is blue."),
        ("Is there a dog in the picture?", "Yes."),
        ("What is the man holding?", "A phone."),
        ("What animal is this?", "It is a horse."),
        ("Is the light on?", "No, it is off."),
        ("What fruit is on the table?", "A banana."),
        ("What colour is the car?", "Red."),
        ("Is the door open?", "Yes, it is open.")],
    2: [("Describe where the cat, the lamp and the books are relative to each other.",
         "The cat lies under the lamp; the books are stacked to its right."),
        ("How many people are sitting at the table, and what is each of them holding?",
         "Three: one holds a cup, one a fork, one a newspaper."),
        ("What objects are on the desk and how are they arranged?",
         "A laptop in the middle, a mug to its left and a plant behind it."),
        ("List the vehicles on the street and their colours.",
         "A white van, a red bus and two black cars."),
        ("Which of the two dogs is closer to the ball, and what is the other one doing?",
         "The brown dog is closer; the white one is lying in the shade."),
        ("Describe the kitchen: the appliances, the food and where each is placed.",
         "A fridge on the left, an oven under the counter, bread and tomatoes on the counter."),
        ("What is on the shelf above the sink and what is below it?",
         "Soap and a plant above; a bucket and cleaning bottles below."),
        ("Name the items the child is carrying and the animals around her.",
         "A kite and a backpack; two ducks and a goose are nearby.")],
    3: [("Why might the road be empty, judging from the signs and the weather in the image?",
         "The closure sign and the heavy snow suggest the road was closed for safety."),
        ("Based on the ingredients shown, plan a three-course meal and the cooking order.",
         "Soup first from the vegetables, then pasta with the tomatoes, then the fruit tart; "
         "start the tart so it bakes while the soup simmers."),
        ("Compare the two houses: which is older, which is better insulated, and why?",
         "The stone house is older; the newer one has double glazing, so it is better "
         "insulated."),
        ("What will probably happen next to the glass at the table's edge, and how could it "
         "be prevented?",
         "The cat's paw may push it off; moving it to the centre would prevent the fall."),
        ("Infer the season and the time of day from the shadows, clothes and trees.",
         "Long shadows and orange light mean late afternoon; bare trees and coats mean winter."),
        ("Explain what the players' positions suggest about the game's strategy.",
         "Most defenders stay back, so the team protects a lead with a counter-attack plan."),
        ("Given the tools on the bench, describe step by step how to repair the bicycle.",
         "Lift the wheel, remove the tyre with the levers, patch the tube, refit and pump."),
        ("Why is the woman looking at the map, and what should she do given the signs?",
         "She seems lost; the sign points to the station, so she should turn left there.")],
}


def spearman(a, b):
    def rank(x):
        x = np.asarray(x, float)
        order = x.argsort(kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # average ranks over ties
            m = x == v
            r[m] = r[m].mean()
        return r

    ra, rb = rank(a), rank(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


if os.environ.get("VLITQ_VALIDATE_FAST") == "1":
    LEVELS = {lvl: pairs[:2] for lvl, pairs in LEVELS.items()}
records, levels = [], []
for lvl, pairs in LEVELS.items():
    for j, (ins, res) in enumerate(pairs):
        records.append(make_sample(f"L{lvl}-{j}", [(ins, res)]))
        levels.append(lvl)
ds = Dataset.from_records(records)

# ---------------------------------------------------------------- 1. the offline default judge
# e.g. VLITQ_VALIDATE_JUDGE="openai:llama3.1:8b@http://127.0.0.1:11434/v1"
judge = os.environ.get("VLITQ_VALIDATE_JUDGE") or {"backend": "smollm2", "num_threads": 1}
judge_name = judge if isinstance(judge, str) else "SmolLM2-135M-Instruct (packaged)"


def rate(data, method):
    # judge_cache=False: measure the model, not answers cached by an earlier run
    sc = LLMComplexity(judge=judge, method=method, max_tokens=4, judge_cache=False)
    t = time.time()
    r = vlitq.score(data, [sc, "judge_checks"], cache=False, progress=False)
    return r, time.time() - t


summary = {}
for method in ("expected", "sample"):
    rep, secs = rate(ds, method)
    vals = rep.samples["llm_complexity"].to_list()
    errs = rep.samples["llm_complexity_error"].to_list()
    ok = [(lv, v) for lv, v in zip(levels, vals) if v is not None]
    rho = spearman([lv for lv, _ in ok], [v for _, v in ok]) if len(ok) > 2 else float("nan")
    print(f"judge: {judge_name}, method={method}; {len(ds)} pairs in {secs:.1f} s")
    means = {}
    for lvl in LEVELS:
        vs = [v for lv, v in ok if lv == lvl]
        means[lvl] = float(np.mean(vs)) if vs else float("nan")
        print(f"  level {lvl}: mean rating {means[lvl]:.2f} (ratings "
              f"{sorted(round(v, 1) for v in vs)}, "
              f"{sum(1 for lv, v in zip(levels, vals) if lv == lvl and v is None)} unrated)")
    print(f"  Spearman rho(level, rating) = {rho:.3f} over {len(ok)} rated pairs; "
          f"{len(vals) - len(ok)} unrated (errors, not zeros); distinct values "
          f"{len({round(v, 2) for _, v in ok})}")
    for e in [e for e in errs if e][:2]:
        print(f"  e.g. error: {e}")
    d = rep.details("judge_checks")
    print(f"  judge_checks: spread={d.get('llm_complexity.spread')}, low-confidence share="
          f"{d.get('llm_complexity.low_confidence_share')}, warnings: {rep.warnings or 'none'}")
    assert len(ok) + sum(e is not None for e in errs) == len(ds)
    summary[method] = (means, ok)

if not os.environ.get("VLITQ_VALIDATE_JUDGE"):
    # the claim for the offline default, read by probability: no collapse, and reasoning /
    # planning requests rated above single-attribute questions on average
    means, ok = summary["expected"]
    assert len({round(v, 2) for _, v in ok}) > len(ok) // 2, "expected ratings collapsed"
    assert means[3] > means[1], means

# real instructions (LLaVA-Bench COCO: conversation / detail / complex reasoning), when the
# real-data corpus is present (never in CI)
real = next((d for d in (os.environ.get("VLITQ_REAL_DATA"), "/work/realdata")
             if d and os.path.isfile(os.path.join(d, "llava_bench_coco",
                                                  "coco2014_val_gpt4_qa_30x3.jsonl"))), None)
if real and os.environ.get("VLITQ_VALIDATE_REAL") == "1":
    import json

    rows = [json.loads(x) for x in open(os.path.join(real, "llava_bench_coco",
                                                     "coco2014_val_gpt4_qa_30x3.jsonl"))]
    rds = Dataset.from_records([make_sample(f"r{i}", [(r["instruction"], r["output"])])
                                for i, r in enumerate(rows)])
    rep, secs = rate(rds, "expected")
    vals = rep.samples["llm_complexity"].to_list()
    for typ in ("conv", "detail", "complex"):
        vs = [v for v, r in zip(vals, rows) if r["type"] == typ and v is not None]
        print(f"  real {typ}: n={len(vs)} mean {np.mean(vs):.2f} sd {np.std(vs):.2f} "
              f"range {min(vs):.2f}-{max(vs):.2f}")
    print(f"  ({secs:.0f} s; file llava_bench_coco/coco2014_val_gpt4_qa_30x3.jsonl)")
elif real:
    print("real data: set VLITQ_VALIDATE_REAL=1 to rate the 90 LLaVA-Bench COCO pairs "
          "(~25 min on a shared 2-core CPU)")


# ---------------------------------------------------------------- 2. the machinery, scripted
class Scripted(Judge):
    backend = "scripted"

    def __init__(self, fn, name):
        super().__init__()
        self.fn, self.name = fn, name

    def model_id(self):
        return self.name

    def _generate(self, messages, images, *, temperature, max_tokens, seed, k):
        return [self.fn(m[-1]["content"]) for m in messages]


def oracle(prompt):  # a judge that follows the rubric: rating = 3 x level
    for lvl, pairs in LEVELS.items():
        if any(ins in prompt for ins, _ in pairs):
            return f"{3 * lvl}"
    return "?"


rep_o = vlitq.score(ds, [LLMComplexity(method="sample", judge=Scripted(oracle, "oracle"), judge_cache=False),
                         "judge_checks"], cache=False, progress=False)
rho_o = spearman(levels, rep_o.samples["llm_complexity"].to_list())
print(f"scripted rubric-following judge: Spearman rho = {rho_o:.3f}, warnings: "
      f"{rep_o.warnings or 'none'}")
assert rho_o > 0.9 and not rep_o.warnings

rep_c = vlitq.score(ds, [LLMComplexity(method="sample", judge=Scripted(lambda p: "7", "constant"),
                                       judge_cache=False), "judge_checks"],
                    cache=False, progress=False)
print(f"scripted collapsed judge (always 7): warnings: {rep_c.warnings}")
assert any("collapsed" in w for w in rep_c.warnings)

rep_p = vlitq.score(ds, [LLMComplexity(method="sample", judge=Scripted(lambda p: "It is quite complex.", "chatty"),
                                       judge_cache=False)], cache=False, progress=False)
n_err = rep_p.samples["llm_complexity_error"].drop_nulls().len()
print(f"scripted judge without numbers: {n_err}/{len(ds)} errors, "
      f"{rep_p.samples['llm_complexity'].drop_nulls().len()} values (never zeros)")
assert n_err == len(ds) and rep_p.indicator("llm_complexity") is None
print("llm_complexity: validation finished")
sys.exit(0)
