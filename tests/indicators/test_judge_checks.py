import polars as pl

from vlitq.indicators.base import IndicatorContext
from vlitq.indicators.judge_checks import JudgeChecks


def _run(cols):
    return JudgeChecks().compute(IndicatorContext(dataset=None, samples=pl.DataFrame(cols)))


def test_flags_collapse_and_coin_flip_votes():
    res = _run({"correctness": [i % 2 == 0 for i in range(10)],
                "correctness_agreement": [0.6] * 10, "llm_complexity": [7.0] * 10})
    # coin flips, a low-confidence majority, a collapsed rating
    assert res.value == 3.0 and res.details["checked"] == ["correctness", "llm_complexity"]
    assert res.details["correctness.low_confidence_share"] == 1.0
    assert res.details["llm_complexity.spread"] == 0.0
    assert any("coin flips" in w for w in res.warnings)
    assert any("llm_complexity" in w and "collapsed" in w for w in res.warnings)


def test_healthy_and_absent_columns_pass():
    res = _run({"correctness": [i % 3 > 0 for i in range(10)],
                "correctness_agreement": [0.9] * 10,
                "llm_complexity": [float(i % 10 + 1) for i in range(10)]})
    assert res.value == 0.0 and res.warnings == []
    res = _run({"text_stats": [1, 2, 3]})
    assert res.value == 0.0 and res.details["checked"] == []


def test_reliability_figures_and_agreement_of_two_readings():
    import math

    res = _run({"correctness": [True, False, True, True, False, True],
                "correctness_prob": [0.9, 0.2, 0.8, 0.6, 0.4, 0.95],
                "correctness_agreement": [0.9, 0.8, 0.8, 0.6, 0.6, 0.95],
                "correctness_check": [True, False, False, True, False, True],
                "llm_complexity": [2.0, 3.0, 5.0, 7.0, 8.0, 9.0],
                "llm_complexity_entropy": [0.2, 2.2, 0.5, 0.4, 2.0, 0.1],
                "llm_complexity_check": [2.5, 3.0, 4.0, 7.5, 8.0, 8.0]})
    d = res.details
    assert d["correctness.low_confidence_share"] == round(2 / 6, 4)
    assert d["correctness.kappa"] == 0.6667  # 5 of 6 agree; chance 0.5
    assert d["correctness.spread"] > 0.2
    # entropy above 70 % of ln 10 (1.61) is unsure: 2 of 6
    assert d["llm_complexity.low_confidence_share"] == round(2 / 6, 4)
    assert 0.9 < d["llm_complexity.icc"] <= 1.0
    rel = d["reliability"]["llm_complexity"]
    assert rel["agreement"]["measure"] == "icc(3,1)" and rel["agreement"]["n"] == 6
    assert math.isclose(d["llm_complexity.spread"], 2.5604, abs_tol=1e-3)
