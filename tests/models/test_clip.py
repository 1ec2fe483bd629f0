"""ClipEncoder: loading paths users use (folder, weights file, HF folder), windowing, errors."""
import io
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from vlitq.models.clip import ClipEncoder, ClipLoadError, model_identity, save_open_clip

@pytest.fixture(scope="module")
def tiny_dir(tiny_open_clip_dir):
    return tiny_open_clip_dir


def _png(color=(255, 0, 0), size=(40, 30)):
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", size, color).save(b, "PNG")
    return b.getvalue()


def test_folder_and_weights_file_give_same_embeddings(tiny_dir, tiny_open_clip_config, tmp_path):
    a = ClipEncoder(tiny_dir, workers=1).load()
    assert a.backend == "open_clip" and a.context_length == 16
    # the "architecture name + local weights file" path (pretrained="/path/weights.bin")
    cfg_file = tmp_path / "vlitq-tiny-test.json"
    cfg_file.write_text(json.dumps(tiny_open_clip_config))
    open_clip.add_model_config(str(cfg_file))
    b = ClipEncoder("vlitq-tiny-test", os.path.join(tiny_dir, "open_clip_pytorch_model.bin"),
                    workers=1).load()
    ta, tb = a.encode_texts(["a red circle"]), b.encode_texts(["a red circle"])
    np.testing.assert_allclose(ta, tb, atol=1e-5)
    ia = a.encode_image_bytes([_png()])[0]
    ib = b.encode_image_bytes([_png()])[0]
    np.testing.assert_allclose(ia, ib, atol=1e-5)
    assert abs(np.linalg.norm(ia) - 1) < 1e-5
    # random init differs: the weights really were loaded from the file
    c = ClipEncoder("vlitq-tiny-test", None, workers=1).load()
    assert np.abs(c.encode_texts(["a red circle"]) - ta).max() > 1e-3


def test_long_text_is_windowed_not_truncated(tiny_dir):
    enc = ClipEncoder(tiny_dir, workers=1).load()
    head = "red circle " * 7  # 14 tokens: exactly one window (context 16 - sot - eot)
    wins, counts = enc.text_windows(head + "blue square " * 10)
    assert len(wins) == 3 and counts == [14, 14, 6]
    assert all(len(w) <= 16 and w[0] == enc._tokenizer.sot_token_id for w in wins)
    long = enc.encode_texts([head + "blue square " * 10])[0]
    trunc = enc.encode_texts([head])[0]
    assert enc.windows_split == 1
    assert np.abs(long - trunc).max() > 1e-3  # the tail changed the embedding
    # the average of window embeddings weighted by tokens, re-normalised
    w = enc._encode_windows(wins)
    manual = (w * np.array(counts)[:, None]).sum(0)
    np.testing.assert_allclose(long, manual / np.linalg.norm(manual), atol=1e-5)


def test_thread_and_process_workers_agree(tiny_dir):
    datas = [_png((i * 40, 0, 0)) for i in range(5)] + [b"not an image"]
    t = ClipEncoder(tiny_dir, workers=2, batch_size=4).load()
    res_t = t.encode_image_bytes(datas)
    assert t.image_forward_calls == 2 and t.images_encoded == 5
    p = ClipEncoder(tiny_dir, workers=2, worker_type="process").load()
    res_p = p.encode_image_bytes(datas)
    for a, b in zip(res_t[:5], res_p[:5]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert isinstance(res_t[5], Exception) and isinstance(res_p[5], Exception)
    assert "cannot be decoded" in str(res_t[5])


def test_missing_weights_give_a_clear_error(tmp_path):
    enc = ClipEncoder("ViT-B-32", str(tmp_path / "nope.bin"))
    with pytest.raises(ClipLoadError, match="weights file not found"):
        enc.load()
    enc = ClipEncoder("not-a-model-xyz", "openai")
    with pytest.raises(ClipLoadError, match="pass a local path"):
        enc.load()


def test_model_identity_fingerprints_local_files(tiny_dir, tiny_open_clip_config, tmp_path):
    a = model_identity(tiny_dir, None)
    assert a.startswith("open_clip:") and a == model_identity(tiny_dir, None)
    other = tmp_path / "other"
    torch.manual_seed(1)
    cfg = tiny_open_clip_config
    save_open_clip(open_clip.CLIP(**cfg), cfg, str(other))
    assert model_identity(str(other), None).split(":")[-1] != a.split(":")[-1]


# ---------------------------------------------------------------- transformers backend
@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    tr = pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("hf")
    # a real CLIP BPE tokenizer built from the vocabulary open_clip ships (no hub access)
    tok = open_clip.tokenizer.SimpleTokenizer()
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(k, k): v for k, v in tok.encoder.items()}
    (d / "vocab.json").write_text(json.dumps(vocab))
    merges = sorted(tok.bpe_ranks.items(), key=lambda kv: kv[1])
    (d / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p, _ in merges))
    hf_tok = tr.CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    assert len(hf_tok) == 49408
    ip = tr.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    cfg = tr.CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16,
                     "vocab_size": 49408},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16)
    torch.manual_seed(0)
    out = d / "clip"
    tr.CLIPModel(cfg).save_pretrained(out)
    tr.CLIPProcessor(image_processor=ip, tokenizer=hf_tok).save_pretrained(out)
    return str(out)


def test_transformers_folder(hf_dir):
    enc = ClipEncoder(hf_dir, workers=1)
    assert enc.backend == "transformers"
    enc.load()
    assert enc.context_length == 16
    e = enc.encode_image_bytes([_png(), _png((0, 0, 255))])
    assert e[0].shape == (16,) and np.abs(e[0] - e[1]).max() > 1e-4
    t = enc.encode_texts(["a red circle", "a blue square " * 20])
    assert t.shape == (2, 16) and enc.windows_split == 1
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    wins, counts = enc.text_windows("a blue square " * 20)
    assert len(wins) == 5 and sum(counts) == 60


def test_length_batched_text_encoding_equals_padding_to_the_context(tiny_dir):
    texts = ["a red circle", "blue", "a big green triangle next to a small square",
             "red circle " * 12, "", "a red circle", "blue square " * 10]
    full = ClipEncoder(tiny_dir, workers=1, batch_size=3, trim_text=False).load()
    trim = ClipEncoder(tiny_dir, workers=1, batch_size=3).load()
    a, b = full.encode_texts(texts), trim.encode_texts(texts)
    assert trim._trim_ok()
    np.testing.assert_allclose(a, b, atol=1e-5)
    # identical texts are encoded once; batches hold windows of similar length, each padded
    # only to its longest window, so far fewer token positions go through the tower
    assert trim.texts_encoded == 6 and full.texts_encoded == 6
    assert trim.text_tokens_encoded < 0.8 * full.text_tokens_encoded
    # the per-batch length really varies (not all padded to 16)
    wins = [w for t in texts[:3] for w in trim.text_windows(t)[0]]
    ids = trim._tokenize_windows(wins, max(len(w) for w in wins))["ids"]
    assert ids.shape[1] < trim.context_length
    direct = trim._net.encode_text(full._tokenize_windows(wins)["ids"]).detach().numpy()
    mine = trim._open_clip_text(ids).detach().numpy()
    np.testing.assert_allclose(mine, direct, atol=1e-5)


def test_towers_that_see_padding_are_not_trimmed(tiny_dir):
    enc = ClipEncoder(tiny_dir, workers=1).load()
    enc._net.attn_mask = None  # a bidirectional text tower: the padding would change it
    enc._trim = None
    assert not enc._trim_ok()
    t = enc.encode_texts(["a red circle", "blue"])
    assert t.shape[0] == 2
