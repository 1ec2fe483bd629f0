"""Images, VLIT datasets and the multiple-choice benchmark of the miniature §5 experiment.

Everything is built from data installed with the project: the easy-vqa shape images (each one
coloured circle / rectangle / triangle, its colour and shape read from easy-vqa's own questions
and answers), placed in the quadrants of a 64x64 canvas so that count and position questions
have known answers, easy-vqa's real yes/no questions, and the real photos shipped with
scikit-image and scikit-learn. Training sets use easy-vqa's train images and one half of each
photo; the benchmark uses easy-vqa's test images and the other half.

Every dataset has the same size and differs from ``reference`` along one principle of the
paper (see :data:`VARIANTS`).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

COLOURS = ["red", "green", "blue", "black", "gray", "teal", "brown", "yellow"]
SHAPES = ["circle", "rectangle", "triangle"]
QUADRANTS = ["top left", "top right", "bottom left", "bottom right"]
NUMBERS = ["one", "two", "three"]
TASKS = ["colour", "shape", "count", "position", "yesno"]

# instruction templates per task: "reference" samples all of them, "few_instructions" the first
INSTRUCTIONS = {
    "colour": ["What color is the shape?", "What colour is the shape in the image?",
               "Which color does the shape have?", "Tell me the color of the shape.",
               "Name the colour of the object in the picture.", "What is the shape's color?",
               "Identify the color of the figure.", "The shape is painted in which colour?"],
    "shape": ["What is the {colour} shape?", "What shape is shown?",
              "Which geometric figure is in the picture?", "Name the shape in the image.",
              "What kind of shape can you see?", "Identify the figure drawn here.",
              "Is the object a circle, a rectangle or a triangle?", "What form does it have?"],
    "count": ["How many shapes are there?", "Count the shapes in the image.",
              "How many objects can you see?", "What is the number of figures shown?",
              "How many shapes does the picture contain?", "Tell me how many items appear.",
              "Count the objects on the canvas.", "How many figures are drawn?"],
    "position": ["Where is the shape?", "In which part of the image is the shape?",
                 "Where is the object located?", "Which corner holds the figure?",
                 "Tell me where the shape is placed.", "What is the position of the shape?",
                 "In which quadrant does the shape appear?", "Where can the figure be found?"],
    "yesno": ["Is there a {colour} shape?", "Does the image contain a {shape}?",
              "Is this a photo of {subject}?", "Can you see a {colour} shape here?",
              "Is a {shape} present in the picture?", "Does this picture show {subject}?",
              "Is the shape {colour}?", "Is there a {shape} in the image?"],
}
# multi-step ("complex") wording of the same questions
COMPLEX = {
    "colour": ["Look at the whole image, find the single shape on the canvas, then tell me "
               "which colour fills it.",
               "First locate the figure, then ignore its form and its position, and answer "
               "with the colour it is painted in."],
    "shape": ["Find the {colour} object, look at its outline and corners, and then name the "
              "geometric shape it has.",
              "Step by step: locate the figure, count its corners, and say whether it is a "
              "circle, a rectangle or a triangle."],
    "count": ["Go through the four quadrants of the canvas one by one, note every shape you "
              "find, and then say how many shapes there are in total.",
              "Scan the image from left to right, count each figure once, and give the final "
              "number of shapes."],
    "position": ["Divide the image into four quadrants, check which of them contains the "
                 "shape, and name that quadrant.",
                 "First decide whether the shape is in the upper or lower half, then whether "
                 "it is on the left or right, and combine both into its position."],
    "yesno": ["Look carefully at the picture and compare what you see with this statement, "
              "then answer yes or no: there is a {colour} shape.",
              "Check every part of the image and then answer yes or no: it contains a "
              "{shape}.",
              "Think about what the picture shows, then answer yes or no: it is a photo of "
              "{subject}."],
}
# response templates all open with the answer (as short-answer VQA data does), so option
# likelihood right after the prompt reads the model's answer for every dataset alike; they
# differ in what follows
RESPONSES = ["{a}", "{a}.", "{a}, clearly.", "{a}, as far as I can tell.", "{a} is the answer.",
             "{a}, I am fairly sure.", "{a}: that is what the image shows.", "{a}, no doubt.",
             "{a}, looking at the picture.", "{a}, judging by what is visible.",
             "{a} - easy to see.", "{a}, if I read the image right."]
TEMPLATED = "{a}."

PHOTOS = {  # subject -> loader (half of each photo for training, the other for the benchmark)
    "an astronaut": ("skimage", "astronaut"), "a cat": ("skimage", "chelsea"),
    "a cup of coffee": ("skimage", "coffee"), "a rocket": ("skimage", "rocket"),
    "a horse": ("skimage", "horse"), "a man with a camera": ("skimage", "camera"),
    "a motorcycle": ("skimage", "stereo_motorcycle"), "coins": ("skimage", "coins"),
    "the moon": ("skimage", "moon"), "galaxies": ("skimage", "hubble_deep_field"),
    "a temple": ("sklearn", 0), "a flower": ("sklearn", 1),
}

# name -> how the dataset differs from "reference" (the principle it moves)
VARIANTS = {
    "reference": "5 balanced tasks, 8 instruction templates each, 12 response templates",
    "mismatched": "correctness: 50 % of responses carry the answer of another sample",
    "few_instructions": "instruction diversity: one instruction template per task",
    "templated_responses": f"response diversity: every response is '{TEMPLATED}'",
    "single_task": "task diversity: colour questions only",
    "skewed": "balance: 80 % colour, 5 % each other task",
    "multi_step": "complexity: multi-step instructions for the same questions",
}
WORST = "mismatched"  # the set the quality-controlled one is filtered from (by construction)


# ---------------------------------------------------------------------------------- sources
def easyvqa_labels(split: str) -> list[tuple[str, str, str, list]]:
    """``(path, colour, shape, [(question, answer) yes/no])`` per easy-vqa image of ``split``,
    the colour and shape read from the data's own answers."""
    import easy_vqa

    qs, ans, ids = (easy_vqa.get_train_questions() if split == "train"
                    else easy_vqa.get_test_questions())
    paths = (easy_vqa.get_train_image_paths() if split == "train"
             else easy_vqa.get_test_image_paths())
    colour, shape, yesno = {}, {}, {}
    for q, a, i in zip(qs, ans, ids):
        if a in COLOURS:
            colour[i] = a
        elif a in SHAPES:
            shape[i] = a
        else:
            yesno.setdefault(i, []).append((q[0].upper() + q[1:], a))
    return [(paths[i], colour[i], shape[i], yesno.get(i, [])) for i in sorted(paths)
            if i in colour and i in shape]


