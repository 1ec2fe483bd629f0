"""Shared helpers for the benchmark scripts: synthetic LLaVA data, peak RSS."""
from __future__ import annotations

import json
import os
import random
import resource


def peak_rss_mib() -> float:
    """Peak resident set size of this process (and of its finished children) in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


SUBJECTS = ["a man", "a woman", "a dog", "a cat", "two children", "a red bus", "a bicycle",
            "a plate of food", "a laptop", "a group of people", "a horse", "a train"]
PLACES = ["on a street", "in a kitchen", "on a beach", "in a park", "at a table", "in a field",
          "next to a building", "under a tree"]
QUESTIONS = ["What is {s} doing?", "Describe the image in detail.", "Where is {s}?",
             "How many objects are visible?", "Is there {s} in the picture?",
             "What color is {s}?", "Why might {s} be {p}?",
             "What is unusual about this image?"]


def make_llava(path: str, n: int, *, n_images: int = 200, seed: int = 0,
               image_dir: str | None = None) -> str:
    """Write a synthetic LLaVA-format dataset of ``n`` samples; images are reused across
    samples (as in LLaVA-Instruct) from ``n_images`` small JPEGs."""
    rng = random.Random(seed)
    image_dir = image_dir or os.path.join(os.path.dirname(path), "images")
    os.makedirs(image_dir, exist_ok=True)
    import numpy as np
    from PIL import Image

    nprng = np.random.default_rng(seed)
    for k in range(n_images):
        f = os.path.join(image_dir, f"{k:05d}.jpg")
        if not os.path.exists(f):
            arr = nprng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            Image.fromarray(arr).resize((256, 192)).save(f, quality=85)
    recs = []
    for i in range(n):
        s, p = rng.choice(SUBJECTS), rng.choice(PLACES)
        conv = []
        for t in range(rng.choice([1, 1, 2, 3])):
            q = rng.choice(QUESTIONS).format(s=s, p=p)
            a = f"{s.capitalize()} is {p}. " * rng.randint(1, 6)
            conv += [{"from": "human", "value": ("<image>\n" if t == 0 else "") + q},
                     {"from": "gpt", "value": a.strip()}]
        # relative to the file's folder (the default image_root), as in LLaVA
        rel = os.path.relpath(image_dir, os.path.dirname(os.path.abspath(path)))
        recs.append({"id": f"syn{i}", "image": f"{rel}/{rng.randrange(n_images):05d}.jpg",
                     "conversations": conv})
    with open(path, "w") as fh:
        json.dump(recs, fh)
    return path
