"""The one vision encoder of the miniature experiment: a small open_clip model trained
contrastively on fresh training images, their captions and hard negatives.

No CLIP weights exist offline. As in ``metrics/matching/validate.py`` (same open_clip ``CLIP``
class, the real CLIP BPE tokenizer, a frozen token table, class-style InfoNCE over the distinct
captions of a batch, saved with :func:`vlitq.models.clip.save_open_clip`), the model is trained
here; unlike it, on 64x64 scenes of up to three shapes and photo crops, so its patch tokens carry
count and position. The saved folder is both the ``matching`` scorer's model and the frozen
vision tower of the three MLLMs.
"""
from __future__ import annotations

import json
import os
import time

CFG = {"embed_dim": 64,
       "vision_cfg": {"image_size": 64, "layers": 3, "width": 96, "patch_size": 16,
                      "head_width": 32},
       "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2,
                    "layers": 2}}


def train_encoder(pairs_file: str, image_root: str, out: str, steps: int = 600,
                  batch: int = 96, lr: float = 2e-3, seed: int = 0, log=print) -> dict:
    """Train and save the encoder; ``pairs_file`` holds ``[image, [[caption, hard negative],
    ...]]`` per image (:func:`data.caption_pairs`). Loss: InfoNCE of each image against the
    batch's distinct captions plus its own hard negative, and of each caption against the
    batch's images; AdamW, 5 % linear warm-up then cosine decay."""
    import math

    import numpy as np
    import open_clip
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from vlitq.models.clip import save_open_clip

    t0 = time.time()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    with open(pairs_file, encoding="utf-8") as fh:
        pairs = json.load(fh)
    preprocess = open_clip.image_transform(CFG["vision_cfg"]["image_size"], is_train=False)
    x = torch.stack([preprocess(Image.open(os.path.join(image_root, p)).convert("RGB"))
                     for p, _ in pairs])
    tok = open_clip.tokenizer.SimpleTokenizer(context_length=CFG["text_cfg"]["context_length"])
    net = open_clip.CLIP(**CFG)
    net.token_embedding.weight.requires_grad_(False)  # see metrics/matching/validate.py
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr,
                            weight_decay=0.01)
    warm = max(1, steps // 20)

    def lr_at(step):
        if step < warm:
            return lr * (step + 1) / warm
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    net.train()
    losses = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        idx = rng.choice(len(pairs), batch, replace=False)
        chosen = [pairs[i][1][int(rng.integers(len(pairs[i][1])))] for i in idx]
        pos = [c[0] for c in chosen]
        uniq = sorted(set(pos) | {c[1] for c in chosen})
        where = {t: k for k, t in enumerate(uniq)}
        img = F.normalize(net.encode_image(x[idx]), dim=-1)
        txt = F.normalize(net.encode_text(tok(uniq)), dim=-1)
        scale = net.logit_scale.exp()
        logits = scale * img @ txt.T
        target = torch.tensor([where[t] for t in pos])
        # image -> text: its caption against every other caption of the batch and every hard
        # negative (another image's caption that happens to fit it too is rare and stays a
        # negative); text -> image: a caption against the batch's images, images sharing the
        # same caption masked out
        loss_i = F.cross_entropy(logits, target)
        lt = logits[:, target].T  # [caption of image j, image i]
        same = target[:, None] == target[None, :]
        lt = lt.masked_fill(same & ~torch.eye(batch, dtype=torch.bool), float("-inf"))
        loss_t = F.cross_entropy(lt, torch.arange(batch))
        loss = (loss_i + loss_t) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            log(f"  encoder step {step + 1:4d}  loss {np.mean(losses[-50:]):.3f}")
    net.eval()
    save_open_clip(net, CFG, out)
    return {"folder": out, "losses": losses, "seconds": time.time() - t0, "steps": steps}
