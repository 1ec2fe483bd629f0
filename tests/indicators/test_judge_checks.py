import polars as pl

from vlitq.indicators.base import IndicatorContext
from vlitq.indicators.judge_checks import JudgeChecks


def _run(cols):
    return JudgeChecks().compute(IndicatorContext(dataset=None, samples=pl.DataFrame(cols)))


def test_flags_collapse_and_coin_flip_votes():
    res = _run({"correctness": [i % 2 == 0 for i in range(10)],
                "correctness_agreement": [0.6] * 10, "llm_complexity": [7.0] * 10})
    assert res.value == 2.0 and res.details["checked"] == ["correctness", "llm_complexity"]
    assert any("coin flips" in w for w in res.warnings)
    assert any("llm_complexity" in w and "collapsed" in w for w in res.warnings)


def test_healthy_and_absent_columns_pass():
    res = _run({"correctness": [i % 3 > 0 for i in range(10)],
                "correctness_agreement": [0.9] * 10,
                "llm_complexity": [float(i % 10 + 1) for i in range(10)]})
    assert res.value == 0.0 and res.warnings == []
    res = _run({"text_stats": [1, 2, 3]})
    assert res.value == 0.0 and res.details["checked"] == []
