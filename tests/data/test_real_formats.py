"""The readers on the real public files of the optional corpus (``tests/data/real/SOURCES.md``).

Skipped where the corpus is absent; every convention here also has a test on records the tests
write themselves (``test_conventions.py``).
"""
import os

import pytest

from vlitq.data.formats import detect, read, write

# file: (detected format, rows, images of the first row, read options)
REAL = {
    "llamafactory_mllm_demo/mllm_demo.json": ("llamafactory", 6, 2, {}),
    "llamafactory_mllm_demo/v1_multimodal_demo.jsonl": ("llamafactory", None, 2, {}),
    "llamafactory_mllm_demo/alpaca_en_demo.json": ("llamafactory", 999, 0, {}),  # 999 in the file
    "llamafactory_mllm_demo/alpaca_zh_demo.json": ("llamafactory", 1000, 0, {}),
    "llava_bench_coco/qa90_questions.jsonl": ("qa", 90, 1, {}),
    "llava_vicuna_eval/question.jsonl": ("qa", 400, 0, {}),
    "llava_bench_coco/coco2014_val_gpt4_qa_30x3.jsonl": ("llamafactory", 90, 1, {}),
    "cc_blip_captions/blip_laion_cc_200_test_samples.json": ("llava", 200, 1, {}),
    "multiinstruct/train.jsonl": ("multiinstruct", 59, 1, {}),
}


@pytest.mark.parametrize("rel", sorted(REAL))
def test_real_file_reads_and_round_trips(real_corpus, rel, tmp_path):
    path = os.path.join(real_corpus, rel)
    if not os.path.exists(path):
        pytest.skip(f"{rel} is not in the corpus")
    fmt, rows, n_img, opts = REAL[rel]
    assert detect(path) == fmt
    ds = read(path, **opts)
    if rows is not None:
        assert len(ds) == rows
    assert ds["read_error"].null_count() == len(ds)
    assert all(t for t in ds["turns"].to_list())  # no empty turns
    assert len(ds["images"][0]) == n_img
    out = str(tmp_path / os.path.basename(path))
    write(ds, out)
    back = read(out)
    assert back["sample_id"].to_list() == ds["sample_id"].to_list()
    assert back["turns"].to_list() == ds["turns"].to_list()


def test_real_flat_file_with_a_mapping(real_corpus):
    path = os.path.join(real_corpus, "cc_blip_captions/llava13b_baseline_inference.json")
    if not os.path.exists(path):
        pytest.skip("not in the corpus")
    ds = read(path, instruction="prompt", response="generated", id="image_id")
    assert ds.format == "flat" and len(ds) == 200 and ds["read_error"].null_count() == 200
