"""The paper's backends, installable as extras (#14.7): HanLP for ``elements`` and the
``simcse`` package for ``response_diversity``. Each imports, and a missing model gives one
error that says how to point at a local model folder (no model hub here)."""
import os

import numpy as np
import pytest

from vlitq.data.dataset import Dataset, make_sample


def _batch():
    recs = [make_sample(f"s{i}", [("图中的男人手里拿着什么？", "一把伞。")], []) for i in range(3)]
    return Dataset.from_records(recs).to_batch()


def test_hanlp_extra_imports():
    hanlp = pytest.importorskip("hanlp", reason='hanlp not installed: pip install "vlitq[hanlp]"')
    assert callable(hanlp.load)


def test_hanlp_missing_model_is_one_clear_error(tmp_path):
    pytest.importorskip("hanlp", reason='hanlp not installed: pip install "vlitq[hanlp]"')
    from vlitq.scorers.elements import ElementsScorer

    missing = str(tmp_path / "no-sdp-model")
    out = ElementsScorer(backend="hanlp", hanlp_model=missing)(_batch())
    errs = out["elements_error"]
    assert all(e for e in errs) and len(set(errs)) == 1, errs
    msg = errs[0]
    assert missing in msg and "hanlp_model='/path/to/folder'" in msg
    assert "Traceback" not in msg and all(v is None for v in out["elements"])


def test_simcse_extra_imports():
    simcse = pytest.importorskip(
        "simcse", reason='simcse not installed: pip install "vlitq[simcse]" && '
                         'pip install --no-deps simcse==0.4')
    assert hasattr(simcse, "SimCSE")


def test_simcse_missing_checkpoint_is_one_clear_error(tmp_path):
    pytest.importorskip("simcse", reason="simcse not installed")
    import vlitq
    from vlitq.indicators.response_diversity import ResponseDiversity, load_simcse
    from vlitq.models.nlp import MissingModelError

    missing = str(tmp_path / "no-checkpoint")
    with pytest.raises(MissingModelError, match="simcse:/path/to/folder"):
        load_simcse(missing)
    # a hub id is not fetched either
    with pytest.raises(MissingModelError, match="local checkpoint folder"):
        load_simcse("princeton-nlp/unsup-simcse-bert-base-uncased")
    recs = [make_sample(f"s{i}", [("Describe it.", f"Response number {i}.")], [], task="t")
            for i in range(4)]
    r = vlitq.score(Dataset.from_records(recs), [ResponseDiversity(model=f"simcse:{missing}")],
                    cache=False, progress=False)
    said = [w for w in r.warnings if "simcse" in w.lower()]
    assert len(said) == 1 and "simcse:/path/to/folder" in said[0], r.warnings


@pytest.fixture(scope="module")
def tiny_simcse_dir(tmp_path_factory):
    """A tiny random BERT checkpoint (config + weights + tokenizer), shaped like a SimCSE one."""
    pytest.importorskip("simcse", reason="simcse not installed")
    transformers = pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("tiny-simcse")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "bus", "cat", "dog", "on",
             "the", "street", "sofa", "."]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(d / "vocab.txt"))
    tok.save_pretrained(str(d))
    cfg = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=64)
    import torch

    torch.manual_seed(0)
    transformers.BertModel(cfg).save_pretrained(str(d))
    return str(d)


def test_simcse_local_checkpoint_encodes(tiny_simcse_dir):
    from vlitq.indicators.response_diversity import SimCSEPackageEncoder

    enc = SimCSEPackageEncoder(tiny_simcse_dir, device="cpu", max_words=4)
    texts = ["a red bus on the street", "a cat on the sofa", "a dog ."]
    emb = enc.encode(texts)
    assert emb.shape[0] == 3 and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert enc.windows_split == 2  # the first two are longer than 4 words
    assert os.path.isdir(tiny_simcse_dir)
