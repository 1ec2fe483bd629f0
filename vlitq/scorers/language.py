"""``language``: language of each sample's instructions and responses (M3IT is multilingual)."""
from __future__ import annotations

from typing import ClassVar

from vlitq.registry import register
from vlitq.scorers.base import Scorer


@register
class LanguageScorer(Scorer):
    """Language of the instruction and the response, with an offline identifier.

    ``py3langid`` (the langid.py model: 97 languages, ISO 639-1 codes, no network) via
    :func:`vlitq.models.nlp.detect_language`; text written mainly in Chinese characters is
    ``"zh"``; text with too few letters (``"A."``, ``"3"``) is ``"und"``; a response of fewer
    than ``min_words`` words takes the language of the instructions.

    Columns: ``language`` (of all instructions and responses together — the sample's
    language), ``language_instruction``, ``language_response``, ``language_confidence``
    (probability of ``language``), and ``language_given`` (the language the data itself
    declares, when it has a ``language`` column: the report shows both side by side). The
    dataset-level distribution is the ``languages`` indicator. A sample without any text is an
    error.

    Parameters
    ----------
    candidates : list of str, optional
        Restrict answers to these ISO 639-1 codes (e.g. the languages of M3IT); more accurate
        on short texts.
    min_letters : int
        Texts with fewer letters are ``"und"``.
    min_words : float
        A response shorter than this many words (:func:`vlitq.text.length_words`; "yes",
        "bed", "Watching.") is too short to identify: it takes the language of the sample's
        instructions, unless its script decides (Chinese characters). A response without
        letters ("57 177 491 629") stays ``"und"``.

    Examples
    --------
    >>> LanguageScorer(candidates=["en", "zh"]).output_columns()[:3]
    ['language', 'language_error', 'language_instruction']
    """

    name = "language"
    principle = "language"
    direction = None
    extra_columns = ("instruction", "response", "confidence", "given")
    inputs = ("turns", "language")
    aggregate = "none"
    batch_size = 512
    requires: ClassVar[tuple[str, ...]] = ("nlp",)

    def __init__(self, *, candidates: list[str] | None = None, min_letters: int = 2,
                 min_words: float = 3.0):
        self.candidates = candidates
        self.min_letters = min_letters
        self.min_words = min_words

    def model_id(self) -> str | None:
        return "py3langid"

    def load(self) -> None:
        from vlitq.models.nlp import _identifier

        _identifier()

    def score_batch(self, batch):
        from vlitq import text
        from vlitq.models.nlp import detect_language

        n = len(batch["turns"])
        given = batch.get("language") or [None] * n
        out = {c: [] for c in self.output_columns()}

        def det(text):
            if not text:
                return None, None
            return detect_language(text, min_letters=self.min_letters,
                                   candidates=self.candidates)

        for turns, g in zip(batch["turns"], given):
            turns = turns or []
            ins = "\n".join(p for p in (text.instruction(t) for t in turns) if p)
            res = "\n".join(p for p in (text.response(t) for t in turns) if p)
            both = f"{ins}\n{res}".strip()
            li, _ = det(ins)
            if (res and li not in (None, "und") and text.length_words(res) < self.min_words
                    and not text.is_chinese(res)):
                lr = li  # n-gram models give a random code to "yes" or "bed"
            else:
                lr, _ = det(res)
            lb, pb = det(both)
            out["language"].append(lb)
            out["language_instruction"].append(li)
            out["language_response"].append(lr)
            out["language_confidence"].append(pb)
            out["language_given"].append(g)
            out["language_error"].append(None if both else "no text")
        return out
