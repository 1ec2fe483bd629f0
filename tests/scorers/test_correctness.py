import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "models"))
from judge_helpers import ChatServer, ScriptedJudge, build_tiny_llava

from vlitq.models.judges import LocalJudge

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.scorers.correctness import Correctness


@pytest.fixture
def root(tmp_path):
    for c, rgb in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        Image.fromarray(np.full((32, 32, 3), rgb, np.uint8)).save(tmp_path / f"{c}.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    return str(tmp_path)


def colour_judge(**kw):
    """Says Yes when the response names the colour of the image it was shown (first pixel),
    with one dissenting vote out of five and an unparseable answer at k == 3."""
    def script(prompt, k):
        return "?"

    j = ScriptedJudge(script, **kw)

    def gen(messages, images, *, temperature, max_tokens, seed, k):
        out = []
        for m, ims in zip(messages, images):
            j.seen.append((m[-1]["content"], len(ims), k))
            said = m[-1]["content"].rsplit("Response:", 1)[1].lower()
            r, _, b = ims[0].getpixel((0, 0))
            truth = "red" if r > b else "blue"
            right = truth in said
            if k == 3:
                out.append("I am not sure.")
            elif k == 4:
                out.append("No." if right else "Yes.")
            else:
                out.append("Yes, it is." if right else "No, the colour is wrong.")
        return out

    def opts(messages, images, options):
        # a judge that leans to "No": P(yes) 0.3 when right, 0.05 when wrong; the judged
        # examples (no image, their description in the text) get the same lean
        out = []
        for m, ims in zip(messages, images):
            text = m[-1]["content"]
            case = text.rsplit("Instruction:", 1)[1]
            if ims:
                r, _, b = ims[0].getpixel((0, 0))
                right = ("red" if r > b else "blue") in case.rsplit("Response:", 1)[1].lower()
            else:
                from vlitq.scorers.correctness import EXAMPLES

                right = next(e["answer"] == "Yes" for e in EXAMPLES
                             if e["response"] in case)
            p = 0.3 if right else 0.05
            out.append([np.log(p), np.log(1 - p)])
        return out

    j._generate = gen
    j._score_options = opts
    return j


def _ds(root, rows):
    return Dataset.from_records([make_sample(f"s{i}", turns, imgs)
                                 for i, (turns, imgs) in enumerate(rows)], image_root=root)


def test_majority_vote_labels_and_columns(root):
    ds = _ds(root, [
        ([("What colour?", "It is red.")], ["red.png"]),
        ([("What colour?", "It is red.")], ["blue.png"]),                 # planted wrong
        ([("Colour?", "Blue."), ("Sure?", "Yes, blue.")], ["blue.png"]),  # multi-turn, right
        ([("Colour?", "Blue."), ("Again?", "Red now.")], ["blue.png"]),   # one turn wrong
    ])
    j = colour_judge()
    rep = vlitq.score(ds, [Correctness(judge=j, k=5, method="vote")], cache=False,
                      progress=False)
    s = rep.samples
    assert s["correctness"].to_list() == [True, False, True, False]
    assert s["correctness_agreement"].to_list() == [0.75, 0.75, 0.75, 0.75]
    # P(correct) = share of Yes votes, product over turns
    assert s["correctness_prob"].to_list() == [0.75, 0.25, 0.5625, 0.1875]
    assert s["correctness_votes"].to_list()[0] == ["YYY?N"]
    assert s["correctness_invalid"].to_list() == [1, 1, 2, 2]
    assert rep.indicator("correctness") == 50.0
    assert all(n_img == 1 for _, n_img, _ in j.seen)
    # the prompt carries the few-shot examples and the case
    assert "Example 1." in j.seen[0][0] and "It is red." in j.seen[0][0]


def test_unparseable_answers_are_errors_not_votes(root):
    ds = _ds(root, [([("Q?", "Red.")], ["red.png"])])
    j = ScriptedJudge(lambda p, k: "The image shows something.")
    rep = vlitq.score(ds, [Correctness(judge=j, k=3, method="vote")], cache=False,
                      progress=False)
    assert rep.samples["correctness"].to_list() == [None]
    assert "no parseable answer" in rep.samples["correctness_error"][0]
    assert rep.samples["correctness_votes"].to_list() == [["???"]]
    tie = ScriptedJudge(lambda p, k: "Yes" if k % 2 else "No", name="tie")
    rep = vlitq.score(ds, [Correctness(judge=tie, k=4, method="vote")], cache=False,
                      progress=False)
    assert "tied votes" in rep.samples["correctness_error"][0]


def test_probability_calibrated_on_the_judged_examples(root):
    ds = _ds(root, [
        ([("What colour?", "It is red.")], ["red.png"]),
        ([("What colour?", "It is red.")], ["blue.png"]),                 # planted wrong
        ([("Colour?", "Blue."), ("Sure?", "Yes, blue.")], ["blue.png"]),  # multi-turn, right
        ([("Colour?", "Blue."), ("Again?", "Red now.")], ["blue.png"]),   # one turn wrong
    ])
    from vlitq.scorers.correctness import calibrated, calibration_bias

    bias = calibration_bias([0.3, 0.05, 0.3, 0.05], [True, False, True, False])
    j = colour_judge()
    rep = vlitq.score(ds, [Correctness(judge=j)], cache=False, progress=False)
    s = rep.samples
    assert j.seen == []  # nothing sampled: read from the option probabilities
    assert s["correctness"].to_list() == [True, False, True, False]
    hi, lo = calibrated(0.3, bias), calibrated(0.05, bias)
    assert hi > 0.5 > lo
    assert s["correctness_prob"].to_list() == pytest.approx(
        [hi, lo, hi * hi, hi * lo], abs=1e-4)
    assert s["correctness_agreement"][0] == pytest.approx(hi, abs=1e-4)
    assert s["correctness_votes"].null_count() == 4
    assert rep.indicator("correctness") == 50.0
    # uncalibrated, the judge's lean to "No" calls everything wrong
    raw = vlitq.score(ds, [Correctness(judge=colour_judge(), calibrate=False)], cache=False,
                      progress=False)
    assert raw.samples["correctness"].to_list() == [False] * 4
    assert raw.samples["correctness_prob"][0] == pytest.approx(0.3, abs=1e-4)


def test_bad_inputs_are_errors(root):
    ds = _ds(root, [([("Q?", "A.")], []), ([("Q?", "A.")], ["bad.png"]),
                    ([("Q?", "")], ["red.png"])])
    j = ScriptedJudge(lambda p, k: "Yes")
    rep = vlitq.score(ds, [Correctness(judge=j, k=3)], cache=False, progress=False)
    errs = rep.samples["correctness_error"].to_list()
    assert "no image" in errs[0] and "image 1" in errs[1] and "empty response" in errs[2]
    assert j.seen == []


def test_cost_estimate_and_judge_cache(root, tmp_path):
    ds = _ds(root, [([("What colour?", "Red."), ("Sure?", "Yes, red.")], ["red.png"]),
                    ([("What colour?", "Blue.")], ["blue.png"])])
    sc = Correctness(judge="llava-hf/llava-1.5-7b-hf", k=5)
    est = sc.estimate_cost(ds)
    # by probability: one call per turn plus the four judged examples, nothing generated
    assert est["method"] == "probability" and est["calls"] == 3 + 4
    assert est["generated_tokens"] == 0
    vote = est["by_method"]["vote"]
    assert vote["calls"] == 15 and vote["prompt_tokens"] > 15 * 576
    assert vote["generated_tokens"] == 15 * 8
    assert Correctness(method="vote", k=5).estimate_cost(ds)["calls"] == 15
    j = colour_judge()
    vlitq.score(ds, [Correctness(judge=j, k=5, method="vote")], cache=False, progress=False)
    assert j.calls == 15
    j2 = colour_judge()  # new judge object, result cache off: the completion cache answers
    rep = vlitq.score(ds, [Correctness(judge=j2, k=5, method="vote")], cache=False,
                      progress=False)
    assert j2.calls == 0 and j2.cache_hits == 15
    assert rep.samples["correctness"].to_list() == [True, True]


def test_tiny_llava_local_and_http_paths(root, tmp_path):
    d = build_tiny_llava(str(tmp_path / "llava"))
    ds = _ds(root, [([("what color ?", "red")], ["red.png"]),
                    ([("what color ?", "blue")], ["blue.png"])])
    rep = vlitq.score(ds, [Correctness(judge=d, k=3, max_tokens=3, method="vote")],
                      cache=False, progress=False)
    votes = rep.samples["correctness_votes"].to_list()
    assert all(len(v[0]) == 3 for v in votes)  # the random model answered 3 times per turn
    # random weights emit random words: whatever is not a yes/no is an error, never a vote
    for lab, err, v in zip(rep.samples["correctness"].to_list(),
                           rep.samples["correctness_error"].to_list(), votes):
        assert (lab is None) == (err is not None)
        if "?" in v[0] and set(v[0]) == {"?"}:
            assert "no parseable answer" in err
    with ChatServer(colour_judge()) as srv:
        rep = vlitq.score(ds, [Correctness(judge=f"openai:judge@{srv.base_url}", k=3,
                                           method="vote")], cache=False, progress=False)
        assert srv.images_seen == 6
    assert rep.samples["correctness"].to_list() == [True, True]
    # by probability: the tiny LLaVA locally, and behind a server returning logprobs
    local = vlitq.score(ds, [Correctness(judge=d)], cache=False, progress=False)
    p_local = local.samples["correctness_prob"].to_list()
    assert all(p is not None and 0 < p < 1 for p in p_local)
    assert local.samples["correctness_error"].null_count() == 2
    with ChatServer(LocalJudge(d)) as srv:
        rep = vlitq.score(ds, [Correctness(judge=f"openai:judge@{srv.base_url}")],
                          cache=False, progress=False)
        assert all(r.get("logprobs") for r in srv.requests)
    assert all(p is not None for p in rep.samples["correctness_prob"].to_list())


def test_unreachable_server_fails_every_sample_fast(root):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ds = _ds(root, [([("Q?", "Red.")], ["red.png"])] * 3)
    judge = {"backend": "openai", "model": "m", "base_url": f"http://127.0.0.1:{port}/v1",
             "max_retries": 0}
    rep = vlitq.score(ds, [Correctness(judge=judge, k=1)], cache=False, progress=False)
    errs = rep.samples["correctness_error"].to_list()
    assert all("cannot connect" in e for e in errs)


def test_second_reading_gives_agreement_in_judge_checks(root):
    ds = _ds(root, [([("What colour?", "It is red.")], ["red.png"]),
                    ([("What colour?", "It is red.")], ["blue.png"]),
                    ([("Colour?", "Blue.")], ["blue.png"]),
                    ([("Colour?", "Red.")], ["blue.png"])])
    j = colour_judge()
    rep = vlitq.score(ds, [Correctness(judge=j, check="prompt"), "judge_checks"], cache=False,
                      progress=False)
    s = rep.samples
    assert s["correctness_check"].to_list() == s["correctness"].to_list()
    # the variant prompt lists the judged examples in reverse order
    d = rep.details("judge_checks")
    assert d["correctness.kappa"] == 1.0
    assert d["reliability"]["correctness"]["agreement"]["n"] == 4
    # a second judge that always says yes: no agreement beyond chance
    yes = ScriptedJudge(lambda p, k: "Yes", name="yes-man")
    rep = vlitq.score(ds, [Correctness(judge=colour_judge(), check=yes), "judge_checks"],
                      cache=False, progress=False)
    assert rep.samples["correctness_check"].to_list() == [True] * 4
    assert rep.details("judge_checks")["correctness.kappa"] == 0.0
