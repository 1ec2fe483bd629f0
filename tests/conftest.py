import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLITQ_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder: no test sees another's cached results."""
    monkeypatch.setenv("VLITQ_CACHE_HOME", str(tmp_path / "vlitq-cache"))
    yield


# A tiny open_clip model (random weights), built once per session and saved the way users save
# theirs; the CLIP tests, the matching tests and the common scorer contract all load it by path.
TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_open_clip_config():
    import copy

    return copy.deepcopy(TINY_OPEN_CLIP)


@pytest.fixture(scope="session")
def tiny_open_clip_dir(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    from vlitq.models.clip import save_open_clip

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("oc") / "tiny"
    save_open_clip(open_clip.CLIP(**TINY_OPEN_CLIP), TINY_OPEN_CLIP, str(d))
    return str(d)


def real_corpus_dir():
    """The optional corpus of real public VLIT files, or None.

    Developers may not commit fetched files (a workplace rule), so the corpus lives outside the
    repo: ``$VLITQ_REAL_DATA``, else ``../shared/real`` beside the checkout. Its expected layout
    and provenance are in ``tests/data/real/SOURCES.md``.
    """
    from pathlib import Path

    env = os.environ.get("VLITQ_REAL_DATA")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[1].parent / "shared" / "real")
    for c in cands:
        if c.is_dir() and any(c.iterdir()):
            return c
    return None


@pytest.fixture(scope="session")
def real_corpus():
    """Path of the real-data corpus; the test is skipped (with the reason) where there is none."""
    d = real_corpus_dir()
    if d is None:
        pytest.skip("no real-data corpus: set VLITQ_REAL_DATA (see tests/data/real/SOURCES.md)")
    return d
