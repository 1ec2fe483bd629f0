"""Shared plumbing of judge-based scorers (``correctness``, ``llm_complexity``).

Not a scorer module (the leading underscore keeps :func:`vlitq.registry.discover` away).
"""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("vlitq")

#: Prompt tokens an image costs in LLaVA-1.5 (336 px / 14 px patches = 24 x 24); used by the
#: cost estimates only.
IMAGE_TOKENS = 576


def approx_tokens(text: str) -> int:
    """Token estimate used before any model is loaded (~4 characters per token in English)."""
    return max(1, (len(text) + 3) // 4)


def clip_text(text: str | None, max_chars: int) -> str:
    """``text`` cleaned (:func:`vlitq.text.clean`: the text every scorer reads) and cut to
    ``max_chars`` characters (:func:`vlitq.text.cap_text`), marked when cut (judges see it was
    cut)."""
    from vlitq.text import cap_text, clean

    text, cut = cap_text(clean(text), max_chars)
    return text + " [...]" if cut else text


class JudgeScorerMixin:
    """Judge loading, failure memo and the dataset-level warning hook for judge scorers."""

    _judge_obj: Any = None
    _fatal: str | None = None

    def _make_judge(self, spec):
        from vlitq.cache import Cache
        from vlitq.models.judges import get_judge

        return get_judge(spec, cache=Cache() if self.judge_cache else None)

    def model_id(self) -> str | None:
        from vlitq.models.judges import get_judge

        try:
            return get_judge(self.judge).model_id()
        except Exception as exc:  # model id must not fail scoring; the load will say why
            return f"{self.judge!r} ({type(exc).__name__})"

    def _call(self, method: str, *args, **kw):
        """Judge call; a failure of the backend itself (server down, model missing:
        :class:`~vlitq.models.judges.JudgeUnavailable`) is remembered so later batches fail
        fast with the same one message. A prompt that kept failing comes back as a
        :class:`~vlitq.models.judges.PromptFailure` in its slot and fails its sample only."""
        from vlitq.models.judges import JudgeUnavailable

        if self._fatal:
            raise JudgeUnavailable(self._fatal)
        try:
            return getattr(self._judge_obj, method)(*args, **kw)
        except JudgeUnavailable as exc:
            self._fatal = str(exc)
            raise

    def _generate(self, prompts, images, **kw):
        return self._call("generate", prompts, images, **kw)

    def _score_options(self, prompts, options, images=None, **kw):
        return self._call("score_options", prompts, options, images, **kw)
