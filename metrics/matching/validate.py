"""Matching degree separates true captions from swapped ones under a CLIP model trained here.

No CLIP weights can be downloaded offline, so this trains a small contrastive image-text model
(an open_clip ``CLIP`` with a tiny custom config and the real CLIP BPE tokenizer) on the
``easy-vqa`` shapes (train split: 4000 images of one coloured circle / rectangle / triangle),
with captions built from the data's questions and answers ("a red circle"). It saves the model
in open_clip's local-folder layout, loads it back through the ``matching`` scorer exactly as a
user would (``model="/path/folder"``), and scores held-out test images paired with their own
caption and with a caption swapped in from another image. Claim: matched pairs score higher,
AUROC >= 0.9.

Runs in about 2 minutes on 2 (shared) CPU cores; training is 300 seeded steps.
"""
import os
import sys
import tempfile
import time

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.models.clip import save_open_clip

CFG = {"embed_dim": 64,
       "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8,
                      "head_width": 32},
       "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2,
                    "layers": 2}}
TRAIN_STEPS = int(os.environ.get("VLITQ_VALIDATE_TRAIN_STEPS", "300"))


def captions(split):
    """(image path, "a <colour> <shape>") for the easy-vqa images whose colour and shape the
    questions give; one builder, shared with the validity suite."""
    from vlitq.validity import easyvqa_captions

    return easyvqa_captions(split)


def train(steps: int = TRAIN_STEPS, seed: int = 0, folder: str | None = None,
          verbose: bool = True) -> str:
    """Train the small contrastive model on the easy-vqa train split and save it in
    open_clip's local-folder layout; returns the folder (also used by ``vlitq.validity``)."""
    torch.manual_seed(seed)
    # one intra-op thread: tiny matrices gain nothing from more, and on a shared 2-core machine
    # oversubscribed threads made each step ~10x slower
    torch.set_num_threads(1)
    train_set = captions("train")
    net = open_clip.CLIP(**CFG)
    preprocess = open_clip.image_transform(32, is_train=False)
    tok = open_clip.tokenizer.SimpleTokenizer(context_length=16)
    x = torch.stack([preprocess(Image.open(p).convert("RGB")) for p, _ in train_set])
    texts = sorted({c for _, c in train_set})
    # captions alone and inside the turn shapes the scorer sees (instruction + response)
    templates = ["{}.", "What is in the image? {}.", "{}.", "Describe the image. {}."]
    text_ids = [tok([t.format(c) for c in texts]) for t in templates]
    y = torch.tensor([texts.index(c) for _, c in train_set])

    # the 49408-row token table stays at its random init: the captions use a few dozen tokens,
    # and updating the whole table with AdamW dominated the step time
    net.token_embedding.weight.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    net.train()
    step, start = 0, time.time()
    while step < steps:
        idx = torch.randint(0, len(x), (128,))
        img = F.normalize(net.encode_image(x[idx]), dim=-1)
        # one text embedding per distinct caption; targets are the image's caption class
        txt = F.normalize(net.encode_text(text_ids[step % len(templates)]), dim=-1)
        logits = net.logit_scale.exp() * img @ txt.T
        loss = F.cross_entropy(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if verbose and step % 50 == 0:
            print(f"  step {step:4d}  loss {loss.item():.3f}")
    if verbose:
        print(f"trained {step} steps in {time.time() - start:.0f} s "
              f"(final loss {loss.item():.3f})")
    folder = folder or os.path.join(tempfile.mkdtemp(), "easyvqa-clip")
    save_open_clip(net, CFG, folder)
    return folder


def main():
    t0 = time.time()
    rng = np.random.default_rng(0)
    train_set, test = captions("train"), captions("test")
    print(f"easy-vqa: {len(train_set)} train / {len(test)} test images with a colour+shape "
          "caption")
    folder = train()

    # held-out images with their own caption and with one swapped in from another image
    order = rng.permutation(len(test))
    recs, swap_kind = [], {}
    for k, (path, cap) in enumerate(test):
        other = test[order[k]][1]
        j = k
        while other == cap:  # a swap must change colour or shape
            j = (j + 1) % len(test)
            other = test[order[j]][1]
        turn = ("What is in the image?", cap[0].upper() + cap[1:] + ".")
        wrong = ("What is in the image?", other[0].upper() + other[1:] + ".")
        recs.append(make_sample(f"match{k}", [turn], [path]))
        recs.append(make_sample(f"swap{k}", [wrong], [path]))
        c1, s1 = cap.split()[1:]
        c2, s2 = other.split()[1:]
        swap_kind[f"swap{k}"] = ("colour+shape" if c1 != c2 and s1 != s2
                                 else "colour only" if c1 != c2 else "shape only")
    ds = Dataset.from_records(recs, allow_outside_root=True)
    from sklearn.metrics import roc_auc_score

    results = {}
    for mode in ("response", "instruction+response"):
        scorer = vlitq.registry.create("matching", {"model": folder, "text": mode})
        rep = vlitq.score(ds, [scorer], cache=False, progress=False)
        s = rep.samples
        assert s["matching_error"].null_count() == s.height, s["matching_error"].drop_nulls()
        is_match = [sid.startswith("match") for sid in s["sample_id"].to_list()]
        vals = s["matching"].to_numpy()
        auc = roc_auc_score(is_match, vals)
        m, w = vals[np.array(is_match)], vals[~np.array(is_match)]
        results[mode] = auc
        sids = s["sample_id"].to_list()
        for kind in ("colour only", "shape only", "colour+shape"):
            sel = np.array([swap_kind.get(sid) == kind for sid in sids])
            if sel.any():
                a = roc_auc_score([True] * len(m) + [False] * int(sel.sum()),
                                  np.concatenate([m, vals[sel]]))
                print(f"    swaps changing {kind:12}: n={int(sel.sum()):3d}, "
                      f"mean {vals[sel].mean():6.2f}, AUROC vs matched {a:.3f}")
        print(f"text={mode!r:24}: matched {m.mean():6.2f} ± {m.std():5.2f}, "
              f"swapped {w.mean():6.2f} ± {w.std():5.2f}, AUROC {auc:.3f} "
              f"(n={len(m)} pairs each)")
    print(f"total {time.time() - t0:.0f} s")
    assert min(results.values()) >= 0.9, results
    print("matching: swapped captions score lower (AUROC >= 0.9)")


if __name__ == "__main__":
    sys.exit(main())
