import json
import os

import pytest

from vlitq.validate.tune import (
    _Collator,
    _Examples,
    _llava_segments,
    encode_example,
    hyperparameters,
    to_blip2_records,
    to_llava_records,
    to_openflamingo_records,
    tune,
)

FAST = dict(lr=1e-3, batch_size=2, grad_accum=1, device="cpu", logging_steps=1,
            num_workers=0, warmup=0)


def _mean_loss(model_dir, kind, subset):
    """Mean loss of a model over every training example (same batches before and after)."""
    import torch

    from vlitq.validate._models import load_model
    from vlitq.validate.tune import LLAVA_SYSTEM

    model, proc, _ = load_model(model_dir, kind, device="cpu")
    eos = proc.tokenizer.eos_token
    if kind == "llava":
        items = [(r["image"], _llava_segments(r, LLAVA_SYSTEM, eos))
                 for r in to_llava_records(subset) if "image" in r]
    else:
        items = [(r["image"], [(r["prompt"], False), (f" {r['target']}{eos}", True)])
                 for r in to_blip2_records(subset)]
    ex = _Examples(items, proc, subset.image_root, False, 2048)
    batch = _Collator(proc.tokenizer.pad_token_id)([ex[i] for i in range(len(ex))])
    with torch.no_grad():
        return float(model(**batch).loss), model


def test_converters(colour_subset):
    llava = to_llava_records(colour_subset)
    assert [r["id"] for r in llava] == ["s0", "s1", "s2", "s3", "text-only"]
    assert llava[0]["conversations"][0]["value"].startswith("<image>\n")
    assert len(llava[0]["conversations"]) == 4 and "image" not in llava[4]
    assert not llava[0]["conversations"][2]["value"].startswith("<image>")
    blip = to_blip2_records(colour_subset)
    assert len(blip) == 5  # one per turn, image-less sample left out
    assert blip[1] == {"id": "s0#1", "image": llava[0]["image"],
                       "prompt": "Question: Is it a circle? Answer:", "target": "no"}
    of = to_openflamingo_records(colour_subset)
    assert of[0]["text"] == ("<image>User: What colour is the square? GPT: The square "
                             "is red.<|endofchunk|>User: Is it a circle? GPT: no<|endofchunk|>")
    assert of[0]["turns"][1] == {"instruction": "Is it a circle?", "response": "no"}


def test_labels_cover_exactly_the_responses(tiny_llava, colour_subset):
    from vlitq.data.images import open_image
    from vlitq.validate._models import load_model

    _, proc, _ = load_model(tiny_llava, device="cpu")
    rec = to_llava_records(colour_subset)[0]
    segs = _llava_segments(rec, "SYS", proc.tokenizer.eos_token)
    img = open_image(rec["image"], colour_subset.image_root)
    ex = encode_example(proc, img, segs, 2048)
    supervised = ex["input_ids"][ex["labels"] != -100]
    assert proc.tokenizer.decode(supervised) == " The square is red.</s> no</s>"
    n_img = int((ex["input_ids"] == proc.tokenizer.convert_tokens_to_ids("<image>")).sum())
    assert n_img == 16  # 4x4 patches of the tiny CLIP: expansion counted
    with pytest.raises(ValueError, match="image tokens"):
        encode_example(proc, img, segs, 10)


def test_hyperparameter_defaults_are_the_papers():
    hp = hyperparameters("llava")
    assert (hp["epochs"], hp["lr"], hp["scheduler"], hp["warmup"], hp["batch_size"],
            hp["grad_accum"], hp["max_length"], hp["precision"]) == (
        1, 2e-5, "cosine", 0.03, 4, 2, 2048, "fp16")
    hp = hyperparameters("blip2")
    assert (hp["lr"], hp["weight_decay"], hp["epochs"], hp["scheduler"]) == (
        1e-5, 0.05, 1, "cosine")
    hp = hyperparameters("openflamingo")
    assert (hp["cross_attn_every_n_layers"], hp["warmup"], hp["freeze_lm_embeddings"]) == (
        1, 1000, True)
    with pytest.raises(ValueError, match="model must be"):
        hyperparameters("gpt")


def test_tune_llava_loss_falls_resumes_and_evaluates(tiny_llava, colour_subset, tmp_path,
                                                     seed_bench):
    from vlitq.validate.evaluate import evaluate

    out = tmp_path / "llava-out"
    before, _ = _mean_loss(tiny_llava, "llava", colour_subset)
    res = tune(colour_subset, model="llava", base=tiny_llava, out=out, max_steps=6,
               save_steps=3, **FAST)
    assert res.n_examples == 4 and res.skipped == [{"id": "text-only", "reason": "no image"}]
    assert len(res.losses) == 6 and res.losses[-1] < res.losses[0]
    after, model = _mean_loss(str(out), "llava", colour_subset)
    assert after < before - 0.3
    base_model, _ = _mean_loss(tiny_llava, "llava", colour_subset)[1], None
    import torch
    for (name, p), (_, q) in zip(model.named_parameters(), base_model.named_parameters()):
        if "vision_tower" in name:  # frozen
            assert torch.equal(p, q), name
    assert not torch.equal(model.model.multi_modal_projector.linear_1.weight,
                           base_model.model.multi_modal_projector.linear_1.weight)
    assert sorted(d for d in os.listdir(out) if d.startswith("checkpoint")) == [
        "checkpoint-3", "checkpoint-6"]
    summary = json.loads((out / "vlitq_tune.json").read_text())
    assert summary["params"]["lr"] == 1e-3 and summary["params"]["base"] == tiny_llava
    assert json.loads((out / "train_llava.json").read_text())[0]["id"] == "s0"
    # resume: two more steps from checkpoint-6, history kept
    res2 = tune(colour_subset, model="llava", base=tiny_llava, out=out, max_steps=8,
                save_steps=2, resume=True, **FAST)
    assert len(res2.losses) == 8 and res2.losses[:6] == pytest.approx(res.losses)
    ev = evaluate(str(out), seed_bench, device="cpu", progress_bar=False)
    assert ev.per_dimension["n"].sum() == 6


