import os
import re
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "metrics",
                                "response_diversity"))
from families import family_responses


def _tiny_bert(path, texts):
    """A 2-layer random BERT with a word-level vocabulary of ``texts``, saved to ``path``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "vocab.txt"), "w") as fh:
        fh.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tok = BertTokenizerFast(os.path.join(path, "vocab.txt"))
    tok.save_pretrained(path)
    cfg = BertConfig(vocab_size=len(words) + 5, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    import torch

    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(path)
    return path


def test_train_simcse_tiny_bert_loss_falls_and_reloads(tmp_path):
    from vlitq.models import train_simcse
    from vlitq.models.text import SentenceEncoder

    texts = [t for _, t in family_responses(8, per_family=8)]
    base = _tiny_bert(str(tmp_path / "tiny"), texts)
    res = train_simcse(texts, base=base, steps=12, batch_size=8, lr=1e-3,
                       out=tmp_path / "adapted", seed=0)
    assert len(res.losses) == 12 and all(np.isfinite(res.losses))
    first, last = np.mean(res.losses[:3]), np.mean(res.losses[-3:])
    assert last < 0.5 * first, (first, last)
    # the saved folder is a sentence-transformers model that SentenceEncoder loads
    emb = SentenceEncoder(res.path, device="cpu").encode(texts[:4])
    assert emb.shape == (4, 32)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # training changed the weights: embeddings differ from the base model's
    base_emb = SentenceEncoder(base, device="cpu").encode(texts[:4])
    assert not np.allclose(emb, base_emb, atol=1e-3)


def test_train_simcse_rejects_too_few_texts(tmp_path):
    from vlitq.models import train_simcse

    with pytest.raises(ValueError, match="two distinct"):
        train_simcse(["same", "same", ""], steps=1, out=tmp_path / "x")
