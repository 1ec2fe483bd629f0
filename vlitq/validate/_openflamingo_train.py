"""OpenFlamingo worker (run as a script, usually in its own environment).

    python _openflamingo_train.py config.json            # tune
    python _openflamingo_train.py --evaluate config.json # score multiple-choice options

Written by :func:`vlitq.validate.tune.tune_openflamingo`. This file imports only torch,
open_flamingo, open_clip, transformers and PIL (never vlitq), because open_flamingo pins
``torch==2.0.1`` and usually lives in a separate virtual environment.

What it does: builds the model with ``open_flamingo.create_model_and_transforms`` (cross-attention
every ``cross_attn_every_n_layers`` layers, LM embeddings frozen when ``freeze_lm_embeddings``),
loads ``checkpoint.pt`` of ``base`` (a hub repo such as
``openflamingo/OpenFlamingo-3B-vitl-mpt1b``, a folder or a file; empty = start from scratch),
and trains the perceiver and the gated cross-attention layers on the interleaved JSON Lines
(``images``, ``turns``): ``<image>...User: {instruction} GPT: {response}<|endofchunk|>``, with the
loss on the responses only. AdamW, linear warm-up of ``warmup`` steps then cosine decay, gradient
accumulation, gradient clipping at 1.0, fp16/bf16 autocast on CUDA. Checkpoints
``checkpoint-<step>.pt`` every ``save_steps`` (model, optimiser, scheduler, step, losses) and
resume from the last one with ``resume``. Single process (one GPU); the final trainable weights go
to ``<out>/checkpoint.pt``, the run summary to ``<out>/vlitq_tune.json``.
"""
import glob
import json
import math
import os
import random
import sys


def _load_images(refs, root, image_processor):
    import torch
    from PIL import Image

    tensors = []
    for ref in refs:
        path = ref if os.path.isabs(ref) or root is None else os.path.join(root, ref)
        with Image.open(path) as im:
            tensors.append(image_processor(im.convert("RGB")))
    return torch.stack(tensors)


def _encode(tokenizer, rec, max_length):
    """input ids and labels (responses and their <|endofchunk|> supervised)."""
    import torch

    segs = []
    for i, t in enumerate(rec["turns"]):
        head = "<image>" * len(rec["images"]) if i == 0 else ""
        segs.append((f"{head}User: {t['instruction']} GPT:", False))
        segs.append((f" {t['response']}<|endofchunk|>", True))
    texts, acc = [], ""
    for s, _ in segs:
        acc += s
        texts.append(acc)
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    ids = torch.tensor(tokenizer(texts[-1])["input_ids"])
    labels = torch.full_like(ids, -100)
    start = 0
    for (_, sup), end in zip(segs, lengths):
        if sup:
            labels[start:end] = ids[start:end]
        start = end
    return ids[:max_length], labels[:max_length]


def _base_checkpoint(base):
    if not base:
        return None
    if os.path.isfile(base):
        return base
    if os.path.isdir(base):
        return os.path.join(base, "checkpoint.pt")
    from huggingface_hub import hf_hub_download

    return hf_hub_download(base, "checkpoint.pt")


def build(cfg):
    """(model, image_processor, tokenizer) with the base checkpoint (and a tuned one) loaded."""
    import torch
    from open_flamingo import create_model_and_transforms

    if cfg.get("vision_config_file"):  # a custom open_clip architecture (tests use a tiny one)
        import open_clip

        open_clip.add_model_config(cfg["vision_config_file"])
    model, image_processor, tokenizer = create_model_and_transforms(
        clip_vision_encoder_path=cfg["vision_encoder"],
        clip_vision_encoder_pretrained=cfg["vision_pretrained"] or None,
        lang_encoder_path=cfg["lang_encoder"], tokenizer_path=cfg["lang_encoder"],
        cross_attn_every_n_layers=cfg["cross_attn_every_n_layers"],
        decoder_layers_attr_name=cfg["decoder_layers_attr_name"],
        freeze_lm_embeddings=cfg["freeze_lm_embeddings"])
    ckpt = _base_checkpoint(cfg["base"])
    if ckpt:
        model.load_state_dict(torch.load(ckpt, map_location="cpu"), strict=False)
    if cfg.get("tuned"):  # trainable weights written by a vlitq tuning run
        model.load_state_dict(torch.load(cfg["tuned"], map_location="cpu"), strict=False)
    return model, image_processor, tokenizer


def evaluate(cfg):
    """Summed log-likelihood and token count of each option (JSON Lines to cfg["predictions"])."""
    import torch

    model, image_processor, tokenizer = build(cfg)
    device = cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    pad = tokenizer.pad_token_id
    with open(cfg["questions"], encoding="utf-8") as fh:
        questions = [json.loads(line) for line in fh if line.strip()]
    with open(cfg["predictions"], "w", encoding="utf-8") as out:
        for q in questions:
            try:
                vis = _load_images([q["image"]], None, image_processor)
            except OSError as exc:
                out.write(json.dumps({"question_id": q["question_id"], "error": str(exc)}) + "\n")
                continue
            for t_i, prompt in enumerate(q["prompts"]):
                texts = [prompt] + [prompt + " " + o for o in q["options"]]
                seqs = [tokenizer(t)["input_ids"] for t in texts]
                width = max(len(s) for s in seqs[1:])
                m = len(q["options"])
                ids = torch.full((m, width), pad, dtype=torch.long)
                att = torch.zeros((m, width), dtype=torch.long)
                target = torch.zeros((m, width), dtype=torch.bool)
                for j, s in enumerate(seqs[1:]):
                    common = 0
                    while common < min(len(s), len(seqs[0])) and s[common] == seqs[0][common]:
                        common += 1
                    ids[j, :len(s)] = torch.tensor(s)
                    att[j, :len(s)] = 1
                    target[j, common:len(s)] = True
                vision_x = vis.unsqueeze(0).unsqueeze(2).expand(m, -1, -1, -1, -1, -1)
                with torch.no_grad():
                    logits = model(vision_x=vision_x.to(device), lang_x=ids.to(device),
                                   attention_mask=att.to(device)).logits.float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                tok = logp.gather(-1, ids[:, 1:, None].to(device)).squeeze(-1)
                tm = target[:, 1:].to(device)
                out.write(json.dumps({"question_id": q["question_id"], "template": t_i,
                                      "sums": (tok * tm).sum(-1).tolist(),
                                      "counts": tm.sum(-1).tolist()}) + "\n")


