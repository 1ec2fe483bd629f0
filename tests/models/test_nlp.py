from types import SimpleNamespace

import pytest

from vlitq._dependencies import MissingDependencyError
from vlitq.models import nlp


@pytest.mark.parametrize("text,expected", [
    ("图中的男人手里拿着什么？", True),
    ("这是一只cat吗", True),
    ("What is the man holding?", False),
    ("The sign says 北京 in large letters on the wall of the station", False),
    ("この写真には何が写っていますか", False),  # Japanese: kana
    ("이 사진에는 무엇이 있나요", False),
    ("", False),
    ("123 ?!", False),
])
def test_is_chinese(text, expected):
    assert nlp.is_chinese(text) is expected


def test_strip_placeholders():
    assert nlp.strip_placeholders("<image>\nWhat is <IMG> this?</image>") == "What is this?"


@pytest.mark.parametrize("text,lang", [
    ("What is the man holding in his hand?", "en"),
    ("图中的男人手里拿着什么东西？", "zh"),
    ("Que tient l'homme dans sa main ?", "fr"),
    ("Was hält der Mann in seiner Hand?", "de"),
    ("¿Qué sostiene el hombre en la mano?", "es"),
    ("男性は手に何を持っていますか？", "ja"),
    ("남자는 손에 무엇을 들고 있나요?", "ko"),
    ("Что мужчина держит в своей руке?", "ru"),
])
def test_detect_language(text, lang):
    found, p = nlp.detect_language(text)
    assert found == lang
    assert 0.0 < p <= 1.0


def test_detect_language_short_and_candidates():
    assert nlp.detect_language("A.") == ("und", 0.0)
    assert nlp.detect_language("<image>") == ("und", 0.0)
    lang, p = nlp.detect_language("Was ist das?", candidates=["en", "de"])
    assert lang == "de" and 0.5 <= p <= 1.0
    # a restriction that excludes the answer moves it to an allowed language
    assert nlp.detect_language("Das ist ein roter Bus.", candidates=["en", "fr"])[0] in ("en",
                                                                                      "fr")


# ---------------------------------------------------------------------------- SDP (HanLP)
# HanLP-shaped fixture (BH-SDP relations as HanLP's sdp task emits them): 1-based heads, 0 = root
ZH_TOKENS = ["穿", "红", "裙子", "的", "女人", "在", "桌子", "旁边", "看", "什么", "？"]
ZH_ARCS = [
    [(5, "rExp")],          # 穿 (wear) modifies 女人, reversed: 女人 is its experiencer
    [(3, "Feat")],          # 红 red → 裙子
    [(1, "Cont")],          # 裙子 dress: content of 穿
    [(1, "mAux")],          # 的: mark
    [(9, "Agt")],           # 女人 woman: agent of 看
    [(8, "mRelA")],         # 在: mark
    [(8, "Reft")],          # 桌子 table → 旁边
    [(9, "Loc")],           # 旁边 beside: location of 看
    [(0, "Root")],          # 看 look
    [(9, "Cont")],          # 什么 what
    [(9, "mPunc")],
]


def test_sdp_elements_counts_roles_not_marks():
    e = nlp.sdp_elements(ZH_TOKENS, ZH_ARCS)
    words = [i.split(":", 1)[1] for i in e.items]
    assert words == ["穿", "红", "裙子", "女人", "桌子", "旁边", "什么"]
    assert "的" not in words and "在" not in words and "？" not in words
    assert e.items[0] == "exp:穿"  # reversed relation named by its role
    assert e.predicates == 2  # 看 (root, heads Agt/Loc/Cont) and 穿 (heads Cont, rExp)


def test_sdp_elements_multiple_heads_count_once_and_events():
    toks = ["男孩", "跑", "跳"]
    arcs = [[(2, "Agt"), (3, "Agt")], [(0, "Root")], [(2, "eCoo")]]
    e = nlp.sdp_elements(toks, arcs)
    assert e.items == ["agt:男孩"]
    assert e.predicates == 2  # coordinated predicates
    with pytest.raises(ValueError, match="tokens"):
        nlp.sdp_elements(["a"], [])


