"""Synthetic instruction sets with known task families, for validating task labellers.

Seven visibly different families of vision-language instructions (captioning, counting, colour
questions, text reading, yes/no questions, multiple choice, reasoning), each built from several
templates and a shared vocabulary of objects, so that instructions of one task vary in wording
and instructions of different tasks share objects (a labeller must key on the task, not the
object).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OBJECTS = ["dog", "cat", "car", "bus", "bicycle", "umbrella", "chair", "horse", "boat", "bird",
           "kite", "truck", "bench", "clock", "laptop", "cup", "pizza", "train", "sheep", "tree",
           "traffic light", "backpack", "teddy bear", "vase", "skateboard", "person"]
COLOURS = ["red", "blue", "green", "yellow", "white", "black", "orange", "brown"]
SURFACES = ["sign", "poster", "shirt", "bus", "label", "book cover", "banner", "screen",
            "storefront", "license plate"]
PEOPLE = ["man", "woman", "child", "boy", "girl", "person", "player", "chef"]
ACTIONS = ["smiling", "running", "holding an umbrella", "looking at the sky", "sitting alone",
           "wearing a coat", "carrying a bag", "waving"]

FAMILIES: dict[str, list[str]] = {
    "captioning": [
        "Describe the image in detail.",
        "Write a short caption for this picture.",
        "Give a brief description of what you see in the photo.",
        "Provide a one-sentence caption of the scene.",
        "Describe this scene with the {obj} in a few sentences.",
        "Summarize the visual content of the image.",
        "What is shown in this picture? Describe it thoroughly.",
        "Generate a detailed caption for the photograph.",
    ],
    "counting": [
        "How many {objs} are there in the image?",
        "Count the number of {objs} in the picture.",
        "How many {objs} can you see?",
        "What is the total number of {objs} visible in the photo?",
        "Tell me how many {objs} appear in this image.",
        "Count all the {objs} shown.",
    ],
    "colour": [
        "What color is the {obj}?",
        "What is the colour of the {obj} in the picture?",
        "Which color is the {obj} in this photo?",
        "Tell me the color of the {obj}.",
        "The {obj} in the image is what color?",
        "Identify the colour of the {obj}.",
    ],
    "ocr": [
        "What does the text on the {surface} say?",
        "Read the words written on the {surface}.",
        "Transcribe the text visible on the {surface}.",
        "What is written on the {surface} in the image?",
        "Extract all the text printed on the {surface}.",
        "Which words appear on the {surface}?",
    ],
    "yes_no": [
        "Is there a {obj} in the image? Answer yes or no.",
        "Does this picture contain a {obj}? Please answer yes or no.",
        "Can you see a {obj} in the photo? Reply with yes or no.",
        "Is the {obj} {colour}? Answer with yes or no.",
        "Answer yes or no: is a {obj} visible in this image?",
    ],
    "multiple_choice": [
        "What is the {obj} next to? Options: A. a {obj2} B. a {obj3} C. a {obj4}. Answer with "
        "the letter of the correct option.",
        "Which of the following objects is in the image? (A) {obj} (B) {obj2} (C) {obj3} "
        "(D) {obj4}. Choose one option.",
        "Choose the correct answer. Where is the {obj}? A) indoors B) on a street C) in a park "
        "D) at the beach",
        "Select the best option: what colour is the {obj}? A. {colour} B. {colour2} C. "
        "{colour3}",
    ],
    "reasoning": [
        "Why might the {person} be {action}? Explain your reasoning.",
        "What could happen next in this scene, and why?",
        "Explain why the {person} is {action} in this situation.",
        "Based on the scene, what can you infer about the weather? Explain step by step.",
        "What is the likely purpose of the {obj} here? Justify your answer.",
        "Reason about the situation: is the {person} likely in a hurry? Explain.",
    ],
}

_RESPONSES = {
    "captioning": "A {colour} {obj} stands in a busy street next to a {obj2}.",
    "counting": "There are {k} {objs}.",
    "colour": "It is {colour}.",
    "ocr": "The {surface} says 'OPEN DAILY'.",
    "yes_no": "Yes.",
    "multiple_choice": "B",
    "reasoning": "The {person} is probably {action} because it is cold and windy outside.",
}


def _plural(w: str) -> str:
    if w.endswith(("s", "sh", "ch", "x")):
        return w + "es"
    if w == "person":
        return "people"
    if w == "sheep":
        return w
    return w + "s"


def make_task_family_samples(n_per_task: int | Sequence[int] = 20, *, seed: int = 0,
                             families: Sequence[str] | None = None,
                             with_labels: bool = True) -> list[dict]:
    """Samples (:func:`vlitq.data.dataset.make_sample` records) from the instruction families.

    Parameters
    ----------
    n_per_task : int or list of int
        Samples per family (a list gives each family its own size, e.g. to plant imbalance).
    seed : int
    families : list of str, optional
        Which of :data:`FAMILIES` (default: all, in that order).
    with_labels : bool
        Put the family name in the ``task`` field (else it goes to ``true_task`` only).

    Examples
    --------
    >>> s = make_task_family_samples(2, families=["counting", "ocr"])
    >>> [x["true_task"] for x in s]
    ['counting', 'counting', 'ocr', 'ocr']
    """
    from vlitq.data.dataset import make_sample

    fams = list(families or FAMILIES)
    sizes = [n_per_task] * len(fams) if isinstance(n_per_task, int) else list(n_per_task)
    if len(sizes) != len(fams):
        raise ValueError("n_per_task needs one size per family")
    rng = np.random.default_rng(seed)
    out = []
    for fam, size in zip(fams, sizes):
        templates = FAMILIES[fam]
        # all random draws for the family at once (per-sample numpy calls are slow at 100k)
        objs = np.argsort(rng.random((size, len(OBJECTS))), axis=1)[:, :4]
        cols = np.argsort(rng.random((size, len(COLOURS))), axis=1)[:, :3]
        surf = rng.integers(len(SURFACES), size=size)
        pers = rng.integers(len(PEOPLE), size=size)
        acts = rng.integers(len(ACTIONS), size=size)
        ks = rng.integers(2, 9, size=size)
        tpl = rng.integers(len(templates), size=size)
        for i in range(size):
            o = [OBJECTS[j] for j in objs[i]]
            c = [COLOURS[j] for j in cols[i]]
            fill = {"obj": o[0], "obj2": o[1], "obj3": o[2], "obj4": o[3],
                    "objs": _plural(o[0]), "colour": c[0], "colour2": c[1], "colour3": c[2],
                    "surface": SURFACES[surf[i]], "person": PEOPLE[pers[i]],
                    "action": ACTIONS[acts[i]], "k": int(ks[i])}
            ins = templates[tpl[i]].format(**fill)
            res = _RESPONSES[fam].format(**fill)
            out.append(make_sample(f"{fam}-{i}", [("<image>\n" + ins, res)], [f"{fam}_{i}.jpg"],
                                   task=fam if with_labels else None, true_task=fam))
    return out
