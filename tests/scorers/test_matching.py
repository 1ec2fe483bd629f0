"""The matching scorer on a tiny open_clip model saved to disk and reloaded by path."""
import base64
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.models.clip import ClipEncoder
from vlitq.scorers.matching import Matching, turn_text

@pytest.fixture(scope="module")
def tiny_dir(tiny_open_clip_dir):
    return tiny_open_clip_dir


def _png_bytes(color):
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(b, "PNG")
    return b.getvalue()


@pytest.fixture()
def dataset(tmp_path):
    colors = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    for name, c in colors.items():
        (tmp_path / f"{name}.png").write_bytes(_png_bytes(c))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    inline_red = "data:image/png;base64," + base64.b64encode(_png_bytes((255, 0, 0))).decode()
    recs = []
    for i in range(6):  # LLaVA-style reuse: 6 samples on 3 images
        name = list(colors)[i % 3]
        recs.append(make_sample(f"s{i}", [("<image>\nWhat colour is it?", f"It is {name}."),
                                          ("Anything else?", "A plain square.")],
                                [f"{name}.png"]))
    recs.append(make_sample("inline", [("Colour?", "Red.")], [inline_red]))  # same bytes as red
    recs.append(make_sample("two", [("Compare.", "Red and blue.")], ["red.png", "blue.png"]))
    recs.append(make_sample("broken", [("Q?", "A.")], ["broken.png"]))
    recs.append(make_sample("missing", [("Q?", "A.")], ["nope.png"]))
    recs.append(make_sample("textonly", [("Q?", "A.")], []))
    recs.append(make_sample("empty", [("", "")], ["green.png"]))
    return Dataset.from_records(recs, image_root=str(tmp_path))


def _score(ds, scorer, cache=False):
    rep = vlitq.score(ds, [scorer], cache=cache, progress=False)
    return {r["sample_id"]: r for r in rep.samples.iter_rows(named=True)}, rep


def test_values_errors_and_reuse(tiny_dir, dataset):
    m = Matching(model=tiny_dir, workers=2, batch_size=4)
    rows, rep = _score(dataset, m)
    enc = m._encoder
    # 3 distinct contents (the inline copy of red.png is not encoded again), across batches
    assert enc.images_encoded == 3
    # value = 100 x cosine of image and turn text, mean over turns
    ref = ClipEncoder(tiny_dir, workers=1)
    img = ref.encode_image_bytes([_png_bytes((255, 0, 0))])[0]
    txt = ref.encode_texts(["What colour is it? It is red.", "Anything else? A plain square."])
    expect = 100 * txt @ img
    assert rows["s0"]["matching_turns"] == pytest.approx(expect.tolist(), abs=1e-3)
    assert rows["s0"]["matching"] == pytest.approx(expect.mean(), abs=1e-3)
    assert rows["s0"]["matching_error"] is None
    # two images: mean over both images
    blue = ref.encode_image_bytes([_png_bytes((0, 0, 255))])[0]
    t2 = ref.encode_texts(["Compare. Red and blue."])[0]
    assert rows["two"]["matching"] == pytest.approx(50 * (t2 @ img + t2 @ blue), abs=1e-3)
    # errors: broken and missing images, empty text; text-only samples are null without error
    assert "cannot be decoded" in rows["broken"]["matching_error"]
    assert "not found" in rows["missing"]["matching_error"]
    assert "no text" in rows["empty"]["matching_error"]
    assert rows["textonly"]["matching"] is None and rows["textonly"]["matching_error"] is None
    for sid in ("broken", "missing", "empty"):
        assert rows[sid]["matching"] is None
    assert set(rep.errors["sample_id"].to_list()) == {"broken", "missing", "empty"}
    ind = rep.indicators.filter(rep.indicators["indicator"] == "matching")
    scored = [r["matching"] for r in rows.values() if r["matching"] is not None]
    assert ind["value"][0] == pytest.approx(np.mean(scored), abs=1e-6) and len(scored) == 8


def test_embedding_cache_hit_on_rerun(tiny_dir, dataset):
    first, _ = _score(dataset, Matching(model=tiny_dir, workers=1))
    again = Matching(model=tiny_dir, workers=1)
    second, _ = _score(dataset, again)  # result cache off: only the embedding cache can help
    assert again._encoder.images_encoded == 0 and again._encoder.texts_encoded == 0
    assert [r["matching"] for r in first.values()] == [r["matching"] for r in second.values()]
    off = Matching(model=tiny_dir, workers=1, embedding_cache=False)
    _score(dataset, off)
    assert off._encoder.images_encoded == 3


def test_text_option(tiny_dir, dataset):
    a, _ = _score(dataset, Matching(model=tiny_dir, workers=1))
    b, _ = _score(dataset, Matching(model=tiny_dir, workers=1, text="response"))
    assert a["s0"]["matching"] != b["s0"]["matching"]
    assert turn_text({"instruction": "<image>\nQ?", "response": "A."}) == "Q? A."
    bad, _ = _score(dataset, Matching(model=tiny_dir, text="everything"))
    assert "text must be one of" in bad["s0"]["matching_error"]


def test_load_failure_marks_every_sample(dataset, tmp_path):
    rows, rep = _score(dataset, Matching(model="ViT-B-32", pretrained=str(tmp_path / "w.bin")))
    errs = [r["matching_error"] for r in rows.values()]
    assert all("weights file not found" in e for e in errs)
    assert rep.errors.height == len(dataset)
