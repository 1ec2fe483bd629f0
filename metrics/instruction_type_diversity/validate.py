"""Datasets planted with known type mixes: the indicator must order them by evenness.

Builds datasets from pairs whose type is known (one per type), in mixes from a single type to
all six equally, and checks: one type → 0, six equal → 1, and the value rises with each type
added in equal shares; a skewed mix of six types is below the even one.
"""
import itertools
import math

import vlitq
from vlitq.data.dataset import Dataset, make_sample

LONG = ("The man is probably holding the umbrella because dark clouds are gathering and it "
        "looks as if it will start raining any minute now.")
PAIRS = {
    "judgement": ("Is the cat on the sofa?", "Yes."),
    "multiple_choice": ("What is he holding?\nA. a cup\nB. a pen\nC. a phone", "B"),
    "short_vqa": ("What colour is the car?", "Red."),
    "long_vqa": ("Why is the man holding an umbrella?", LONG),
    "caption": ("Describe the image in detail.", LONG),
    "other": ("Write a poem about this picture.", "Clouds drift by, a quiet sky."),
}


def dataset(mix: dict[str, int]) -> Dataset:
    recs = []
    for t, n in mix.items():
        ins, res = PAIRS[t]
        recs += [make_sample(f"{t}{k}", [(ins, res)]) for k in range(n)]
    return Dataset.from_records(recs)


def value(mix):
    rep = vlitq.score(dataset(mix), ["instruction_type", "instruction_type_diversity"],
                      cache=False, progress=False)
    d = rep.details("instruction_type_diversity")
    assert all(d["counts"][t] == n for t, n in mix.items()), (d["counts"], mix)
    return rep.indicator("instruction_type_diversity")


def main():
    types = list(PAIRS)
    values = []
    for k in range(1, 7):
        v = value({t: 10 for t in types[:k]})
        values.append(v)
        print(f"{k} type(s) in equal shares: {v:.4f}  (expected ln({k})/ln(6) = "
              f"{math.log(k) / math.log(6):.4f})")
    skew = value({"short_vqa": 50, "judgement": 2, "multiple_choice": 2, "long_vqa": 2,
                  "caption": 2, "other": 2})
    print(f"six types, 50 short VQA + 2 of each other: {skew:.4f}")
    assert values[0] == 0.0 and abs(values[-1] - 1.0) < 1e-9
    assert all(a < b for a, b in itertools.pairwise(values))
    assert skew < values[-1] and skew < values[2]
    print("instruction_type_diversity: claims hold")


if __name__ == "__main__":
    main()
