"""Fixtures for the report tests: a small dataset of real photos (scikit-image) whose text
carries script injections, its scored report, and hand-made reports with the paper's
indicators for layout and comparison tests."""
import base64
import io
import json
import os

import numpy as np
import polars as pl
import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.report import Report

# Each payload, if it ever ran, would set window.__pwned to its number.
RESPONSE_SCRIPT = "Sure <script>window.__pwned=1</script> done"
RESPONSE_IMG = 'Look <img src=x onerror="window.__pwned=2"> here'
TASK_ATTR = 'caption"><img src=x onerror="window.__pwned=3">'
TASK_SCRIPT = "</script><script>window.__pwned=4</script>"
SAMPLE_ID_ATTR = 's"><svg onload="window.__pwned=5">'
IMAGE_REF_ATTR = 'nope"><img src=x onerror="window.__pwned=6">.jpg'
WARNING_SCRIPT = "scorer said <script>window.__pwned=7</script>"
PAYLOAD_MARKERS = ("window.__pwned=1", "window.__pwned=2", "window.__pwned=3",
                   "window.__pwned=4", "window.__pwned=5", "window.__pwned=6",
                   "window.__pwned=7")
RAW_PAYLOADS = (RESPONSE_SCRIPT, RESPONSE_IMG, TASK_ATTR, TASK_SCRIPT, SAMPLE_ID_ATTR,
                "<script>window.__pwned", "<img src=x", "<svg onload")

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "horse")


def _photo(name):
    import skimage.data

    a = np.asarray(getattr(skimage.data, name)())
    if a.dtype == bool:
        a = (a * 255).astype("uint8")
    return a


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        Image.fromarray(_photo(name)).save(root / f"{name}.jpg", quality=85)
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    return root


def inline_png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_photo("coffee")[::4, ::4]).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def build_dataset(photo_dir, n=32) -> Dataset:
    rng = np.random.default_rng(0)
    tasks = ["caption", "vqa", "reasoning", TASK_ATTR, TASK_SCRIPT]
    recs = []
    for i in range(n):
        photo = PHOTOS[i % len(PHOTOS)]
        words = " ".join(["detail"] * int(rng.integers(1, 60)))
        response = f"The image shows the {photo}. {words}"
        images = [f"{photo}.jpg"]
        sid = f"s{i:02d}"
        if i == 1:
            response = RESPONSE_SCRIPT
        if i == 2:
            response = RESPONSE_IMG
        if i == 3:
            images = ["broken.jpg"]
        if i == 4:
            images = [IMAGE_REF_ATTR, "coffee.jpg"]
        if i == 5:
            images = [inline_png()]
        if i == 6:
            sid = SAMPLE_ID_ATTR
        turns = [(f"What is in picture {i}?", response)]
        if i % 4 == 0:
            turns.append(("Anything else?", "A second turn."))
        recs.append(make_sample(sid, turns, images, task=tasks[i % len(tasks)],
                                source={"format": "llava", "file": "demo.json", "index": i}))
    recs.append(make_sample("unreadable", [], [], read_error="line 99: malformed JSON",
                            source={"format": "llava", "file": "demo.json", "index": 99}))
    return Dataset.from_records(recs, image_root=str(photo_dir), format="llava")


@pytest.fixture(scope="session")
def photo_dataset(photo_dir):
    return build_dataset(photo_dir)


BUNDLED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "examples", "data", "llava", "llava.jsonl")


@pytest.fixture(scope="session")
def bundled_dataset(photo_dir):
    """The bundled example (examples/data/llava/llava.jsonl: real photos, a malformed line, a
    missing and a corrupt image, a duplicate) plus the injected samples of
    :func:`build_dataset`; just the latter when the example is not there."""
    injected = build_dataset(photo_dir)
    if not os.path.isfile(BUNDLED):
        return injected
    bundled = vlitq.read(BUNDLED)
    # the injected samples' images by absolute path, so one image root serves both parts
    frame = injected.frame.with_columns(pl.Series("images", [
        [r if r.startswith("data:") else str(photo_dir / r) for r in refs]
        for refs in injected.frame["images"].to_list()]))
    both = pl.concat([bundled.frame, frame], how="diagonal_relaxed")
    return Dataset(both, image_root=bundled.image_root, format="llava", allow_outside_root=True)


