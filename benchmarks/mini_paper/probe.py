"""Linear probes of the frozen vision features of a mini-paper run: is a task's answer
decodable from what the connectors are given?

    python benchmarks/mini_paper/probe.py RUN_DIR      # RUN_DIR = run.py's --out

For every task of the training sets (each distinct image once, its answer word as the label),
a 4-fold cross-validated logistic regression on (a) the pooled, projected class token (what
``matching`` uses), (b) the mean patch token and (c) all patch tokens (what the LLaVA projector,
Q-Former and perceiver read), beside the majority-class rate. A task whose probe sits at the
majority rate cannot be learnt by any connector; one whose probe is well above it while the
tuned models stay at chance points at the tuning, not the encoder.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import warnings

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--max-images", type=int, default=600)
    args = ap.parse_args()
    import open_clip
    import torch
    from PIL import Image
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from vlitq.validate.mini import _load_vision

    torch.set_num_threads(1)
    root = args.run_dir
    vis, cfg = _load_vision(os.path.join(root, "encoder"))
    pre = open_clip.image_transform(cfg["vision_cfg"]["image_size"], is_train=False)
    by_task: dict[str, dict[str, str]] = {}
    for name in sorted(os.listdir(os.path.join(root, "data"))):
        if not name.endswith(".json") or name.startswith("_") or name.startswith(
                ("mismatched", "quality_controlled")):  # their answers may be wrong on purpose
            continue
        with open(os.path.join(root, "data", name), encoding="utf-8") as fh:
            for r in json.load(fh):
                m = re.match(r"[a-z]+", r["conversations"][1]["value"].lower())
                if m:
                    by_task.setdefault(r["task"], {}).setdefault(r["image"], m.group(0))
    print("| task | images | classes | majority | pooled class token | mean patch | all patches |")
    print("|---|---|---|---|---|---|---|")
    for task, items in sorted(by_task.items()):
        items = list(items.items())[: args.max_images]
        x = torch.stack([pre(Image.open(os.path.join(root, "images", p)).convert("RGB"))
                         for p, _ in items])
        with torch.no_grad():
            pooled, toks = vis(x)
        y = np.array([a for _, a in items])
        majority = max(np.mean(y == c) for c in set(y))
        accs = []
        for f in (pooled.numpy(), toks.mean(1).numpy(), toks.flatten(1).numpy()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # rare classes with < 4 members
                accs.append(cross_val_score(LogisticRegression(max_iter=2000), f, y,
                                            cv=4).mean())
        print(f"| {task} | {len(y)} | {len(set(y))} | {majority:.3f} | "
              + " | ".join(f"{a:.3f}" for a in accs) + " |", flush=True)


if __name__ == "__main__":
    main()