def main(cfg_path):
    import torch
    from transformers import get_cosine_schedule_with_warmup

    with open(cfg_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    torch.manual_seed(cfg["seed"])
    random.seed(cfg["seed"])
    model, image_processor, tokenizer = build(cfg)
    device = cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    with open(cfg["data"], encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    bs, accum = cfg["batch_size"], cfg["grad_accum"]
    steps_per_epoch = math.ceil(len(records) / bs / accum)
    total = cfg["max_steps"] if cfg["max_steps"] > 0 else steps_per_epoch * cfg["epochs"]
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])
    warm = cfg["warmup"]
    warm = int(warm * total) if warm < 1 else int(warm)
    sched = get_cosine_schedule_with_warmup(opt, warm, total)
    step, losses = 0, []
    if cfg.get("resume"):
        found = sorted(glob.glob(os.path.join(cfg["out"], "checkpoint-*.pt")),
                       key=lambda p: int(p.rsplit("-", 1)[1][:-3]))
        if found:
            state = torch.load(found[-1], map_location="cpu")
            model.load_state_dict(state["model"], strict=False)
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            step, losses = state["step"], state["losses"]
    use_amp = device.startswith("cuda") and cfg["precision"] in ("fp16", "bf16")
    amp_dtype = torch.bfloat16 if cfg["precision"] == "bf16" else torch.float16
    scaler = torch.cuda.amp.GradScaler(enabled=use_amp and amp_dtype == torch.float16)
    pad = tokenizer.pad_token_id
    model.train()
    order = []
    while step < total:
        if len(order) < bs * accum:
            perm = list(range(len(records)))
            random.Random(cfg["seed"] + step).shuffle(perm)
            order += perm
        opt.zero_grad()
        step_loss = 0.0
        for _ in range(accum):
            batch = [records[i] for i in order[:bs]]
            del order[:bs]
            enc = [_encode(tokenizer, r, cfg["max_length"]) for r in batch]
            width = max(len(e[0]) for e in enc)
            n_img = max(len(r["images"]) for r in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            att = torch.zeros((len(batch), width), dtype=torch.long)
            vis = []
            for i, (r, (x, y)) in enumerate(zip(batch, enc)):
                ids[i, :len(x)], labels[i, :len(y)], att[i, :len(x)] = x, y, 1
                imgs = _load_images(r["images"], cfg["image_root"], image_processor)
                if len(imgs) < n_img:  # padding images are never attended: no <image> token
                    imgs = torch.cat([imgs, imgs.new_zeros((n_img - len(imgs),) + imgs.shape[1:])])
                vis.append(imgs)
            vision_x = torch.stack(vis).unsqueeze(2).to(device)  # (B, T_img, F=1, C, H, W)
            with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=use_amp):
                out = model(vision_x=vision_x, lang_x=ids.to(device),
                            attention_mask=att.to(device), labels=labels.to(device))
            loss = out.loss / accum
            scaler.scale(loss).backward()
            step_loss += float(loss.detach())
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(opt)
        scaler.update()
        sched.step()
        step += 1
        losses.append(step_loss)
        if step % cfg["logging_steps"] == 0:
            print(json.dumps({"step": step, "loss": step_loss, "lr": sched.get_last_lr()[0]}),
                  flush=True)
        if step % cfg["save_steps"] == 0 or step == total:
            trainable = {k: v for k, v in model.state_dict().items()
                         if k in {n for n, p in model.named_parameters() if p.requires_grad}}
            torch.save({"model": trainable, "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "step": step, "losses": losses},
                       os.path.join(cfg["out"], f"checkpoint-{step}.pt"))
            old = sorted(glob.glob(os.path.join(cfg["out"], "checkpoint-*.pt")),
                         key=lambda p: int(p.rsplit("-", 1)[1][:-3]))
            for p in old[:-cfg["save_total_limit"]]:
                os.remove(p)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    torch.save({k: v for k, v in model.state_dict().items() if k in names},
               os.path.join(cfg["out"], "checkpoint.pt"))
    with open(os.path.join(cfg["out"], "vlitq_tune.json"), "w", encoding="utf-8") as fh:
        json.dump({"params": cfg, "losses": losses, "n_examples": len(records),
                   "trainable_parameters": sum(p.numel() for p in params)}, fh, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "--evaluate":
        with open(sys.argv[2], encoding="utf-8") as fh:
            evaluate(json.load(fh))
    else:
        main(sys.argv[1])
