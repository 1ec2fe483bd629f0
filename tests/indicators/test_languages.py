import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample

EN = ("What is the man holding in his hand?", "He is holding a black umbrella.")
ZH = ("图中的男人手里拿着什么？", "他拿着一把黑色的雨伞。")


def _ds(declared=True):
    recs = [make_sample(f"en{i}", [EN], language="en" if declared else None) for i in range(3)]
    recs += [make_sample(f"zh{i}", [ZH], language="zh" if declared else None) for i in range(2)]
    recs.append(make_sample("bad", [("?", "!")], language=None))
    return Dataset.from_records(recs)


def test_detected_counts_shares_and_per_language():
    r = vlitq.score(_ds(declared=False), ["language", "text_stats", "languages"], cache=False,
                    progress=False)
    d = r.details("languages")
    assert r.indicator("languages") == 2.0
    assert d["counts"] == {"en": 3, "zh": 2} and d["undetermined"] == 1
    assert d["shares"] == {"en": 60.0, "zh": 40.0}
    assert d["source"] == "detected"
    assert d["per_language"]["en"]["n"] == 3
    assert d["per_language"]["zh"]["text_stats"] == pytest.approx(len(ZH[1]))
    assert "agreement" not in d


def test_without_language_scorer_and_given_source():
    r = vlitq.score(_ds(declared=True), ["languages"], cache=False, progress=False)
    d = r.details("languages")
    assert d["counts"] == {"en": 3, "zh": 2} and d["source"] == "given+detected"
    g = vlitq.score(_ds(declared=True), ["languages"],
                    config={"languages": {"source": "given"}}, cache=False, progress=False)
    assert g.details("languages")["counts"] == {"en": 3, "zh": 2}
    assert g.details("languages")["undetermined"] == 0


def test_agreement_and_min_share():
    recs = [make_sample(f"s{i}", [EN], language="en") for i in range(9)]
    recs.append(make_sample("wrong", [ZH], language="en"))
    ds = Dataset.from_records(recs)
    r = vlitq.score(ds, ["language", "languages"],
                    config={"languages": {"source": "detected", "min_share": 20.0}},
                    cache=False, progress=False)
    d = r.details("languages")
    assert d["agreement"] == pytest.approx(90.0)
    assert r.indicator("languages") == 1.0  # zh holds 10 % < 20 %
    assert d["counts"] == {"en": 9, "zh": 1}


def test_zxx_and_und_never_count_as_languages():
    recs = [make_sample(f"en{i}", [EN], language="en") for i in range(8)]
    recs += [make_sample("num", [("Where is it?", "57.79 177.34 491.2 629.53")], language="zxx"),
             make_sample("und", [("?", "!")], language="und"),
             make_sample("mul", [EN], language="mul")]
    r = vlitq.score(Dataset.from_records(recs), ["languages"],
                    config={"languages": {"source": "given"}}, cache=False, progress=False)
    d = r.details("languages")
    assert r.indicator("languages") == 1.0  # an all-English set holds one language
    assert d["counts"] == {"en": 8} and d["undetermined"] == 3
    assert d["not_languages"] == {"und": 1, "zxx": 1, "mul": 1}
    assert d["shares"] == {"en": 100.0}


def test_all_english_multiinstruct_shape_reports_one_language():
    # short answers and coordinates: detected per sample, they must not add languages
    ins = "Given the image, answer the question.\n\nQuestion: {}\n\n[Options]: no||||yes"
    qs = ["Is the photo in color?", "Is there a dog?", "Is the man smiling?", "Is it raining?"]
    recs = [make_sample(f"q{i}", [(ins.format(q), a)]) for i, (q, a) in
            enumerate(zip(qs * 3, ["yes", "no", "bed", "ok"] * 3))]
    recs.append(make_sample("box", [("Where is the object described by \"a red stop sign\"?",
                                     "18 129 61 168")]))
    r = vlitq.score(Dataset.from_records(recs), ["language", "languages"], cache=False,
                    progress=False)
    assert r.indicator("languages") == 1.0, r.details("languages")
