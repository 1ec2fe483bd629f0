"""A synthetic dataset shaped like LLaVA-v1.5's ``llava_v1_5_mix665k.json``.

The real mix (Liu et al., 2023, "Improved Baselines with Visual Instruction Tuning", Table 7):
LLaVA-Instruct 158k (conversation 58k, detail 23k, complex reasoning 77k), ShareGPT 40k
(text-only), VQAv2 83k, GQA 72k, OKVQA 9k, OCR-VQA 80k, A-OKVQA 66k, TextCaps 22k, RefCOCO 48k,
VG 86k. The academic VQA sets are stored several questions of one image per record (up to ~10
turns), with the suffix "Answer the question using a single word or phrase."; their answers are
short and repeat a lot, while LLaVA-Instruct and ShareGPT answers are long and nearly all
distinct. Images: COCO images are shared by LLaVA-Instruct, VQAv2, OK/A-OKVQA and RefCOCO, so
many samples point at the same file.

:func:`make_llava665k` draws records with those shares, turn counts and answer shapes from a
seeded generator (vocabulary below, numbers and names mixed in so long texts are distinct), and
writes small real JPEG files for every referenced image. Nothing here is copied from the real
file; only its shape is imitated. ``stats()`` reports what was generated (distinct texts,
images, turns) so a benchmark can print it beside its figures.
"""
from __future__ import annotations

import json
import os
import random

# (name, share of samples, has image, image pool)
MIX = [
    ("conversation", 58 / 665, True, "coco"),
    ("detail", 23 / 665, True, "coco"),
    ("reasoning", 77 / 665, True, "coco"),
    ("sharegpt", 40 / 665, False, None),
    ("vqav2", 83 / 665, True, "coco"),
    ("gqa", 72 / 665, True, "gqa"),
    ("okvqa", 9 / 665, True, "coco"),
    ("ocrvqa", 80 / 665, True, "ocr"),
    ("aokvqa", 66 / 665, True, "coco"),
    ("textcaps", 22 / 665, True, "textvqa"),
    ("refcoco", 48 / 665, True, "coco"),
    ("vg", 87 / 665, True, "vg"),
]
# distinct images per sample of each pool, as in the real mix (COCO train2017 118k shared by
# ~364k samples; GQA 72k samples on ~72k images; OCR-VQA 80k on 80k; VG 86k on ~86k ...)
POOL_RATIO = {"coco": 118 / 364, "gqa": 0.8, "ocr": 1.0, "textvqa": 1.0, "vg": 0.9}

SHORT = "Answer the question using a single word or phrase."
OBJ = ["man", "woman", "dog", "cat", "child", "bus", "bicycle", "plate", "laptop", "horse",
       "train", "car", "umbrella", "table", "chair", "kite", "surfboard", "pizza", "clock",
       "giraffe", "elephant", "boat", "bench", "bird", "sign", "truck", "cake", "bed", "sofa",
       "skateboard", "tennis racket", "traffic light", "fire hydrant", "suitcase", "vase"]
ADJ = ["red", "blue", "green", "white", "black", "small", "large", "wooden", "old", "young",
       "striped", "shiny", "wet", "crowded", "empty", "bright", "dark", "yellow", "brown"]
PLACE = ["on a street", "in a kitchen", "on a beach", "in a park", "at a table", "in a field",
         "next to a building", "under a tree", "in a living room", "at an airport",
         "on a snowy slope", "near a river", "in a market", "on a train platform"]
VERB = ["standing", "sitting", "walking", "holding", "looking at", "riding", "eating",
        "playing with", "carrying", "waiting near", "leaning on", "pointing at"]
Q_TEMPL = ["What is the {a} {o} doing?", "Where is the {o}?", "What color is the {o}?",
           "How many {o}s are there?", "Is the {o} {v} something?", "What is next to the {o}?",
           "Why might the {o} be {p}?", "What is the {o} made of?", "Is this photo taken {p}?",
           "What is the {a} object on the left?", "Which side of the image is the {o} on?",
           "What time of day does it seem to be?", "Is the {o} {a}?",
           "What is the person {v}?", "What kind of {o} is shown?"]
DETAIL = ["Describe the image in detail.", "Give an elaborate explanation of the image.",
          "Write a detailed description of the given image.",
          "Explain the visual content of the image in great detail.",
          "What do you see happening in this image?",
          "Analyze the image in a comprehensive and detailed manner.",
          "Can you elaborate on the elements of the picture provided?",
          "Describe the following image.", "What is this photo about?",
          "Walk through the important details of the image.",
          "Share a comprehensive rundown of the presented image.",
          "Provide a detailed description of the given image.",
          "Clarify the contents of the displayed image with great detail.",
          "Characterize the image using a well-detailed description.",
          "Break down the elements of the image in a detailed manner."]
