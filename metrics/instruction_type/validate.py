"""Rule-based instruction types against hand labels (English and Chinese).

48 instruction-response pairs written in the styles of LLaVA, MMInstruct, M3IT and VQA data,
labelled by hand with the six types. Prints accuracy, per-type recall and the confusion matrix;
asserts accuracy >= 0.85 and that every type is recognised at least once.
"""
from collections import Counter

from vlitq.scorers.instruction_type import TYPES, classify

LONG = ("The image shows a busy street with several people walking on the pavement, a red bus "
        "waiting at the stop and tall buildings on both sides under a cloudy sky.")
CASES = [
    # judgement
    ("Is the cat sleeping on the sofa?", "Yes, it is.", "judgement"),
    ("<image>\nAre there any people in the picture?", "No.", "judgement"),
    ("Does the man wear glasses? Answer yes or no.", "yes", "judgement"),
    ("Can you see a traffic light in this image?", "No, there is no traffic light.", "judgement"),
    ("Is the statement true or false: the sky is cloudy.", "True", "judgement"),
    ("Has the cake been cut already?", "Yes, one slice is missing.", "judgement"),
    ("图中的猫是黑色的吗？", "是的。", "judgement"),
    ("图片里是否有汽车？", "没有。", "judgement"),
    # multiple choice
    ("What is the man holding?\nA. an umbrella\nB. a bag\nC. a phone\nD. a cup", "A",
     "multiple_choice"),
    ("Which season is shown? Options: (A) spring (B) summer (C) autumn (D) winter", "(D)",
     "multiple_choice"),
    ("Question: What colour is the bus?\nChoices:\nA) red\nB) blue\nAnswer with the letter.",
     "A) red", "multiple_choice"),
    ("Which of the following best describes the scene? A: a beach B: a forest C: a city",
     "C", "multiple_choice"),
    ("Choose the correct answer: how many dogs are there? A. one B. two C. three",
     "The answer is B.", "multiple_choice"),
    ("图中的人在做什么？\nA. 跑步\nB. 游泳\nC. 读书\nD. 睡觉", "C", "multiple_choice"),
    ("下列哪个选项描述了图中的天气？A、晴天 B、雨天 C、雪天", "B", "multiple_choice"),
    # short VQA
    ("What color is the car?", "Red.", "short_vqa"),
    ("How many people are in the photo?", "Three.", "short_vqa"),
    ("What is written on the sign?", "Stop", "short_vqa"),
    ("Where is the dog lying?", "On the grass next to the bench.", "short_vqa"),
    ("Which animal is bigger, the cat or the dog?", "The dog.", "short_vqa"),
    ("Name the sport being played.", "Tennis", "short_vqa"),
    ("Is it a cat or a dog?", "A cat.", "short_vqa"),
    ("这辆车是什么颜色的？", "红色。", "short_vqa"),
    ("图中有几个人？", "三个人。", "short_vqa"),
    # long VQA
    ("Why might the man be holding an umbrella?",
     ("He is probably holding the umbrella because the sky is dark and it looks like it is "
     "about to rain, so he wants to stay dry while walking."), "long_vqa"),
    ("What safety precautions should the cyclist take on this road?",
     ("The cyclist should wear a helmet, use the bike lane, signal before turning and keep a "
     "safe distance from the parked cars whose doors might open."), "long_vqa"),
    ("Explain what the people are doing and why.",
     ("The people are gathering around the stage because a concert is about to start; several "
     "of them are holding banners and taking photos of the band."), "long_vqa"),
    ("What can you infer about the weather from the image?", LONG, "long_vqa"),
    ("How could the cook make this dish healthier?",
     ("The cook could use less oil, add more vegetables such as broccoli and peppers, and "
     "replace the white rice with brown rice or quinoa."), "long_vqa"),
    ("为什么这个男人在晴天拿着雨伞？",
     "他可能是为了遮挡强烈的阳光，也可能是因为天气预报说下午会下雨，所以提前做好了准备。",
     "long_vqa"),
    ("<image>\nWhat is unusual about this image?",
     ("It is unusual to see a man ironing clothes on an ironing board attached to the roof of "
     "a moving taxi in the middle of traffic."), "long_vqa"),
    # caption / description
    ("Describe the image in detail.", LONG, "caption"),
    ("<image>\nWrite a short caption for this photo.", "A red bus on a busy street.", "caption"),
    ("Provide a brief description of the given image.", "A cat sleeping on a sofa.", "caption"),
    ("What is happening in this picture?", LONG, "caption"),
    ("Give a detailed overview of the picture.", LONG, "caption"),
    ("What do you see?", LONG, "caption"),
    ("请详细描述这张图片。", "图片中是一条繁忙的街道，行人很多，一辆红色公交车停在车站。",
     "caption"),
    ("为这张图片写一个标题。", "繁忙的街道", "caption"),
    ("What is in the image?", LONG, "caption"),
    # other
    ("Write a poem inspired by this image.",
     "Red bus waiting, people pass, clouds above the city glass.", "other"),
    ("Translate the text on the sign into French.", "Arrêt", "other"),
    ("Compose a short story about the dog in the picture.",
     "Once upon a time a little dog waited every day at the park gate for his friend.", "other"),
    ("Create an advertisement slogan for the product shown.", "Fresh every morning!", "other"),
    ("根据这张图片写一首诗。", "红车静候，行人匆匆。", "other"),
    ("Generate three hashtags for this photo.", "#city #bus #rush", "other"),
    ("Rewrite the following sentence to match the image: a dog runs.", "A cat sleeps.",
     "other"),
    ("Imagine you are the cat in the picture; tell us about your day.",
     "I woke up on my favourite sofa, stretched, and waited for my human to feed me.", "other"),
]


