import vlitq
from vlitq.data.dataset import Dataset, make_sample


def test_language_columns_and_given():
    recs = [
        make_sample("en", [("<image>\nWhat is the man holding in his hand?",
                            "He is holding a black umbrella.")], language="en"),
        make_sample("zh", [("图中的男人手里拿着什么？", "一把雨伞。")], language="zh"),
        make_sample("mix", [("Translate into French: the red bus.", "Le bus rouge est arrivé.")]),
        make_sample("short", [("?", "A")]),
        make_sample("none", [("", "")]),
    ]
    r = vlitq.score(Dataset.from_records(recs), ["language"], cache=False, progress=False)
    s = r.samples
    assert s["language"].to_list()[:2] == ["en", "zh"]
    assert s["language_instruction"][2] == "en" and s["language_response"][2] == "fr"
    assert s["language"][3] == "und" and s["language_confidence"][3] == 0.0
    assert s["language_given"].to_list() == ["en", "zh", None, None, None]
    assert s["language_error"].to_list() == [None, None, None, None, "no text"]
    assert 0.5 < s["language_confidence"][0] <= 1.0
    assert r.indicator("language") is None  # categorical
    assert s.columns.count("language") == 1  # the data's column and the scorer's do not clash


def test_candidates():
    recs = [make_sample("de", [("Was ist das?", "Ein Bus.")])]
    r = vlitq.score(Dataset.from_records(recs), ["language"],
                    config={"language": {"candidates": ["en", "zh"]}}, cache=False,
                    progress=False)
    assert r.samples["language"][0] in ("en", "zh")


def test_short_response_takes_the_instruction_language():
    ins = ("This task asks you to identify if an object appears in the image. Are there any "
           "couches in the photo?")
    recs = [make_sample(f"s{i}", [(ins, res)]) for i, res in
            enumerate(["yes", "no", "bed", "Watching.", "57.79 177.34 491.2 629.53"])]
    recs.append(make_sample("zh", [("Translate 'umbrella' into Chinese.", "雨伞")]))
    recs.append(make_sample("long", [("Translate into French: the red bus.",
                                      "Le bus rouge est arrivé.")]))
    r = vlitq.score(Dataset.from_records(recs), ["language"], cache=False, progress=False)
    res = r.samples["language_response"].to_list()
    assert res[:4] == ["en"] * 4
    assert res[4] == "und"  # coordinates hold no letters: no language, not a random one
    assert res[5] == "zh"  # the script decides: not overridden
    assert res[6] == "fr"  # long enough to identify
