import math

import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.indicators.instruction_type_diversity import normalised_entropy

PAIRS = [("Is it red?", "No."), ("What colour is it?", "Blue."),
         ("Describe the image.", "A red bus on a busy street with people walking by it.")]


def _ds(pairs, multi=False):
    if multi:
        return Dataset.from_records([make_sample("m", pairs)])
    return Dataset.from_records([make_sample(f"s{i}", [p]) for i, p in enumerate(pairs)])


def test_value_and_details_with_and_without_scorer():
    ds = _ds(PAIRS * 2)
    a = vlitq.score(ds, ["instruction_type", "instruction_type_diversity"], cache=False,
                    progress=False)
    b = vlitq.score(ds, ["instruction_type_diversity"], cache=False, progress=False)
    want = math.log(3) / math.log(6)
    assert a.indicator("instruction_type_diversity") == pytest.approx(want)
    assert b.indicator("instruction_type_diversity") == pytest.approx(want)
    d = a.details("instruction_type_diversity")
    assert d["counts"]["judgement"] == 2 and d["counts"]["caption"] == 2
    assert d["n_types"] == 3 and d["shares"]["short_vqa"] == pytest.approx(100 / 3, rel=1e-3)


def test_one_type_is_zero_and_turn_unit():
    r = vlitq.score(_ds([PAIRS[0]] * 4), ["instruction_type_diversity"], cache=False,
                    progress=False)
    assert r.indicator("instruction_type_diversity") == 0.0
    ds = _ds(PAIRS, multi=True)
    s = vlitq.score(ds, ["instruction_type_diversity"], cache=False, progress=False)
    t = vlitq.score(ds, ["instruction_type_diversity"],
                    config={"instruction_type_diversity": {"unit": "turn"}}, cache=False,
                    progress=False)
    assert s.indicator("instruction_type_diversity") == 0.0  # one sample, one type
    assert t.indicator("instruction_type_diversity") == pytest.approx(math.log(3) / math.log(6))


def test_normalised_entropy_edges():
    assert normalised_entropy({}, 6) is None
    assert normalised_entropy({"a": 3, "b": 1}, 6) < normalised_entropy({"a": 2, "b": 2}, 6)
