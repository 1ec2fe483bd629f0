"""Miniature MLLMs (vlitq.validate.mini): the three connectors on the packaged SmolLM2 (cut to one
layer) over a tiny random open_clip vision tower, tuned, saved, reloaded and evaluated."""
import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("transformers")

from vlitq.validate.mini import PROMPT  # noqa: E402

KINDS = list(PROMPT)
VISION_CFG = {"embed_dim": 16,
              "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16,
                             "head_width": 16},
              "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 1,
                           "layers": 1}}


def _smollm2_or_skip():
    from vlitq.models.judges.base import JudgeError
    from vlitq.validate.mini import default_lm

    try:
        return default_lm()
    except JudgeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    import open_clip
    import torch

    from vlitq.models.clip import save_open_clip

    torch.manual_seed(0)
    folder = str(tmp_path_factory.mktemp("vision"))
    save_open_clip(open_clip.CLIP(**VISION_CFG), VISION_CFG, folder)
    return folder, _smollm2_or_skip()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_tune_save_load_evaluate(kind, parts, colour_subset, seed_bench, tmp_path):
    import torch
    from click.testing import CliRunner

    from vlitq.cli import main
    from vlitq.validate.evaluate import evaluate
    from vlitq.validate.mini import build_mini, is_mini, load_mini
    from vlitq.validate.tune import tune

    vision, lm = parts
    model, proc = build_mini(kind, vision, lm, lm_layers=1, connector_layers=1, n_query=4)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable <= {"connector", "xattn", "lm"}
    assert not any(p.requires_grad for p in model.vision.parameters())
    assert not model.lm.get_input_embeddings().weight.requires_grad
    base = model.save(str(tmp_path / "base"))
    assert is_mini(base)
    # vlitq tune dispatches a miniature base to its CPU recipe
    res = tune(colour_subset, model=kind, base=base, out=str(tmp_path / "run"), max_steps=6,
               batch_size=4, logging_steps=1, lr=3e-3)
    # BLIP-2's recipe makes one example per turn (one sample has two turns)
    assert res.n_examples == (5 if kind == "blip2" else 4)
    assert res.losses[-1] < res.losses[0], res.losses
    assert any(s.get("reason") == "no image" for s in res.skipped)  # the text-only sample
    summary = json.loads((tmp_path / "run" / "vlitq_tune.json").read_text())
    assert summary["losses"] == res.losses

    # reloaded weights give the same option scores as a second load (and are not the base's)
    m1, p1 = load_mini(str(tmp_path / "run"))
    m0, _ = load_mini(base)
    enc = p1(images=[colour_subset_image(colour_subset)], text=[PROMPT[kind].format(
        instruction="What colour is the square?") + " red"])
    with torch.no_grad():
        l1 = m1(**enc).logits
        l0 = m0(**enc).logits
    assert l1.shape[:2] == enc["input_ids"].shape
    assert not torch.allclose(l1, l0)

    ev = evaluate(str(tmp_path / "run"), seed_bench, progress_bar=False)
    assert ev.info["kind"] == kind
    assert ev.predictions.height == 6 and ev.errors.height == 1  # the missing image
    out = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run"), str(seed_bench),
                                    "--quiet"])
    assert out.exit_code == 0, out.output
    assert "overall accuracy" in out.output


def colour_subset_image(ds):
    from vlitq.data.images import open_image

    row = next(r for r in ds.frame.iter_rows(named=True) if r["images"])
    return open_image(row["images"][0], ds.image_root, ds.allow_outside_root)


@pytest.mark.slow
def test_flamingo_gates_start_closed(parts):
    """With its tanh gates at 0, the untrained OpenFlamingo-style model is the bare LM."""
    import torch

    from vlitq.validate.mini import build_mini

    vision, lm = parts
    model, proc = build_mini("openflamingo", vision, lm, lm_layers=1, lm_train_layers=0)
    from PIL import Image

    enc = proc(images=[Image.new("RGB", (32, 32), (200, 10, 10))], text=["User: hi GPT: yes"])
    with torch.no_grad():
        got = model(**enc).logits
        # the same LM layers without the cross-attention wrappers
        h = model.lm.get_input_embeddings()(enc["input_ids"])
        inner = model.lm.model
        saved = inner.layers
        inner.layers = torch.nn.ModuleList(layer.layer for layer in saved)
        try:
            ref = model.lm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                           ).logits
        finally:
            inner.layers = saved
    assert h.shape[1] == got.shape[1]
    assert torch.allclose(got, ref, atol=1e-4)


def test_unknown_hyperparameter():
    from vlitq.validate.mini import mini_hyperparameters

    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        mini_hyperparameters("llava", lrr=1)
    assert mini_hyperparameters("openflamingo")["weight_decay"] == 0.1


def test_is_mini(tmp_path):
    from vlitq.validate.mini import MINI_FILE, is_mini

    assert not is_mini(tmp_path)
    (tmp_path / MINI_FILE).write_text("{}")
    assert is_mini(str(tmp_path)) and not is_mini(os.path.join(tmp_path, "nope"))
