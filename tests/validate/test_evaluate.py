import json

import numpy as np
import polars as pl
import pytest

from vlitq.validate.evaluate import Question, evaluate, read_benchmark, score_options, sensitivity


def test_read_benchmark_variants(tmp_path, seed_bench):
    qs = read_benchmark(seed_bench)
    assert len(qs) == 7
    assert qs[0].options == ["red", "blue", "green", "yellow"] and qs[0].answer == 0
    assert {q.dimension for q in qs} == {"Instance Attributes", "Scene"}
    assert qs[0].image == "img0_red.png"
    lines = [{"id": "a", "image": "x.png", "question": "q", "options": ["no", "yes"],
              "answer": 1, "dimension": "d"},
             {"image": "x.png", "question": "q", "choices": ["no", "yes"], "answer": "yes"},
             {"image": "x.png", "question": "q", "options": ["no", "yes"], "answer": "(B)"}]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    qs = read_benchmark(tmp_path / "b.jsonl")
    assert [q.answer for q in qs] == [1, 1, 1]
    assert [q.question_id for q in qs] == ["a", "1", "2"]
    assert [q.dimension for q in qs] == ["d", "all", "all"]
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "x", "question": "q",
                                                    "options": ["a", "b"], "answer": "C"}]))
    with pytest.raises(ValueError, match="question 0"):
        read_benchmark(tmp_path / "bad.json")


@pytest.mark.parametrize("which", ["tiny_llava", "tiny_blip2"])
def test_option_loglik_equals_the_models_own_loss(which, request):
    """The per-option score is the model's teacher-forced log-likelihood of the option tokens:
    its mean equals minus the model's own loss with the prompt masked out of the labels."""
    import torch
    from PIL import Image

    from vlitq.validate._models import load_model

    model, proc, kind = load_model(request.getfixturevalue(which), device="cpu")
    image = Image.fromarray(np.full((32, 32, 3), 200, np.uint8))
    prompt = ("<image>\n" if kind == "llava" else "") + "Question: what is shown? Answer:"
    options = ["a blue circle", "red"]
    sums, counts = score_options(model, proc, image, prompt, options)
    assert counts[0] > counts[1] >= 1
    for opt, s, c in zip(options, sums, counts):
        full = proc(images=image, text=prompt + " " + opt, return_tensors="pt")
        labels = full["input_ids"].clone()
        labels[:, : labels.shape[1] - c] = -100
        with torch.no_grad():
            loss = model(**full, labels=labels).loss
        assert s / c == pytest.approx(-float(loss), rel=1e-4)


def test_evaluate_seed_style_benchmark(tiny_llava, seed_bench):
    res = evaluate(tiny_llava, seed_bench, device="cpu", progress_bar=False)
    assert res.per_dimension.columns == ["dimension", "n", "correct", "accuracy"]
    assert set(res.per_dimension["dimension"]) == {"Instance Attributes", "Scene"}
    assert res.per_dimension["n"].sum() == 6
    assert res.errors["question_id"].to_list() == ["broken"]  # missing image: reported, not lost
    for row in res.per_dimension.iter_rows(named=True):
        part = res.predictions.filter(pl.col("dimension") == row["dimension"])
        assert row["correct"] == part["correct"].sum()
        assert row["accuracy"] == pytest.approx(100 * part["correct"].mean())
    assert res.overall == pytest.approx(100 * res.predictions["correct"].mean())
    # the prediction is the best length-normalised option
    for row in res.predictions.iter_rows(named=True):
        assert row["prediction"] == int(np.argmax(row["loglik_mean"]))
        assert row["correct"] == (row["prediction"] == row["answer"])
    perf = res.to_performance_row("subset-a", "llava")
    assert perf["dataset"] == "subset-a" and set(perf) == {
        "dataset", "model", "Instance Attributes", "Scene"}
    assert res.sensitivity is None
    raw = evaluate(tiny_llava, seed_bench, device="cpu", normalize="sum", limit=2,
                   progress_bar=False)
    for row in raw.predictions.iter_rows(named=True):
        assert row["prediction"] == int(np.argmax(row["loglik_sum"]))


def test_evaluate_several_instructions_gives_sensitivity(tiny_blip2, seed_bench):
    templates = ["Question: {question} Answer:", "{question}\n{options}\nThe answer is",
                 "Look at the picture. {question}"]
    res = evaluate(tiny_blip2, seed_bench, prompt=templates, device="cpu", progress_bar=False,
                   limit=4)
    assert res.predictions.height == 4 * 3
    assert res.per_dimension.columns == ["dimension", "template", "n", "correct", "accuracy"]
    s = res.sensitivity
    assert s.columns == ["dimension", "std", "mean", "n_templates", "sensitivity"]
    for row in s.iter_rows(named=True):
        acc = res.per_dimension.filter(pl.col("dimension") == row["dimension"])["accuracy"]
        mean = acc.mean()
        expect = acc.std(ddof=0) / mean if mean > 0 else float("nan")
        assert row["n_templates"] == 3
        assert row["sensitivity"] == pytest.approx(expect, nan_ok=True)
    assert "sensitivity" in res.summary()


def test_sensitivity_zero_mean_is_nan():
    t = pl.DataFrame({"dimension": ["a", "a"], "template": [0, 1], "accuracy": [0.0, 0.0]})
    assert np.isnan(sensitivity(t)["sensitivity"][0])


def test_evaluate_model_object_needs_processor(tiny_llava, seed_bench):
    from vlitq.validate._models import load_model

    model, proc, _ = load_model(tiny_llava, device="cpu")
    with pytest.raises(ValueError, match="processor"):
        evaluate(model, seed_bench)
    qs = [Question("q", "What colour?", "img0_red.png", ["red", "blue"], 0, "d")]
    res = evaluate(model, qs, processor=proc, image_root=str(seed_bench.parent),
                   progress_bar=False)
    assert res.predictions.height == 1 and res.info["kind"] == "llava"