def test_tune_blip2_trains_only_the_qformer(tiny_blip2, colour_subset, tmp_path):
    import torch

    out = tmp_path / "blip2-out"
    before, base = _mean_loss(tiny_blip2, "blip2", colour_subset)
    res = tune(colour_subset, model="blip2", base=tiny_blip2, out=out, max_steps=6,
               save_steps=100, **FAST)
    assert res.n_examples == 5
    after, model = _mean_loss(str(out), "blip2", colour_subset)
    assert after < before - 0.05
    changed = {n.split(".")[0] if not n.startswith("model.") else n.split(".")[1]
               for (n, p), (_, q) in zip(model.named_parameters(), base.named_parameters())
               if not torch.equal(p, q)}
    assert changed and changed <= {"qformer", "query_tokens", "language_projection"}


def test_tune_llava_lora_adapter_loads_for_evaluation(tiny_llava, colour_subset, tmp_path,
                                                      seed_bench):
    from vlitq.validate.evaluate import evaluate

    out = tmp_path / "lora"
    res = tune(colour_subset, model="llava", base=tiny_llava, out=out, max_steps=2, lora=True,
               lora_r=4, lora_alpha=8, save_steps=100, **FAST)
    assert (out / "adapter_config.json").is_file()
    assert 0 < res.trainable_parameters
    ev = evaluate(str(out), seed_bench, device="cpu", limit=2, progress_bar=False)
    assert ev.predictions.height == 2


def test_tune_rejects_unknown_options(colour_subset, tmp_path):
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        tune(colour_subset, model="llava", out=tmp_path, learning_rate=1e-3)


def _openflamingo_env():
    """open_flamingo importable here, or a folder holding it (and einops, einops_exts) named by
    VLITQ_OPENFLAMINGO_PATH (e.g. made with pip install --no-deps --target DIR open-flamingo
    einops einops-exts); None when neither."""
    import importlib.util

    extra = os.environ.get("VLITQ_OPENFLAMINGO_PATH")
    if extra and os.path.isdir(os.path.join(extra, "open_flamingo")):
        return {"PYTHONPATH": extra}
    if importlib.util.find_spec("open_flamingo") and importlib.util.find_spec("einops_exts"):
        return {}
    return None


@pytest.mark.slow
@pytest.mark.skipif(_openflamingo_env() is None, reason="open_flamingo is not installed "
                    "(set VLITQ_OPENFLAMINGO_PATH to a --target folder holding it)")
def test_tune_and_evaluate_openflamingo_subprocess(colour_subset, tmp_path, seed_bench):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from conftest import make_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    lm = tmp_path / "tiny-lm"
    tok = make_tokenizer(image_token=False)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                 num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=512,
                                 pad_token_id=tok.pad_token_id)).save_pretrained(lm)
    tok.save_pretrained(lm)
    vit = tmp_path / "vlitq-tiny-vit.json"
    vit.write_text(json.dumps({"embed_dim": 32, "vision_cfg": {
        "image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2,
                     "layers": 1}}))
    out = tmp_path / "of"
    res = tune(colour_subset, model="openflamingo", base="", out=out, lang_encoder=str(lm),
               vision_encoder="vlitq-tiny-vit", vision_pretrained="",
               vision_config_file=str(vit), decoder_layers_attr_name="model.layers",
               env=_openflamingo_env(), device="cpu", lr=1e-3, warmup=0, max_steps=6,
               batch_size=2, grad_accum=1, logging_steps=1, save_steps=3, precision="fp32")
    assert len(res.losses) == 6 and res.losses[-1] < res.losses[0]
    assert (out / "checkpoint.pt").is_file() and (out / "checkpoint-6.pt").is_file()
    assert res.n_examples == 4 and res.skipped == [{"id": "text-only", "reason": "no image"}]
    from vlitq.validate.evaluate import evaluate

    ev = evaluate(str(out), seed_bench, device="cpu", progress_bar=False,
                  prompt=["User: {question} GPT:", "{question}\n{options}\nAnswer:"])
    assert ev.info["kind"] == "openflamingo"
    assert ev.predictions.height == 12 and ev.errors["question_id"].to_list() == ["broken"]
    assert ev.sensitivity is not None
    for row in ev.predictions.iter_rows(named=True):
        assert len(row["loglik_sum"]) == 4 and min(row["n_tokens"]) >= 1
