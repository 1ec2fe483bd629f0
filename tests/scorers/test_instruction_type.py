import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.scorers.instruction_type import TYPES, classify, length_words

LONG = ("The man is probably holding the umbrella because dark clouds are gathering and it "
        "looks as if it will rain soon.")


@pytest.mark.parametrize("ins,res,want", [
    ("Is the cat on the mat?", "Yes.", "judgement"),
    ("Does it rain? Answer yes or no.", None, "judgement"),
    ("图中的猫是黑色的吗？", "是的。", "judgement"),
    ("图片里是否有汽车？", "没有。", "judgement"),
    ("Is it a cat or a dog?", "A cat.", "short_vqa"),  # alternative question, not yes/no
    ("What is he holding?\nA. a cup\nB. a pen", "B", "multiple_choice"),
    ("Which season? (A) spring (B) winter", "(B)", "multiple_choice"),
    ("Which of the following is shown? Answer with the letter.", "C", "multiple_choice"),
    ("图中的人在做什么？\nA. 跑步\nB. 游泳", "B", "multiple_choice"),
    ("What colour is the bus?", "Red.", "short_vqa"),
    ("这辆车是什么颜色的？", "红色。", "short_vqa"),
    ("Why is the man holding an umbrella?", LONG, "long_vqa"),
    ("Describe the image in detail.", LONG, "caption"),
    ("Write a short caption for this photo.", "A bus.", "caption"),
    ("请详细描述这张图片。", "一辆红色公交车。", "caption"),
    ("What is in the image?", LONG, "caption"),
    ("What is in the image?", "A cat.", "short_vqa"),
    ("Write a poem about this picture.", "Clouds drift by.", "other"),
    ("Translate the sign into French.", "Arrêt", "other"),
    ("The weather today.", "Sunny", "other"),
    # LLaVA's description prompts, and detail questions that must not become captions
    ("Share a comprehensive rundown of the presented image", LONG, "caption"),
    ("Can you elaborate on the elements of the picture provided?", LONG, "caption"),
    ("What's happening in the scene?", LONG, "caption"),
    ("Explain the role of the dog in this image.", LONG, "long_vqa"),
    ("Describe how the cyclist should cross the road safely.", LONG, "long_vqa"),
    ("Could you tell me what colour the bus is?", "Red.", "short_vqa"),
    ("Can you see a traffic light?", "No.", "judgement"),
])
def test_classify(ins, res, want):
    got, rule = classify(ins, res)
    assert got == want, rule
    assert got in TYPES and rule


def test_length_threshold():
    ans = "one two three four five six seven"
    assert classify("What is it?", ans)[0] == "short_vqa"
    assert classify("What is it?", ans, short_max_words=5)[0] == "long_vqa"
    assert length_words("a b c") == 3.0


def test_scorer_turns_and_errors():
    recs = [
        make_sample("mt", [("Is it red?", "No."), ("What colour is it?", "Blue."),
                           ("What shape is it?", "Round.")]),
        make_sample("tie", [("Is it red?", "No."), ("What colour is it?", "Blue.")]),
        make_sample("empty", [(" ", "x")]),
    ]
    ds = Dataset.from_records(recs)
    s = vlitq.score(ds, ["instruction_type"], cache=False, progress=False).samples
    assert s["instruction_type"].to_list() == ["short_vqa", "judgement", None]
    assert s["instruction_type_turns"][0].to_list() == ["judgement", "short_vqa", "short_vqa"]
    assert s["instruction_type_error"].to_list()[2] == "empty instruction in turn 1"
    s = vlitq.score(ds, ["instruction_type"], config={"instruction_type": {"turns": "first"}},
                    cache=False, progress=False).samples
    assert s["instruction_type"].to_list()[:2] == ["judgement", "judgement"]
    r = vlitq.score(ds, ["instruction_type"], cache=False, progress=False)
    assert r.indicator("instruction_type") is None  # categorical: no mean


# MultiInstruct-shaped prompts (hand-written in the shape of VT-NLP/MultiInstruct train.jsonl:
# task preamble, question, then "\n\n[Options]: a||||b"), and the other option conventions
OPTION_PROMPTS = [
    ("This task asks you to identify if an object appears in the image. Are there any "
     "umbrellas in the photo?\n\n[Options]: no||||yes", "no"),
    ("Can the image support \"The cat is under the table.\"?\n\n[Options]: no||||yes||||not sure",
     "yes"),
    ("Answer the question based on the image. Question: What is the boy holding?\n\n"
     "[Options]: kite||||ball||||bat||||racket", "kite"),
    ("Given the region 12 40 200 310, select an overlapping region from options.\n\n"
     "[Options]: 0 150 190 204||||150 50 199 95||||80 180 499 372", "80 180 499 372"),
    ("Tell me what is wrong with the image.\n\n[Options]: no flaws||||blur||||too dark", "blur"),
    ("What sport is shown? Options: tennis, baseball, soccer", "tennis"),
    ("What sport is shown?\nOptions:\nsurfing\nskiing\nsoccer", "skiing"),
    ("Which animal is this? Choices: cat / dog / horse", "dog"),
    ("What colour is the bus? (A) red (B) blue (C) green", "A"),
    ("What colour is the bus?\nA. red\nB. blue", "B"),
    ("这是什么动物？选项：猫、狗、马", "猫"),
    ("Pick the caption that fits: a dog on a sofa||||a cat on a bed||||a bus on a road",
     "a cat on a bed"),
]


@pytest.mark.parametrize("ins, res", OPTION_PROMPTS)
def test_option_conventions_are_multiple_choice(ins, res):
    assert classify(ins, res)[0] == "multiple_choice", classify(ins, res)


@pytest.mark.parametrize("ins", [
    "What is the relationship between the man and the dog?",
    "Describe the image, or tell me a story about it.",
    "Is the bathroom cluttered?",
    "Look at image and tell me what is the content.",
    "Write a sentence to describe the object in the given region.\n\nRegion: 0.0 45.9 238.9 454.5",
])
def test_no_options_no_multiple_choice(ins):
    assert classify(ins, "yes")[0] != "multiple_choice"


def test_real_multiinstruct_options_are_multiple_choice(real_corpus):
    """On the real MultiInstruct sample (VT-NLP/MultiInstruct train/test.jsonl): every prompt
    with "[Options]" is multiple choice, and nothing else is; its all-English samples hold one
    language."""
    import json

    folder = real_corpus / "multiinstruct"
    if not folder.is_dir():
        pytest.skip("the real corpus has no multiinstruct/ folder")
    recs = [json.loads(line) for f in ("train.jsonl", "test.jsonl") if (folder / f).exists()
            for line in open(folder / f, encoding="utf-8") if line.strip()]
    with_options = [r for r in recs if "[Options]" in r["prompt"]]
    assert with_options
    assert all(classify(r["prompt"], r["target"])[0] == "multiple_choice" for r in with_options)
    assert not any(classify(r["prompt"], r["target"])[0] == "multiple_choice"
                   for r in recs if "||||" not in r["prompt"] and "[Options]" not in r["prompt"])
    ds = Dataset.from_records([make_sample(f"r{i}", [(r["prompt"], r["target"])], [])
                               for i, r in enumerate(recs)])
    rep = vlitq.score(ds, ["language", "languages"], cache=False, progress=False)
    assert rep.indicator("languages") == 1.0
    assert set(rep.samples["language_response"].drop_nulls().to_list()) <= {"en", "und"}
