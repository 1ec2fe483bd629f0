"""The one text pipeline (vlitq.text) and the promise that every component reads the same
cleaned text of a turn."""
import numpy as np
import pytest

import vlitq
from vlitq import registry, text
from vlitq.data.dataset import Dataset, make_sample

# ----------------------------------------------------------------------------- placeholders
CONVENTIONS = [
    ("<image>\nWhat is it?", "What is it?"),                               # LLaVA
    ("What is it?\n<image>", "What is it?"),                               # LLaVA, image last
    ("<Image>What is it?</Image>", "What is it?"),
    ("<ImageHere> What is it?", "What is it?"),                            # InternLM-XComposer
    ("<Img><ImageHere></Img> What is it?", "What is it?"),                 # MiniGPT-4
    ("Picture 1: <img>coco/000000123.jpg</img>\nWhat is it?", "What is it?"),  # Qwen-VL
    ("<img>a.jpg</img><img>b.jpg</img>What is it?", "What is it?"),
    ("<|image|>What is it?", "What is it?"),                               # mPLUG-Owl
    ("<|image_1|>\nWhat is it?", "What is it?"),                           # Phi-3-vision
    ("<|vision_start|><|image_pad|><|vision_end|>What is it?", "What is it?"),  # Qwen2-VL
    ("<image_1> and <image 2>: What is it?", "and : What is it?"),        # numbered
    ("[IMG][IMG_BREAK][IMG_END]What is it?", "What is it?"),               # Pixtral
    ("[image] What is it?", "What is it?"),
    ("<img> What is it?", "What is it?"),                                  # InternVL marker
    ("<IMG_CONTEXT><IMG_CONTEXT> What is it?", "What is it?"),
    ("<im_start><im_patch><im_end>What is it?", "What is it?"),            # LLaVA v0
    ("<video>\nWhat happens?", "What happens?"),
    ("<image_placeholder>What is it?", "What is it?"),
    ("  What   is\tit? \n\n\n", "What is it?"),
]


@pytest.mark.parametrize("raw, want", CONVENTIONS)
def test_clean_strips_every_placeholder_convention(raw, want):
    assert text.clean(raw) == want


def test_clean_keeps_text_that_only_looks_like_markup():
    keep = "Is 3 < 4 and [Options]: yes||||no? See <b>bold</b> and <img src='x.png'>."
    assert text.clean(keep) == keep
    assert text.clean("Line one\nline two") == "Line one\nline two"


def test_clean_is_idempotent_and_total():
    for raw, _ in CONVENTIONS:
        once = text.clean(raw)
        assert text.clean(once) == once
    assert text.clean(None) == "" and text.clean(3) == "3"
    assert text.instruction(None) == "" and text.response({"response": None}) == ""


def test_cap_text_and_windows():
    long = "word " * 1000
    capped, cut = text.cap_text(long, 100)
    assert cut and len(capped) <= 100 and not capped.endswith(" ")
    assert text.cap_text("short", 100) == ("short", False)
    assert text.cap_text(long, None) == (long, False)
    wins = text.split_windows(long, 10)
    assert len(wins) == text.n_windows(long, 10)
    assert len(text.split_windows(long, 10, max_windows=3)) == 3


def test_texts_by_task_skips_invalid_and_empty():
    turns = [[{"instruction": "<image>\nA?", "response": "a"}, {"instruction": "", "response": ""}],
             [{"instruction": "B?", "response": "b"}], [{"instruction": "C?", "response": "c"}]]
    got = text.texts_by_task(turns, ["x", "y", "x"], [True, False, True], "response")
    assert got == {"x": ["a", "c"]}


