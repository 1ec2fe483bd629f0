"""Planted collapsed / coin-flip judge columns must be flagged; healthy ones must not."""
import polars as pl

from vlitq.indicators.base import IndicatorContext
from vlitq.indicators.judge_checks import JudgeChecks

cases = {
    "collapsed complexity (all 7)": ({"llm_complexity": [7.0] * 30}, 1),
    "near-collapsed complexity (29 x 7, one 8)": ({"llm_complexity": [7.0] * 29 + [8.0]}, 1),
    "healthy complexity (1..10)": ({"llm_complexity": [float(1 + i % 10) for i in range(30)]}, 0),
    "correctness, coin-flip votes": ({"correctness": [i % 2 == 0 for i in range(30)],
                                      "correctness_agreement": [0.6] * 30}, 1),
    "correctness, confident and varied": ({"correctness": [i % 3 > 0 for i in range(30)],
                                           "correctness_agreement": [1.0] * 30}, 0),
    "correctness, all True": ({"correctness": [True] * 30,
                               "correctness_agreement": [1.0] * 30}, 1),
    "too few items (3 x 7)": ({"llm_complexity": [7.0] * 3}, 0),
}
ok = 0
for name, (cols, expected) in cases.items():
    res = JudgeChecks().compute(IndicatorContext(dataset=None, samples=pl.DataFrame(cols)))
    print(f"{name:<40} warnings={int(res.value)} {res.warnings[0][:70] if res.warnings else ''}")
    # flagged (one warning or more: a coin-flip judge is both unsure and disagreeing) or not
    assert (int(res.value) > 0) == bool(expected), (name, res.warnings)
    ok += 1
print(f"judge_checks: {ok}/{len(cases)} planted cases classified as expected")
