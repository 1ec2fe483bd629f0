import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.models import nlp
from vlitq.scorers.elements import ElementsScorer


def _score(records, **params):
    ds = Dataset.from_records(records)
    return vlitq.score(ds, ["elements"], config={"elements": params}, cache=False,
                       progress=False)


def test_columns_values_and_routing():
    recs = [
        make_sample("en", [("<image>\nWhat is the man holding?", "An umbrella.")]),
        make_sample("zh", [("图中的男人手里拿着什么？", "一把雨伞。")]),
        make_sample("empty", [("  <image> ", "x")]),
        make_sample("none", []),
    ]
    r = _score(recs)
    s = r.samples
    assert s["elements"].to_list()[:2] == [2.0, 4.0]
    assert s["elements_predicates"].to_list()[:2] == [1.0, 1.0]
    assert s["elements_backend"].to_list()[:2] == ["spacy", "jieba"]
    assert sorted(s["elements_items"].to_list()[0]) == ["attr:what", "nsubj:man"]
    assert s["elements_items"].to_list()[1] == ["n:图", "n:男人", "s:手里", "r:什么"]
    errs = dict(zip(s["sample_id"], s["elements_error"]))
    assert errs["empty"] == "empty instruction in turn 1" and errs["none"] == "no turns"
    assert s["elements"].to_list()[2:] == [None, None]
    assert r.indicator("elements") == pytest.approx(3.0)


def test_multi_turn_modes():
    turns = [("What is this?", "A cat."),
             ("What is the woman next to the red car holding in her left hand?", "A cup.")]
    rec = [make_sample("m", turns)]
    one = _score([make_sample("a", turns[:1])]).samples["elements"][0]
    two = _score([make_sample("b", turns[1:])]).samples["elements"][0]
    assert one < two
    got = {m: _score(rec, turns=m).samples["elements"][0] for m in ("mean", "sum", "max",
                                                                    "first")}
    assert got == {"mean": (one + two) / 2, "sum": one + two, "max": two, "first": one}
    items = _score(rec).samples["elements_items"][0].to_list()
    assert items[0].startswith("t1 ") and items[-1].startswith("t2 ")
    # one empty turn makes the sample an error rather than a silently partial value
    bad = _score([make_sample("x", [("What is this?", "A"), ("", "B")])]).samples
    assert bad["elements"][0] is None and "turn 2" in bad["elements_error"][0]


def test_non_english_text_refused_by_spacy_backend():
    rec = [make_sample("fr", [("Que tient l'homme dans sa main droite ?", "Un parapluie.")])]
    s = _score(rec).samples
    assert s["elements"][0] is None and "'fr'" in s["elements_error"][0]
    s = _score(rec, check_language=False).samples
    assert s["elements"][0] is not None and s["elements_error"][0] is None


def test_batch_size_and_np_modifiers():
    recs = [make_sample(f"s{i}", [(t, "x")]) for i, t in enumerate([
        "Describe the small red car on the left.", "What is the man holding?",
        "How many people are sitting on the wooden bench near the lake?"] * 3)]
    a = _score(recs, batch_size=1).samples["elements"].to_list()
    b = _score(recs, batch_size=64).samples["elements"].to_list()
    assert a == b
    c = _score(recs, np_modifiers=False).samples["elements"].to_list()
    assert all(x <= y for x, y in zip(c, a)) and sum(c) < sum(a)


def test_cache_roundtrip(tmp_path):
    ds = Dataset.from_records([make_sample("a", [("What color is the car?", "Red.")])])
    r1 = vlitq.score(ds, ["elements"], cache=str(tmp_path), progress=False)
    r2 = vlitq.score(ds, ["elements"], cache=str(tmp_path), progress=False)
    assert r2.info["cache_stats"] and any(v["hits"] for v in r2.info["cache_stats"].values())
    assert r1.samples.equals(r2.samples)


def test_bad_params_are_load_errors():
    ds = Dataset.from_records([make_sample("a", [("What?", "x")])])
    for params, msg in (({"turns": "median"}, "turns must be"),
                        ({"backend": "hanlp"}, "needs hanlp_model"),
                        ({"backend": "stanza"}, "backend must be")):
        r = vlitq.score(ds, ["elements"], config={"elements": params}, cache=False,
                        progress=False)
        assert msg in r.samples["elements_error"][0]


