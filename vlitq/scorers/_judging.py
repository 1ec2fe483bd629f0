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


def turn_error(failed: list[str], problems: list[str]) -> str | None:
    """A sample's error from its turns' troubles: a judge that failed (the component could not
    evaluate the sample) comes before a reply that could not be read (a finding on the sample);
    None when every turn was read.

    >>> turn_error([], ["turn 1: no rating"])
    'turn 1: no rating'
    >>> turn_error(["turn 2: the judge failed: 503"], ["turn 1: no rating"])
    'not evaluated: turn 2: the judge failed: 503'
    >>> turn_error([], []) is None
    True
    """
    from vlitq.scorers.base import component_error

    if failed:
        return component_error("; ".join(failed))
    if problems:
        return "; ".join(problems)
    return None


def second_reading(scorer, primary: dict, run) -> None:
    """Fill ``<name>_check`` with a second, independent reading (``scorer.check``): the same
    judge on the prompt variant (``check="prompt"``: the judged examples in reverse order) or a
    second judge (any judge specification) on the same prompt. ``run(variant)`` scores the
    batch into a fresh column dict and returns it."""
    if not scorer.check:
        return
    name = scorer.name
    if scorer.check == "prompt":
        got = run(True)
    else:
        main = scorer._judge_obj
        if scorer._check_obj is None:
            scorer._check_obj = scorer._make_judge(scorer.check)
        scorer._judge_obj = scorer._check_obj
        try:
            got = run(False)
        finally:
            scorer._judge_obj = main
    primary[f"{name}_check"] = got[name]


class JudgeScorerMixin:
    """Judge loading, failure memo and the dataset-level hooks of judge scorers.

    Judge scorers also describe their reliability over a dataset
    (:meth:`judge_reliability`), read by the ``judge_checks`` indicator.
    """

    _judge_obj: Any = None
    _check_obj: Any = None
    _fatal: str | None = None
    #: Column with each sample's confidence, and the value below which it is low.
    confidence_column: str | None = None
    low_confidence: float = 0.7

    @classmethod
    def judge_reliability(cls, samples) -> dict:
        """Spread of the scores, share of low-confidence samples and, when a second reading was
        configured (``check``), the agreement between the two readings.

        Returns a dict with ``n``, ``spread`` (standard deviation of the sample scores),
        ``low_confidence_share`` (share of scored samples whose confidence is below
        :attr:`low_confidence`; None when the column is absent) and, with ``<name>_check``,
        ``agreement`` (see :meth:`reading_agreement`).
        """
        import numpy as np

        name = cls.name
        out: dict = {"n": 0, "spread": None, "low_confidence_share": None}
        if name not in samples.columns:
            return out
        vals = [v for v in samples[name].to_list() if v is not None]
        out["n"] = len(vals)
        num = cls.score_values(samples)
        if len(num) >= 2:
            out["spread"] = round(float(np.std(num)), 4)
        conf = cls.confidences(samples)
        if conf:
            out["low_confidence_share"] = round(
                float(np.mean([c < cls.low_confidence for c in conf])), 4)
            out["low_confidence_below"] = cls.low_confidence
        chk = f"{name}_check"
        if chk in samples.columns:
            pairs = [(a, b) for a, b in zip(samples[name].to_list(), samples[chk].to_list())
                     if a is not None and b is not None]
            out["agreement"] = cls.reading_agreement(pairs)
        return out

    @classmethod
    def score_values(cls, samples) -> list[float]:
        """The numeric sample scores the spread is taken over."""
        return [float(v) for v in samples[cls.name].to_list() if v is not None]

    @classmethod
    def confidences(cls, samples) -> list[float]:
        col = cls.confidence_column
        if not col or col not in samples.columns:
            return []
        return [float(v) for v in samples[col].to_list() if v is not None]

    @classmethod
    def reading_agreement(cls, pairs) -> dict:
        raise NotImplementedError

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