def photo_arrays() -> dict[str, np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    out, sk = {}, None
    for subject, (src, key) in PHOTOS.items():
        if src == "skimage":
            a = getattr(skimage.data, key)()
            a = a[0] if isinstance(a, tuple) else a
        else:
            sk = sk or load_sample_images().images
            a = sk[key]
        a = np.asarray(a)
        if a.dtype == bool:
            a = (~a * 255).astype(np.uint8)
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        out[subject] = a[..., :3].astype(np.uint8)
    return out


# ----------------------------------------------------------------------------------- images
class ImageBank:
    """Writes scene and photo images under ``folder`` and remembers what each one shows."""

    def __init__(self, folder: str, split: str, seed: int):
        from PIL import Image

        self.Image = Image
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.split = split
        self.rng = np.random.default_rng(seed)
        self.shapes = easyvqa_labels(split)
        self.photos = photo_arrays()
        self._shape_cache: dict[str, object] = {}
        self.n = 0

    def _shape_img(self, path):
        if path not in self._shape_cache:
            self._shape_cache[path] = self.Image.open(path).convert("RGB").resize((32, 32), 3)
        return self._shape_cache[path]

    def _save(self, img) -> str:
        name = f"{self.split}-{self.n:05d}.png"
        self.n += 1
        img.save(os.path.join(self.folder, name))
        return name

    def scene(self, n_shapes: int = 1) -> dict:
        """A 64x64 white canvas with ``n_shapes`` easy-vqa shapes in distinct quadrants."""
        canvas = self.Image.new("RGB", (64, 64), (255, 255, 255))
        quads = self.rng.choice(4, size=n_shapes, replace=False)
        objs = []
        for q in quads:
            path, colour, shape, yesno = self.shapes[int(self.rng.integers(len(self.shapes)))]
            canvas.paste(self._shape_img(path), ((q % 2) * 32, (q // 2) * 32))
            objs.append({"colour": colour, "shape": shape, "position": QUADRANTS[q],
                         "yesno": yesno})
        return {"image": self._save(canvas), "objects": objs, "kind": "scene"}

    def photo(self) -> dict:
        """A random 64x64 crop of one photo (left half for train, right half for test)."""
        subject = list(self.photos)[int(self.rng.integers(len(self.photos)))]
        a = self.photos[subject]
        h, w = a.shape[:2]
        half = a[:, : w // 2] if self.split == "train" else a[:, w // 2:]
        side = int(min(h, half.shape[1]) * self.rng.uniform(0.6, 1.0))
        y = int(self.rng.integers(0, h - side + 1))
        x = int(self.rng.integers(0, half.shape[1] - side + 1))
        img = self.Image.fromarray(half[y:y + side, x:x + side]).resize((64, 64), 3)
        return {"image": self._save(img), "subject": subject, "kind": "photo"}


# ---------------------------------------------------------------------------- QA generation
def _fill(template: str, values: dict) -> str:
    return template.format(**{k: values.get(k, "") for k in ("colour", "shape", "subject")})


def make_qa(bank: ImageBank, task: str, rng, templates: list[str]) -> dict:
    """One question of ``task`` about a new image: ``{image, question, answer, options}``."""
    tmpl = templates[int(rng.integers(len(templates)))]
    if task == "count":
        n = int(rng.integers(1, 4))
        sc = bank.scene(n)
        return {"image": sc["image"], "question": _fill(tmpl, {}), "answer": NUMBERS[n - 1],
                "options": list(NUMBERS), "truth": sc}
    if task == "yesno":
        need = "subject" if "{subject}" in tmpl else "colour" if "{colour}" in tmpl else "shape"
        if need == "subject":
            ph = bank.photo()
            subject = ph["subject"] if rng.random() < 0.5 else \
                list(PHOTOS)[int(rng.integers(len(PHOTOS)))]
            return {"image": ph["image"], "question": _fill(tmpl, {"subject": subject}),
                    "answer": "yes" if subject == ph["subject"] else "no",
                    "options": ["yes", "no"], "truth": ph}
        sc = bank.scene(1)
        o = sc["objects"][0]
        vals = COLOURS if need == "colour" else SHAPES
        v = o[need] if rng.random() < 0.5 else vals[int(rng.integers(len(vals)))]
        return {"image": sc["image"], "question": _fill(tmpl, {need: v}),
                "answer": "yes" if v == o[need] else "no", "options": ["yes", "no"],
                "truth": sc}
    sc = bank.scene(1)
    o = sc["objects"][0]
    q = _fill(tmpl, o)
    if task == "colour":
        opts = [o["colour"]] + [c for c in rng.permutation(COLOURS) if c != o["colour"]][:3]
        return {"image": sc["image"], "question": q, "answer": o["colour"], "options": opts,
                "truth": sc}
    if task == "shape":
        return {"image": sc["image"], "question": q, "answer": o["shape"],
                "options": list(SHAPES), "truth": sc}
    if task == "position":
        return {"image": sc["image"], "question": q, "answer": o["position"],
                "options": list(QUADRANTS), "truth": sc}
    raise ValueError(task)


def _response(answer: str, rng, templates: list[str]) -> str:
    t = templates[int(rng.integers(len(templates)))]
    return t.format(a=answer)


def task_plan(variant: str, n: int, rng) -> list[str]:
    if variant == "single_task":
        return ["colour"] * n
    if variant == "skewed":
        shares = [0.8, 0.05, 0.05, 0.05, 0.05]
    else:
        shares = [0.2] * 5
    counts = [int(round(s * n)) for s in shares]
    counts[0] += n - sum(counts)
    plan = [t for t, c in zip(TASKS, counts) for _ in range(c)]
    return [plan[i] for i in rng.permutation(n)]


def make_dataset(variant: str, n: int, bank: ImageBank, seed: int,
                 truth: dict | None = None) -> list[dict]:
    """``n`` LLaVA records of ``variant`` (one turn each, ``task`` label kept). ``truth``, when
    given, receives ``{id: response is correct}`` (kept out of the records, so no scorer or
    filter can read it)."""
    rng = np.random.default_rng(seed)
    recs = []
    plan = task_plan(variant, n, rng)
    for i, task in enumerate(plan):
        if variant == "few_instructions":
            templates = INSTRUCTIONS[task][:1]
        elif variant == "multi_step":
            templates = COMPLEX[task]
        else:
            templates = INSTRUCTIONS[task]
        qa = make_qa(bank, task, rng, templates)
        answer = qa["answer"]
        if variant == WORST and rng.random() < 0.5:
            answer = [o for o in qa["options"] if o != qa["answer"]][
                int(rng.integers(len(qa["options"]) - 1))]
        resp = _response(answer, rng, [TEMPLATED] if variant == "templated_responses"
                         else RESPONSES)
        if truth is not None:
            truth[f"{variant}-{i}"] = answer == qa["answer"]
        recs.append({"id": f"{variant}-{i}", "image": qa["image"], "task": task,
                     "conversations": [{"from": "human", "value": "<image>\n" + qa["question"]},
                                       {"from": "gpt", "value": resp}]})
    return recs


def make_benchmark(bank: ImageBank, per_dimension: int, seed: int) -> list[dict]:
    """SEED-Bench-style questions: one dimension per task, wording drawn from all templates
    (so a set tuned on one wording meets others), held-out images."""
    rng = np.random.default_rng(seed)
    dims = {"colour": "colour", "shape": "shape", "count": "count", "position": "position",
            "yesno": "yes-no"}
    out = []
    for task, dim in dims.items():
        for k in range(per_dimension):
            qa = make_qa(bank, task, rng, INSTRUCTIONS[task])
            opts = list(qa["options"])
            order = rng.permutation(len(opts))
            opts = [opts[j] for j in order]
            out.append({"question_id": f"{task}-{k}", "image": qa["image"],
                        "question": qa["question"], "options": opts,
                        "answer": opts.index(qa["answer"]), "dimension": dim})
    return out


def _wrong(value, values, rng):
    others = [v for v in values if v != value]
    return others[int(rng.integers(len(others)))]


def _qa_pair(question: str, answer: str, wrong: str, rng) -> tuple[str, str]:
    """A question with a right and with a wrong answer, same response template: the hard
    negative a correctness check must tell apart."""
    t = RESPONSES[int(rng.integers(len(RESPONSES)))]
    return f"{question} {t.format(a=answer)}", f"{question} {t.format(a=wrong)}"


def caption_pairs(item: dict, rng) -> list[tuple[str, str]]:
    """``(caption, hard negative)`` pairs of a training image for the contrastive encoder.

    Captions are descriptions ("a red circle at the top left") and question-answer texts in the
    datasets' wording (the ``matching`` scorer reads a turn's instruction + response); each hard
    negative is the same text with one fact swapped (another colour, shape, count, position,
    subject, or the other yes/no answer), so the encoder must bind the answer to the image
    rather than recognise the kind of question.
    """
    def tmpl(task):
        pool = INSTRUCTIONS[task] + (COMPLEX[task] if rng.random() < 0.2 else [])
        return pool[int(rng.integers(len(pool)))]

    out = []
    if item["kind"] == "photo":
        subj = item["subject"]
        other = _wrong(subj, list(PHOTOS), rng)
        out.append((f"a photo of {subj}", f"a photo of {other}"))
        for _ in range(2):
            t = [x for x in INSTRUCTIONS["yesno"] + COMPLEX["yesno"] if "{subject}" in x]
            t = t[int(rng.integers(len(t)))]
            v = subj if rng.random() < 0.5 else other
            a = "yes" if v == subj else "no"
            out.append(_qa_pair(_fill(t, {"subject": v}), a, "no" if a == "yes" else "yes",
                                rng))
        return out
    objs = item["objects"]
    n = NUMBERS[len(objs) - 1]

    def desc(o):
        return f"a {o['colour']} {o['shape']} at the {o['position']}"

    def swapped(o):
        k = ["colour", "shape", "position"][int(rng.integers(3))]
        vals = {"colour": COLOURS, "shape": SHAPES, "position": QUADRANTS}[k]
        return {**o, k: _wrong(o[k], vals, rng)}

    full = f"{n} shape{'s' if len(objs) > 1 else ''}: " + ", ".join(desc(o) for o in objs)
    j = int(rng.integers(len(objs)))
    neg = [swapped(o) if i == j else o for i, o in enumerate(objs)]
    out.append((full, f"{n} shape{'s' if len(objs) > 1 else ''}: "
                + ", ".join(desc(o) for o in neg)))
    wrong_n = _wrong(n, NUMBERS, rng)
    out.append((full, f"{wrong_n} shape{'s' if wrong_n != 'one' else ''}: "
                + ", ".join(desc(o) for o in objs)))
    out.append(_qa_pair(_fill(tmpl("count"), {}), n, wrong_n, rng))
    if len(objs) == 1:
        o = objs[0]
        out.append((desc(o), desc(swapped(o))))
        for task, key, vals in (("colour", "colour", COLOURS), ("shape", "shape", SHAPES),
                                ("position", "position", QUADRANTS)):
            out.append(_qa_pair(_fill(tmpl(task), o), o[key], _wrong(o[key], vals, rng), rng))
        for _ in range(2):
            t = [x for x in INSTRUCTIONS["yesno"] + COMPLEX["yesno"] if "{subject}" not in x]
            t = t[int(rng.integers(len(t)))]
            need = "colour" if "{colour}" in t else "shape"
            vals = COLOURS if need == "colour" else SHAPES
            v = o[need] if rng.random() < 0.5 else _wrong(o[need], vals, rng)
            a = "yes" if v == o[need] else "no"
            out.append(_qa_pair(_fill(t, {need: v}), a, "no" if a == "yes" else "yes", rng))
    return out


# LLaVA-Pretrain's brief-caption instructions (a few of its list): stage-1 alignment data
BRIEF = ["Describe the image concisely.", "Provide a brief description of the given image.",
         "Offer a succinct explanation of the picture presented.",
         "Summarize the visual content of the image.", "Give a short and clear explanation of "
         "the subsequent image.", "Share a concise interpretation of the image provided.",
         "Write a terse but informative summary of the picture.",
         "Render a clear and concise summary of the photo."]


def alignment_captions(pairs: list, seed: int = 0) -> list[dict]:
    """Stage-1 (feature alignment) data, as LLaVA-Pretrain is built: each of the encoder's
    images (none of them in a dataset or the benchmark) with one brief-caption instruction and
    its description ("two shapes: a red circle at the top left, ..." / "a photo of a cat") as
    the response. Captions only: no question of any task, so the datasets still teach the
    question-answer format."""
    rng = np.random.default_rng(seed)
    return [{"id": f"align-{i}", "image": img, "conversations": [
        {"from": "human", "value": "<image>\n" + BRIEF[int(rng.integers(len(BRIEF)))]},
        {"from": "gpt", "value": texts[0][0]}]} for i, (img, texts) in enumerate(pairs)]


def write_alignment(out: str, pairs: list, seed: int = 0) -> str:
    """``<out>/data/_align.json``: the stage-1 captions of the encoder's ``pairs``."""
    return write_json(os.path.join(out, "data", "_align.json"),
                      alignment_captions(pairs, seed + 300))


def write_json(path: str, obj) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=0)
    return path


def build_all(out: str, n: int, per_dimension: int, variants: list[str], seed: int = 0,
              pool_factor: int = 2, encoder_images: int = 2000,
              per_dimension_in: int = 0) -> dict:
    """Write every dataset (``data/<name>.json``), the QC source pool, the benchmark
    (``bench/bench.json`` + its images), with ``per_dimension_in`` the in-distribution
    benchmark (``bench_in/``, :func:`write_in_distribution_benchmark`) and the encoder's
    training pairs. Returns the paths."""
    img = os.path.join(out, "images")
    bank = ImageBank(img, "train", seed)
    paths = {}
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    # every variant of the design is drawn, in the design's order, so that a run of a subset
    # (``variants=["mismatched"]``) gets the same sets, pool, encoder pairs and benchmarks as
    # the full run: the image bank's generator is shared and advances with every draw
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    for k, v in enumerate(VARIANTS):
        rows = make_dataset(v, n, bank, seed + 1 + k)
        if v in variants:
            paths[v] = write_json(os.path.join(out, "data", f"{v}.json"), rows)
    # the pool the quality-controlled set is filtered from: drawn exactly like the worst set,
    # pool_factor times its size, so the filtered set keeps the common size n
    truth: dict = {}
    pool = make_dataset(WORST, pool_factor * n, bank, seed + 100, truth)
    for r in pool:
        r["id"] = "pool-" + r["id"]
    paths["_pool"] = write_json(os.path.join(out, "data", "_pool.json"), pool)
    # which pool responses are correct: only for reporting (the AUROC of the matching degree,
    # the quality-controlled set's share of correct responses), never for selecting
    paths["_truth"] = write_json(os.path.join(out, "pool_truth.json"),
                                 {"pool-" + k: v for k, v in truth.items()})
    # contrastive pairs: fresh training images with their captions (the encoder never sees a
    # dataset's responses, right or wrong)
    pairs, crng = [], np.random.default_rng(seed + 200)
    for _ in range(encoder_images):
        r = bank.rng.random()  # as the datasets: mostly single shapes, some counts, photos
        item = bank.photo() if r < 0.1 else bank.scene(
            1 if r < 0.7 else int(bank.rng.integers(2, 4)))
        # several draws of the random templates per image
        pairs.append((item["image"], [p for _ in range(3) for p in caption_pairs(item, crng)]))
    paths["_pairs"] = write_json(os.path.join(out, "pairs.json"), pairs)
    paths["_align"] = write_alignment(out, pairs, seed)
    bench_dir = os.path.join(out, "bench")
    tbank = ImageBank(bench_dir, "test", seed + 7)
    paths["_bench"] = write_json(os.path.join(bench_dir, "bench.json"),
                                 make_benchmark(tbank, per_dimension, seed + 8))
    if per_dimension_in:
        paths["_bench_in"] = write_in_distribution_benchmark(out, per_dimension_in, seed)
    paths["_images"] = img
    return paths


def write_in_distribution_benchmark(out: str, per_dimension: int, seed: int = 0) -> str:
    """``<out>/bench_in/bench.json``: the second benchmark, fixed here on 2026-12-02 after an
    exploratory post-hoc look at one like it (README). Its generator seeds differ from the
    exploratory one's (999 / 1000), so its questions and images are new to every analysis: a
    confirmatory test, not a re-read of the exploratory result. Same
    questions and dimensions as the designed one, but its images are drawn like the datasets':
    scenes composed afresh (own generator) from the easy-vqa *train* shape images the datasets
    use, and crops of the photos' train halves. A scene is new, but one of its shape images may
    also sit in a dataset scene (the train pool has 4,000), so this measures what the tuned
    models learned without the designed benchmark's train/test image shift — closer to
    held-out-scene accuracy than to held-out-image accuracy."""
    bench_dir = os.path.join(out, "bench_in")
    bank = ImageBank(bench_dir, "train", seed + 2027)
    return write_json(os.path.join(bench_dir, "bench.json"),
                      make_benchmark(bank, per_dimension, seed + 2028))


def strip_placeholders(text: str) -> str:
    return re.sub(r"<image>\n?", "", text)