def test_stop_words_do_not_import_spacy():
    import subprocess
    import sys

    code = ("import sys; from vlitq.text import stop_words; s = stop_words(); "
            "assert 'the' in s and '的' in s; print('spacy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_script_and_tokens():
    assert text.is_chinese("图中的男人手里拿着什么？") and not text.is_chinese("A man.")
    assert text.has_cjk("猫 cat")
    assert text.words("猫在桌子上") and all(text.has_cjk(w) for w in text.words("猫在桌子上"))
    assert text.content_words("Describe the dogs", stop={"the"}) == ["describe", "dogs"]


# ----------------------------------------------------------------------------- one text everywhere
DIRTY = [
    {"instruction": "<ImageHere>\n<image>\nPicture 1: <img>coco/1.jpg</img>\n"
                    "What colour is   the bus?\nAnswer in a sentence.",
     "response": "The bus is red, and it stands by a tree.<|image|>"},
    {"instruction": "[IMG] Is there a dog next to the bus?", "response": "<image>\nNo."},
]
CLEAN = [{"instruction": text.clean(t["instruction"]), "response": text.clean(t["response"])}
         for t in DIRTY]


def test_dirty_and_clean_turns_are_the_same_text():
    assert CLEAN[0]["instruction"] == "What colour is the bus?\nAnswer in a sentence."
    for d, c in zip(DIRTY, CLEAN):
        for mode in text.TEXT_MODES:
            assert text.turn_text(d, mode) == text.turn_text(c, mode)


def _dataset(turns):
    recs = [make_sample("s0", [(t["instruction"], t["response"]) for t in turns], [], task="vqa"),
            make_sample("s1", [(turns[1]["instruction"], turns[1]["response"])], [],
                        task="vqa")]
    return Dataset.from_records(recs)


# Text consumers whose models are too heavy to run twice here: their text access path is
# checked instead (the function that builds what the model sees).
def _matching_path(turn):
    from vlitq.scorers.matching import TEXT_MODES, turn_text

    return [turn_text(turn, m) for m in TEXT_MODES]


def _judge_path(turn):
    from vlitq.scorers import correctness, llm_complexity
    from vlitq.scorers._judging import clip_text

    ins, res = clip_text(turn["instruction"], 2000), clip_text(turn["response"], 2000)
    return [correctness.build_prompt(ins, res), llm_complexity.build_messages(ins, res)]


ACCESS_PATHS = {"matching": _matching_path, "correctness": _judge_path,
                "llm_complexity": _judge_path}


def _text_scorers():
    registry.discover()
    return [n for n in registry.names("scorer") if "turns" in registry.get(n).inputs]


@pytest.mark.parametrize("name", _text_scorers())
def test_every_scorer_sees_the_same_cleaned_text(name):
    if name in ACCESS_PATHS:
        for d, c in zip(DIRTY, CLEAN):
            assert ACCESS_PATHS[name](d) == ACCESS_PATHS[name](c)
        return
    dirty, clean = _dataset(DIRTY).to_batch(), _dataset(CLEAN).to_batch()
    a = registry.create(name)(dirty)
    b = registry.create(name)(clean)
    assert a == b, f"{name} reads placeholders or raw whitespace"


def test_taggpt_labeller_reads_the_cleaned_instruction():
    from vlitq.indicators._task_labellers import instruction_text

    for d, c in zip(DIRTY, CLEAN):
        assert instruction_text([d]) == instruction_text([c]) == " ".join(
            text.instruction(c).split())


class _RecordingEncoder:
    def __init__(self):
        self.seen = []

    def encode(self, texts):
        self.seen.extend(texts)
        rng = np.random.default_rng(0)
        v = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["duplicates", "instruction_diversity", "languages",
                                  "response_diversity"])
def test_every_text_indicator_sees_the_same_cleaned_text(name, monkeypatch):
    enc = _RecordingEncoder()
    if name == "response_diversity":
        from vlitq.indicators.response_diversity import ResponseDiversity

        monkeypatch.setattr(ResponseDiversity, "_encoder", lambda self, cache: enc)
    values = []
    for turns in (DIRTY, CLEAN):
        r = vlitq.score(_dataset(turns), [registry.create(name)], cache=False, progress=False)
        values.append((r.indicator(name), r.details(name)))
    assert values[0] == values[1]
    if name == "response_diversity":
        want = {t["response"] for t in CLEAN}
        assert set(enc.seen) == want


def test_duplicates_sees_through_placeholders():
    recs = [make_sample("a", [("<image>\nWhat is it?", "A cat.")], []),
            make_sample("b", [("What is it?\n<ImageHere>", "A cat.")], [])]
    r = vlitq.score(Dataset.from_records(recs), [registry.create("duplicates")], cache=False,
                    progress=False)
    assert r.indicator("duplicates") == 100.0


def test_sentence_encoder_caps_windows():
    from vlitq.models.text import SentenceEncoder

    class Fake(SentenceEncoder):
        def _load(self):
            self._backend, self.max_words = "fake", 8

        def _encode_raw(self, texts):
            self.seen = list(texts)
            return np.ones((len(texts), 4), np.float32)

    enc = Fake("fake", max_windows=5)
    long = " ".join(f"w{i}" for i in range(1000))
    emb = enc.encode([long, "a short one"])
    assert emb.shape == (2, 4) and len(enc.seen) == 5 + 1
    assert enc.windows_capped == 1 and enc.windows_split == 1
    assert enc._capped(long) and not enc._capped("a short one")


def test_han_share_equals_its_definition_on_mixed_scripts():
    """The one-scan han_share equals "Han letters / letters", also with digits, punctuation,
    kana, Hangul and unassigned code points inside the Han blocks (not letters)."""
    import random
    import re

    from vlitq.text import han_share, is_chinese

    han = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")
    letter = re.compile(r"[^\W\d_]")

    def reference(t):
        found = letter.findall(t)
        return sum(1 for ch in found if han.match(ch)) / len(found) if found else 0.0

    pool = list("abcXYZ 12.,!?éß") + ["猫", "图", "片", "\u9fff", "\ufa6e", "\U00020001",
                                        "の", "カ", "한", "\u3400", "_", "\n", "٣"]
    rng = random.Random(0)
    texts = ["", "猫", "1 2 3", "\u9fff", "\ufa6e!", "Describe the image."]
    texts += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    for t in texts:
        assert han_share(t) == reference(t), repr(t)
        ref_zh = bool(t) and not re.search(r"[\u3040-\u30ff\u31f0-\u31ff]", t) and not \
            re.search(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]", t) and reference(t) >= 0.3
        assert is_chinese(t) == ref_zh, repr(t)