def test_sdp_elements_english_dm_scheme():
    toks = ["the", "man", "holds", "a", "red", "cup"]
    arcs = [[], [(1, "BV"), (3, "ARG1")], [(0, "ROOT")], [], [(6, "ARG1")], [(3, "ARG2"),
                                                                            (4, "BV")]]
    e = nlp.sdp_elements(toks, arcs)
    assert e.items == ["arg1:man", "arg1:red", "arg2:cup"]
    assert e.predicates == 2  # holds, and red (heads an ARG1: DM treats adjectives as predicates)


def test_hanlp_output_shapes_agree():
    want = nlp.sdp_elements(ZH_TOKENS, ZH_ARCS)
    doc = {"tok/fine": ZH_TOKENS, "sdp": [[list(a) for a in w] for w in ZH_ARCS]}
    assert nlp.hanlp_output_to_elements(doc) == want
    batched = {"tok/fine": [ZH_TOKENS], "sdp": [ZH_ARCS]}
    assert nlp.hanlp_output_to_elements(batched) == want
    conll = [SimpleNamespace(form=t, deps=a) for t, a in zip(ZH_TOKENS, ZH_ARCS)]
    assert nlp.hanlp_output_to_elements(conll) == want
    conll2 = [SimpleNamespace(form=t, deps=None, head=[h for h, _ in a], deprel=[r for _, r in a])
              for t, a in zip(ZH_TOKENS, ZH_ARCS)]
    assert nlp.hanlp_output_to_elements(conll2) == want
    assert nlp.hanlp_output_to_elements(ZH_ARCS, tokens=ZH_TOKENS) == want
    with pytest.raises(ValueError):
        nlp.hanlp_output_to_elements(ZH_ARCS)


def test_load_hanlp_missing_names_the_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hanlp", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="vlitq\\[hanlp\\]"):
        nlp.load_hanlp("/nonexistent/hanlp-model")


# ---------------------------------------------------------------------------- spaCy
@pytest.fixture(scope="module")
def parse():
    model = nlp.load_spacy()
    return lambda text, **kw: nlp.spacy_elements(model(text), **kw)


def test_spacy_loaded_once():
    assert nlp.load_spacy() is nlp.load_spacy()
    with pytest.raises(OSError):
        nlp.load_spacy("surely_not_a_spacy_pipeline")


def test_spacy_elements_examples(parse):
    e = parse("What is the man holding?")
    assert sorted(e.items) == ["attr:what", "nsubj:man"] and e.predicates == 1
    e = parse("What color is the car?")  # copular clause: "is" is the predicate
    assert e.predicates == 1 and "attr:car" in e.items
    e = parse("Is the cat sleeping on the sofa or on the bed?")
    assert {"prep_on:sofa", "prep_on:bed", "nsubj:cat"} <= set(e.items)
    e = parse("Colour of the car?")  # no predicate: the root and what hangs on it
    assert e.predicates == 0 and e.items == ["root:colour", "prep_of:car"]
    assert parse("Is there a dog?").items == ["attr:dog"]  # existential "there" is no element


def test_spacy_elements_grow_with_objects_and_modifiers(parse):
    one = parse("What is the man holding?").count
    two = parse("What are the man and the woman holding?").count
    rel = parse("What is the man next to the red car holding in his left hand?").count
    assert one < two < rel
    assert parse("Describe the small red car on the left.", np_modifiers=False).count < \
        parse("Describe the small red car on the left.").count
    items = parse("Describe the small red car on the left.").items
    assert {"dobj:car", "amod:small", "amod:red", "prep_on:left"} <= set(items)
    assert not any(i.startswith(("det:", "punct:", "aux:")) for i in items)


def test_jieba_elements():
    e = nlp.jieba_elements("图中的男人手里拿着什么？")
    assert e.predicates == 1
    assert e.items == ["n:图", "n:男人", "s:手里", "r:什么"]
    more = nlp.jieba_elements("穿红裙子的女人和小孩在公交车站旁边做什么？")
    assert more.count > e.count and more.predicates >= 2
    assert nlp.jieba_elements("这张").count == 0  # demonstrative + classifier only
