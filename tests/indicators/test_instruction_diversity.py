import os
import random
import sys

import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.indicators.instruction_diversity import (
    cooccurrence_graph,
    has_cjk,
    mean_edit_distance,
    tokenize,
)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "metrics",
                                "instruction_diversity"))


def _families(k, task, per=20, seed=0, offset=0):
    from validate_data import FAMILIES, GENERIC, TEMPLATES

    rng = random.Random(seed)
    out = []
    for f in range(k):
        verbs, nouns = FAMILIES[f + offset]
        for i in range(per):
            n, n2 = rng.sample(nouns, 2)
            out.append(rng.choice(TEMPLATES).format(v=rng.choice(verbs), n=n, n2=n2,
                                                    g=rng.choice(GENERIC)))
    return out


def _score(records, **params):
    comp = vlitq.registry.create("instruction_diversity", params)
    return vlitq.score(Dataset.from_records(records), [comp], cache=False, progress=False)


def test_tokenize_removes_stop_words_and_segments_chinese():
    assert tokenize("What is the man holding in his left hand?") == ["man", "holding", "left",
                                                                    "hand"]
    zh = tokenize("请描述这张图片中的小狗。")
    assert has_cjk("请描述这张图片中的小狗。")
    assert "描述" in zh and "图片" in zh and "的" not in zh and "。" not in zh
    assert tokenize("Count 3 dogs", stop_words=[]) == ["count", "dogs"]


def test_cooccurrence_graph_weights_count_instructions():
    g, cut = cooccurrence_graph([["a", "b", "c"], ["a", "b"], ["a", "b", "a"], ["z"]],
                                max_words=2)
    assert g["a"]["b"] == 3.0 and "c" not in g and g["z"] == {} and cut == 1


def test_mean_edit_distance_matches_brute_force_and_samples_deterministically():
    from rapidfuzz.distance import Levenshtein

    texts = ["describe the image", "describe this picture", "what is shown", "count the dogs"]
    pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1:]]
    ref = sum(Levenshtein.normalized_distance(a, b) for a, b in pairs) / len(pairs)
    assert mean_edit_distance(texts) == pytest.approx(ref)
    raw = mean_edit_distance(texts, normalised=False)
    assert raw == pytest.approx(sum(Levenshtein.distance(a, b) for a, b in pairs) / len(pairs))
    many = [f"instruction number {i}" for i in range(300)]
    a = mean_edit_distance(many, max_texts=50, seed=1)
    assert a == mean_edit_distance(many, max_texts=50, seed=1)
    assert mean_edit_distance(["only one"]) is None


def test_per_task_clusters_follow_planted_families_and_dataset_value_is_the_mean():
    recs = [make_sample(f"a{i}", [(t, "ok")], task="A") for i, t in enumerate(_families(2, "A"))]
    recs += [make_sample(f"b{i}", [(t, "ok")], task="B")
             for i, t in enumerate(_families(5, "B", offset=2))]
    rep = _score(recs)
    tasks = {r["task"]: r for r in rep.tasks.to_dicts()}
    assert tasks["A"]["instruction_diversity"] == 2
    assert tasks["B"]["instruction_diversity"] == 5
    assert rep.indicator("instruction_diversity") == pytest.approx(3.5)
    assert 0 < tasks["A"]["instruction_diversity_edit_distance"] < 1
    d = rep.details("instruction_diversity")
    assert d["n_tasks"] == 2 and d["instructions"] == 140
    assert d["edit_distance"] == pytest.approx(
        (tasks["A"]["instruction_diversity_edit_distance"]
         + tasks["B"]["instruction_diversity_edit_distance"]) / 2)


def test_duplicates_do_not_raise_and_multi_turn_instructions_all_count():
    ins = _families(3, "A")
    single = [make_sample(f"s{i}", [(t, "ok")]) for i, t in enumerate(ins)]
    v = _score(single).indicator("instruction_diversity")
    assert _score(single + single).indicator("instruction_diversity") <= v
    # the same instructions packed three per sample as multi-turn conversations
    multi = [make_sample(f"m{i}", [(t, "ok") for t in ins[i:i + 3]])
             for i in range(0, len(ins), 3)]
    rep = _score(multi)
    assert rep.indicator("instruction_diversity") == v
    assert rep.details("instruction_diversity")["instructions"] == len(ins)


def test_components_only_cannot_separate_families_joined_by_template_words():
    # template words ("shown", "visible") occur in every family, so the ego-net of "image"
    # is connected: connected components (karateclub's local step) never split it and the
    # whole task is one cluster; label propagation splits it into the four families
    recs = [make_sample(f"a{i}", [(t, "ok")]) for i, t in enumerate(_families(4, "A"))]
    comp = _score(recs, local_clusterer="components", global_clusterer="components")
    lpa = _score(recs)
    assert comp.indicator("instruction_diversity") == 1
    assert lpa.indicator("instruction_diversity") == 4


def test_empty_and_stop_word_only_instructions():
    recs = [make_sample("e", [("", "ok")]), make_sample("s", [("what is this?", "ok")]),
            make_sample("w", [("Describe the red bus.", "ok")])]
    rep = _score(recs)
    # "what is this" has no content word; "describe red bus" is one 3-word cluster
    assert rep.indicator("instruction_diversity") == 1
    assert rep.details("instruction_diversity")["instructions"] == 2