CAPTION = ["Provide a one-sentence caption for the provided image.",
           "Reference OCR token: {w}\nProvide a one-sentence caption for the provided image."]
REF = ["Please provide a short description for this region: [{b}]",
       "Please provide the bounding box coordinate of the region this sentence describes: {d}"]
SHORT_ANS = ["Yes", "No", "2", "3", "1", "4", "red", "white", "black", "blue", "green", "left",
             "right", "wood", "metal", "day", "night", "man", "woman", "dog", "cat", "table",
             "tennis", "baseball", "pizza", "kitchen", "street", "grass", "water", "sitting",
             "standing", "eating", "0", "5", "brown", "yellow", "plastic", "glass"]
WORDS = ("the a of and to in is it that with as for on are this be by at from an which or "
         "scene image shows appears likely area background foreground group various several "
         "people person object objects near close together around while also some there two "
         "three could would might suggests indicates setting activity moment atmosphere light "
         "busy calm outdoor indoor daytime evening surface colorful detailed visible overall "
         "interesting possibly because however therefore enjoying preparing watching").split()
NAMES = ["Anna", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goro", "Hana", "Ivan", "Jia", "Kofi",
         "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
BOOK_Q = ["Who wrote this book?", "What is the title of this book?",
          "What type of book is this?", "Is this a religious book?",
          "Is this book related to {o}s?", "What is the genre of this book?"]


def _sentence(rng: random.Random, n_words: int) -> str:
    o, a, p, v = rng.choice(OBJ), rng.choice(ADJ), rng.choice(PLACE), rng.choice(VERB)
    head = f"The {a} {o} is {v} a {rng.choice(ADJ)} {rng.choice(OBJ)} {p}"
    tail = " ".join(rng.choice(WORDS) for _ in range(max(0, n_words - 10)))
    return f"{head}, {tail}." if tail else head + "."


def _long(rng: random.Random, lo: int, hi: int) -> str:
    target = rng.randint(lo, hi)
    out, n = [], 0
    while n < target:
        k = rng.randint(8, 22)
        out.append(_sentence(rng, k))
        n += k
    if rng.random() < 0.3:
        out.append(f"{rng.choice(NAMES)} counted {rng.randint(2, 40)} of them.")
    return " ".join(out)


def _q(rng: random.Random) -> str:
    return rng.choice(Q_TEMPL).format(o=rng.choice(OBJ), a=rng.choice(ADJ), p=rng.choice(PLACE),
                                      v=rng.choice(VERB))


def _turns(kind: str, rng: random.Random) -> list[tuple[str, str]]:
    if kind == "conversation":
        return [(_q(rng), _long(rng, 15, 90)) for _ in range(rng.choice([1, 2, 2, 3, 3, 4, 5, 6, 8]))]
    if kind == "detail":
        return [(rng.choice(DETAIL), _long(rng, 60, 160))]
    if kind == "reasoning":
        return [(_q(rng) + " " + _sentence(rng, 12).replace(".", "?"), _long(rng, 40, 140))]
    if kind == "sharegpt":
        return [(_long(rng, 8, 60), _long(rng, 30, 250))
                for _ in range(rng.choice([1, 1, 2, 3, 4, 5]))]
    if kind in ("vqav2", "gqa", "okvqa"):
        n = rng.choice([1, 1, 2, 3, 3, 4, 5, 6, 8, 10]) if kind != "okvqa" else 1
        ans = (lambda: rng.choice(SHORT_ANS)) if kind != "okvqa" else (
            lambda: rng.choice(SHORT_ANS + OBJ + ADJ))
        return [(_q(rng) + "\n" + SHORT, ans()) for _ in range(n)]
    if kind == "ocrvqa":
        title = f"The {rng.choice(ADJ).title()} {rng.choice(OBJ).title()} of {rng.choice(NAMES)}"
        author = f"{rng.choice(NAMES)} {rng.choice(NAMES)}son"
        qs = rng.sample(BOOK_Q, rng.randint(3, 6))
        out = []
        for q in qs:
            q = q.format(o=rng.choice(OBJ))
            a = (author if "wrote" in q else title if "title" in q
                 else rng.choice(["Yes", "No"]) if q.startswith("Is") else
                 rng.choice(["Travel", "Cookbooks, Food & Wine", "Children's Books", "History",
                             "Science & Math", "Romance", "Reference", "Biographies & Memoirs"]))
            out.append((q, a))
        return out
    if kind == "aokvqa":
        opts = rng.sample(SHORT_ANS + OBJ, 4)
        letters = "ABCD"
        q = _q(rng) + "\n" + "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(opts))
        return [(q + "\nAnswer with the option's letter from the given choices directly.",
                 rng.choice(letters))]
    if kind == "textcaps":
        t = rng.choice(CAPTION).format(w=" ".join(rng.choice(NAMES).lower() for _ in range(3)))
        return [(t, _sentence(rng, rng.randint(8, 16)))]
    # refcoco / vg: region descriptions and boxes, several per image
    out = []
    for _ in range(rng.choice([1, 2, 3, 4, 5, 6, 8, 10])):
        b = ", ".join(f"{rng.random():.2f}" for _ in range(4))
        if rng.random() < 0.5:
            out.append((REF[0].format(b=b), f"{rng.choice(ADJ)} {rng.choice(OBJ)} {rng.choice(PLACE)}"))
        else:
            out.append((REF[1].format(d=f"{rng.choice(ADJ)} {rng.choice(OBJ)}"), f"[{b}]"))
    return out


def _write_jpeg(path: str, seed: int) -> None:
    import numpy as np
    from PIL import Image

    r = np.random.default_rng(seed)
    small = r.integers(0, 255, (6, 8, 3), dtype=np.uint8)  # smooth after the resize: small JPEG
    Image.fromarray(small).resize((160, 120), Image.BILINEAR).save(path, quality=75)


def make_llava665k(path: str, n: int, *, seed: int = 0, image_dir: str | None = None) -> dict:
    """Write ``n`` LLaVA-665K-shaped records to ``path`` (one JSON list) and the JPEGs they
    reference under ``image_dir`` (default ``<dir of path>/images``; paths in the records are
    relative to the file's folder, as in LLaVA). Returns generation statistics."""
    rng = random.Random(seed)
    root = os.path.dirname(os.path.abspath(path))
    image_dir = image_dir or os.path.join(root, "images")
    os.makedirs(image_dir, exist_ok=True)
    rel = os.path.relpath(image_dir, root)
    kinds = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    info = {m[0]: m for m in MIX}
    # pool sizes from the expected number of samples of each pool
    pool_n: dict[str, int] = {}
    for name, share, has_img, pool in MIX:
        if pool:
            pool_n[pool] = pool_n.get(pool, 0) + share * n
    pool_size = {p: max(1, int(v * POOL_RATIO[p])) for p, v in pool_n.items()}
    offsets, off = {}, 0
    for p in sorted(pool_size):
        offsets[p] = off
        off += pool_size[p]
    used: set[int] = set()
    recs = []
    n_turns = 0
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        _, _, has_img, pool = info[kind]
        turns = _turns(kind, rng)
        n_turns += len(turns)
        conv = []
        for t, (q, a) in enumerate(turns):
            if t == 0 and has_img:
                q = "<image>\n" + q if rng.random() < 0.5 else q + "\n<image>"
            conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        rec = {"id": f"{kind}-{i}", "conversations": conv}
        if has_img:
            k = offsets[pool] + rng.randrange(pool_size[pool])
            used.add(k)
            rec["image"] = f"{rel}/{pool}/{k:07d}.jpg"
        recs.append(rec)
    for p in pool_size:
        os.makedirs(os.path.join(image_dir, p), exist_ok=True)
    inv = {offsets[p]: p for p in offsets}
    starts = sorted(offsets.values())
    for k in sorted(used):
        p = inv[max(s for s in starts if s <= k)]
        f = os.path.join(image_dir, p, f"{k:07d}.jpg")
        if not os.path.exists(f):
            _write_jpeg(f, seed * 1_000_003 + k)
    with open(path, "w") as fh:
        json.dump(recs, fh)
    instr = {c["value"] for r in recs for c in r["conversations"] if c["from"] == "human"}
    resp = [c["value"] for r in recs for c in r["conversations"] if c["from"] == "gpt"]
    return {"samples": n, "turns": n_turns, "images_on_disk": len(used),
            "text_only": sum(1 for r in recs if "image" not in r),
            "distinct_instructions": len(instr), "responses": len(resp),
            "distinct_responses": len(set(resp)),
            "json_mib": round(os.path.getsize(path) / 2**20, 1)}


if __name__ == "__main__":
    import sys
    import tempfile

    d = tempfile.mkdtemp()
    print(make_llava665k(os.path.join(d, "mix.json"), int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
