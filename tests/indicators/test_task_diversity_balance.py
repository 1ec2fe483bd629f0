import math

import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.indicators.balance import share_variance
from vlitq.indicators.task_diversity import normalised_entropy


def _ds(labels, broken=()):
    recs = [make_sample(f"s{i}", [(f"Question {i}?", "A.")], task=t)
            for i, t in enumerate(labels)]
    recs += [make_sample(f"b{i}", [], task="zzz", read_error="bad") for i in range(len(broken))]
    return Dataset.from_records(recs)


def test_balance_by_hand():
    # 6 / 3 / 1 samples: shares 60, 30, 10 %; mean 100/3
    # variance = ((60-33.33)^2 + (30-33.33)^2 + (10-33.33)^2) / 3 = 3800/9 = 422.22...
    ds = _ds(["a"] * 6 + ["b"] * 3 + ["c"], broken=[1, 2])  # unreadable rows are left out
    r = vlitq.score(ds, ["tasks", "task_diversity", "balance"], cache=False, progress=False)
    assert r.indicator("balance") == pytest.approx(3800 / 9)
    d = r.details("balance")
    assert d["imbalance_ratio"] == 6.0 and d["n_tasks"] == 3 and d["n"] == 10
    assert d["shares"] == pytest.approx({"a": 60.0, "b": 30.0, "c": 10.0})
    assert r.indicator("task_diversity") == 3
    dd = r.details("task_diversity")
    h = -(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1))
    assert dd["entropy"] == pytest.approx(h / math.log(3))
    assert dd["tasks"] == {"a": 6, "b": 3, "c": 1}


def test_balance_extremes_and_monotonic():
    assert share_variance([5, 5, 5, 5]) == 0.0
    assert share_variance([7]) == 0.0
    # two tasks: shares 100p and 100(1-p) → variance (100p - 50)^2
    assert share_variance([9, 1]) == pytest.approx((90 - 50) ** 2)
    vals = [share_variance([100, 100 - d, 100 - 2 * d]) for d in range(0, 50, 10)]
    assert vals == sorted(vals) and vals[0] == 0.0 and vals[-1] > vals[1]
    with pytest.raises(ValueError):
        share_variance([])


def test_entropy():
    assert normalised_entropy([3, 3, 3]) == pytest.approx(1.0)
    assert normalised_entropy([10]) is None
    assert normalised_entropy([1, 0, 1]) == pytest.approx(1.0)  # empty tasks do not count
    assert 0 < normalised_entropy([98, 1, 1]) < 0.2


def test_without_labels_one_task_with_warning():
    ds = Dataset.from_records([make_sample(f"s{i}", [("Q?", "A.")]) for i in range(4)])
    r = vlitq.score(ds, ["task_diversity", "balance"], cache=False, progress=False)
    assert r.indicator("task_diversity") == 1 and r.indicator("balance") == 0.0
    assert any("no task labels" in w for w in r.warnings)
    assert r.details("task_diversity")["entropy"] is None