@pytest.fixture(scope="session")
def scored(photo_dataset):
    rep = vlitq.score(photo_dataset, ["text_stats", "image_check", "duplicates"], cache=False,
                      progress=False)
    rep.info.setdefault("warnings", []).append(WARNING_SCRIPT)
    return rep


def paper_report(seed=0, shift=0.0, tasks=("caption", "vqa", "reasoning"), n=60,
                 name=None) -> Report:
    """A report with the paper's eight indicators (values chosen, not computed) and a
    per-sample ``matching`` column, for layout and comparison tests."""
    rng = np.random.default_rng(seed)
    task = [tasks[i % len(tasks)] for i in range(n)]
    matching = (rng.normal(25 + shift, 3, n)).tolist()
    samples = pl.DataFrame({"sample_id": [f"p{i}" for i in range(n)], "task": task,
                            "matching": matching, "matching_error": [None] * n},
                           schema_overrides={"matching_error": pl.Utf8})
    vals = {"matching": float(np.mean(matching)), "correctness": 80.0 + shift,
            "task_diversity": float(len(tasks)), "instruction_diversity": 4.0 + shift,
            "response_diversity": 2.0 - shift / 10, "elements": 3.0 + shift,
            "llm_complexity": 5.0 + shift / 2, "balance": 10.0 - shift}
    dirs = {k: "up" for k in vals}
    dirs["balance"] = "down"
    principles = {"matching": "correctness", "correctness": "correctness",
                  "task_diversity": "task diversity",
                  "instruction_diversity": "instruction diversity",
                  "response_diversity": "response diversity", "elements": "complexity",
                  "llm_complexity": "complexity", "balance": "balance"}
    order = ["balance", "llm_complexity", "duplicates", "elements", "response_diversity",
             "matching", "instruction_diversity", "correctness", "task_diversity"]
    rows = []
    for k in order:
        if k == "duplicates":
            rows.append({"indicator": k, "value": 1.5 + shift, "direction": "down",
                         "principle": "diversity", "kind": "indicator", "n": n,
                         "details": json.dumps({"instruction_dup_share": 3.0})})
            continue
        rows.append({"indicator": k, "value": vals[k], "direction": dirs[k],
                     "principle": principles[k],
                     "kind": "scorer" if k == "matching" else "indicator", "n": n,
                     "details": json.dumps({"noise_share": 0.25}) if k == "response_diversity"
                     else None})
    from vlitq.report.report import INDICATOR_SCHEMA

    t = pl.DataFrame({"task": list(tasks)})
    counts = [task.count(x) for x in tasks]
    t = t.with_columns(pl.Series("n", counts), pl.Series("share", [100 * c / n for c in counts]),
                       pl.Series("instruction_diversity",
                                 [3.0 + shift + i for i in range(len(tasks))]))
    info = {"vlitq_version": "0.1.0", "n_samples": n, "format": "llava", "seconds": 1.0,
            "components": {"matching": {"kind": "scorer", "class": "Matching",
                                        "params": {"model": "ViT-L-14"},
                                        "model": "ViT-L-14/openai", "seconds": 0.5}},
            "warnings": []}
    if name:
        info["name"] = name
    return Report(samples=samples, indicators=pl.DataFrame(rows, schema=INDICATOR_SCHEMA),
                  tasks=t, info=info)


@pytest.fixture
def make_paper_report():
    return paper_report


class Payloads:
    markers = PAYLOAD_MARKERS
    raw = RAW_PAYLOADS
    response_script = RESPONSE_SCRIPT
    response_img = RESPONSE_IMG
    task_attr = TASK_ATTR
    task_script = TASK_SCRIPT
    sample_id_attr = SAMPLE_ID_ATTR
    image_ref_attr = IMAGE_REF_ATTR
    warning_script = WARNING_SCRIPT


@pytest.fixture
def payloads():
    return Payloads