def main():
    pred = [classify(i, r)[0] for i, r, _ in CASES]
    gold = [g for _, _, g in CASES]
    acc = sum(p == g for p, g in zip(pred, gold)) / len(gold)
    print(f"instruction_type: n={len(gold)} accuracy={acc:.3f}")
    conf = Counter(zip(gold, pred))
    short = {t: t[:8] for t in TYPES}
    print("gold \\ predicted " + " ".join(f"{short[t]:>8}" for t in TYPES) + "  recall")
    for g in TYPES:
        row = [conf[(g, p)] for p in TYPES]
        n = sum(row)
        print(f"{g:<17}" + " ".join(f"{v:>8}" for v in row) + f"  {row[TYPES.index(g)] / n:.2f}")
    for (i, r, g), p in zip(CASES, pred):
        if p != g:
            print(f"  miss: {i[:60]!r} gold={g} predicted={p} rule={classify(i, r)[1]}")
    assert acc >= 0.85, acc
    assert all(conf[(t, t)] > 0 for t in TYPES)
    external()
    acc_llava, leaks = llava_templates()
    assert acc_llava >= 0.9, acc_llava
    assert leaks == 0, leaks
    print("instruction_type: claims hold")


# The description prompts LLaVA used to build its detailed-description and brief-caption data
# (Liu et al. 2023, appendix), paired with a long and a short description. The rules were
# revised after seeing these, so this is a design set, not a held-out one.
LLAVA_DESCRIBE = [
    "Describe the following image in detail", "Provide a detailed description of the given image",
    "Give an elaborate explanation of the image you see",
    "Share a comprehensive rundown of the presented image",
    "Offer a thorough analysis of the image", "Explain the various aspects of the image before you",
    "Clarify the contents of the displayed image with great detail",
    "Characterize the image using a well-detailed description",
    "Break down the elements of the image in a detailed manner",
    "Walk through the important details of the image",
    "Portray the image with a rich, descriptive narrative",
    "Narrate the contents of the image with precision",
    "Analyze the image in a comprehensive and detailed manner",
    "Illustrate the image through a descriptive explanation",
    "Examine the image closely and share its details",
    "Write an exhaustive depiction of the given image",
    "Describe the image concisely.", "Provide a brief description of the given image.",
    "Offer a succinct explanation of the picture presented.",
    "Summarize the visual content of the image.",
    "Give a short and clear explanation of the subsequent image.",
    "Share a concise interpretation of the image provided.",
    "Present a compact description of the photo's key features.",
    "Relay a brief, clear account of the picture shown.",
    "Render a clear and concise summary of the photo.",
    "Write a terse but informative summary of the picture.",
    "Create a compact narrative representing the image presented.",
    "What do you see happening in this image?",
    "Can you elaborate on the elements of the picture provided?",
    "What do you think is going on in this snapshot?", "What's happening in the scene?",
]
# Questions about a detail, answered at length: must stay long VQA although they mention the
# image and use the same verbs
NOT_CAPTION = [
    "Explain why the man in the picture is laughing.",
    "Analyze the image and tell me why the man is laughing.",
    "Explain the role of the dog in this image.",
    "Can you explain what the woman on the left is holding?",
    "Describe how the cyclist should cross the road safely.",
]


def llava_templates():
    cap = sum(classify(t, LONG)[0] == "caption" for t in LLAVA_DESCRIBE)
    cap_short = sum(classify(t, "A red bus on a busy street.")[0] == "caption"
                    for t in LLAVA_DESCRIBE)
    print(f"LLaVA description prompts (n={len(LLAVA_DESCRIBE)}): caption "
          f"{cap}/{len(LLAVA_DESCRIBE)} with a long answer, {cap_short}/{len(LLAVA_DESCRIBE)} "
          f"with a short one")
    wrong = [(t, classify(t, LONG)) for t in NOT_CAPTION if classify(t, LONG)[0] == "caption"]
    print(f"detail questions kept out of caption: {len(NOT_CAPTION) - len(wrong)}/"
          f"{len(NOT_CAPTION)} {wrong or ''}")
    return cap / len(LLAVA_DESCRIBE), len(wrong)


def external():
    """Held-out check on data written by others: easy-vqa's test questions, whose answers say
    the type (yes/no → judgement, a word → short VQA)."""
    try:
        import easy_vqa
    except ImportError:
        print("easy-vqa not installed: external check skipped")
        return
    qs, ans, _ = easy_vqa.get_test_questions()
    gold = ["judgement" if a in ("yes", "no") else "short_vqa" for a in ans]
    with_resp = sum(classify(q, a)[0] == g for q, a, g in zip(qs, ans, gold)) / len(qs)
    without = sum(classify(q, None)[0] == g for q, g in zip(qs, gold)) / len(qs)
    print(f"easy-vqa test questions (n={len(qs)}): accuracy {with_resp:.4f} with the answer, "
          f"{without:.4f} from the question alone")
    assert with_resp >= 0.95, with_resp


if __name__ == "__main__":
    main()