class _FakeMTL:
    """Stands in for a HanLP multi-task model: returns a Document-like dict with tok + sdp."""

    tasks = ("tok", "sdp")

    def __init__(self):
        self.calls = []

    def __call__(self, texts, tasks=None):
        self.calls.append((list(texts), tasks))
        doc = {"tok/fine": [], "sdp": []}
        for text in texts:
            text = text.rstrip("?？")
            toks = text.split() if " " in text else list(text)  # a real model segments Chinese
            # first word is the predicate (root), every other word its patient
            doc["tok/fine"].append(toks)
            doc["sdp"].append([[(0, "Root")]] + [[(1, "Pat")] for _ in toks[1:]])
        return doc


class _FakeSDP:
    """Stands in for a stand-alone HanLP SDP model: takes tokens, returns per-token arcs."""

    def __call__(self, tokens):
        return [[(0, "Root")]] + [[(1, "Agt")] for _ in tokens[1:]]


@pytest.mark.parametrize("model_cls", [_FakeMTL, _FakeSDP])
def test_hanlp_backend_path(monkeypatch, model_cls):
    fake = model_cls()
    monkeypatch.setattr(nlp, "load_hanlp", lambda path: fake)
    recs = [make_sample("en", [("hold cup pen?", "x")]),
            make_sample("zh", [("图中的男人手里拿着什么？", "x")])]
    s = _score(recs, hanlp_model="/models/hanlp-sdp").samples
    assert s["elements_backend"].to_list() == ["hanlp", "hanlp"]
    assert s["elements"][0] == 2.0 and s["elements_predicates"][0] == 1.0
    assert s["elements"][1] >= 3  # jieba tokens fed to the model, all but the first attached
    scorer = ElementsScorer(hanlp_model="/models/hanlp-sdp")
    assert scorer.model_id() == "hanlp:/models/hanlp-sdp"
    if isinstance(fake, _FakeMTL):
        assert fake.calls == [(["hold cup pen?", "图中的男人手里拿着什么？"], "sdp")]  # one batch


def test_strip_patterns_and_passive_agent():
    ins = "What is the cat doing?\nAnswer the question using a single word or phrase."
    rec = [make_sample("a", [(ins, "Sleeping")])]
    full = _score(rec).samples["elements"][0]
    stripped = _score(rec, strip_patterns=[r"answer the question using a single word or "
                                           r"phrase\."]).samples
    assert stripped["elements"][0] == 2.0 < full
    assert sorted(stripped["elements_items"][0].to_list()) == ["attr:what", "nsubj:cat"]
    # only boilerplate left -> empty instruction error
    s = _score(rec, strip_patterns=[r".*"]).samples
    assert s["elements"][0] is None and "empty instruction" in s["elements_error"][0]
    items = _score([make_sample("p", [("What is the shirt worn by the man?", "x")])]
                   ).samples["elements_items"][0].to_list()
    assert "agent:man" in items and "agent:by" not in items


def test_length_cap_bounds_the_parse_and_flags_the_sample():
    long = " ".join(["A man in a red shirt rides a brown horse along the beach."] * 400)
    batch = Dataset.from_records([make_sample("long", [(long, "x")], []),
                                  make_sample("short", [("What is the man holding?", "x")], [])]
                                 ).to_batch()
    out = ElementsScorer(max_chars=600)(batch)
    assert out["elements_truncated"] == [True, False]
    assert out["elements_error"] == [None, None]
    uncapped = ElementsScorer(max_chars=None)(batch)
    assert uncapped["elements_truncated"] == [False, False]
    assert out["elements"][0] < uncapped["elements"][0]
    assert out["elements"][1] == uncapped["elements"][1]


def test_each_distinct_instruction_is_parsed_once_per_run(monkeypatch):
    """Repeated instructions (VQA questions, caption prompts) are parsed once, within a batch
    and across batches, and give the same elements as a fresh parse."""
    from vlitq.models import nlp
    from vlitq.scorers.elements import ElementsScorer

    s = ElementsScorer()
    s.load()
    model = nlp.load_spacy(s.spacy_model)
    parsed = []
    real_pipe = type(model).pipe

    def counting_pipe(self, texts, **kw):
        texts = list(texts)
        parsed.extend(texts)
        return real_pipe(self, texts, **kw)

    monkeypatch.setattr(type(model), "pipe", counting_pipe)
    qs = ["What colour is the bus in the picture?", "Describe the image in detail.",
          "What colour is the bus in the picture?"]
    batch = {"sample_id": ["a", "b", "c"],
             "turns": [[{"instruction": q, "response": "x"}] for q in qs]}
    first = s(batch)["elements"]
    again = s(batch)["elements"]  # a later batch of the same run: nothing new to parse
    assert sorted(parsed) == sorted(set(qs))
    assert first == again and first[0] == first[2]
    fresh = ElementsScorer()
    fresh.load()
    assert fresh(batch)["elements"] == first
