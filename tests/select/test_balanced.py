from collections import Counter

import polars as pl
import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.select.balanced import balanced_sample, task_quotas


def test_quotas_water_filling():
    assert task_quotas({"a": 100, "b": 100, "c": 5}, 65) == {"a": 30, "b": 30, "c": 5}
    assert task_quotas({"a": 1, "b": 2, "c": 100}, 30) == {"a": 1, "b": 2, "c": 27}
    q = task_quotas({"a": 10, "b": 10, "c": 10}, 8, seed=3)
    assert sum(q.values()) == 8 and sorted(q.values()) == [2, 3, 3]
    assert task_quotas({"a": 4, "b": 0}, 10) == {"a": 4, "b": 0}
    assert task_quotas({"a": 4}, 0) == {"a": 0}


def test_balanced_sample_uniform_and_seeded():
    labels = ["cap"] * 500 + ["count"] * 300 + ["ocr"] * 40 + ["yn"] * 160
    ids = balanced_sample(labels, 400, seed=1)
    c = Counter(labels[i] for i in ids)
    assert len(ids) == 400 and len(set(ids)) == 400
    assert c == {"ocr": 40, "cap": 120, "count": 120, "yn": 120}
    assert ids == sorted(ids)  # input order kept
    assert balanced_sample(labels, 400, seed=1) == ids
    assert balanced_sample(labels, 400, seed=2) != ids
    assert sorted(balanced_sample(labels, 5000)) == list(range(1000))  # n above size → all


def test_balanced_sample_inputs():
    labels = {"x1": "a", "x2": "a", "x3": "b", "x4": None, "x5": "unlabelled"}
    assert balanced_sample(labels, 2) in (["x1", "x3"], ["x2", "x3"])
    assert set(balanced_sample(labels, 10, skip_unlabelled=False)) == set(labels)
    frame = pl.DataFrame({"sample_id": ["p", "q", "r", "s"], "task": ["a", "a", "a", "b"],
                          "task_pred": ["u", "v", "v", "v"]})
    assert "p" in balanced_sample(frame, 2)  # task_pred preferred: p is the only 'u'
    assert "s" in balanced_sample(frame, 2, task_column="task")
    with pytest.raises(KeyError):
        balanced_sample(pl.DataFrame({"sample_id": ["a"]}), 1)
    with pytest.raises(ValueError):
        balanced_sample(["a"], -1)


def test_balanced_sample_from_report():
    recs = [make_sample(f"s{i}", [("Q?", "A.")], task="big" if i < 30 else "small")
            for i in range(36)]
    r = vlitq.score(Dataset.from_records(recs), ["tasks", "balance"], cache=False,
                    progress=False)
    ids = balanced_sample(r, 12, seed=0)
    assert sum(i.startswith("s3") and int(i[1:]) >= 30 for i in ids) == 6
    assert len(ids) == 12
