"""``text_stats``: text lengths and turn/image counts, plus empty and oversized text checks."""
from __future__ import annotations

from vlitq import text
from vlitq.registry import register
from vlitq.scorers.base import Scorer


@register
class TextStats(Scorer):
    """Response length in characters (``text_stats``) with the sample's shape beside it.

    Lengths are of the cleaned text (:func:`vlitq.text.clean`: image placeholders removed,
    whitespace tidied), the text every other scorer reads.

    Columns: ``text_stats`` (characters over all responses), ``text_stats_instruction_chars``,
    ``text_stats_response_words``, ``text_stats_turns``, ``text_stats_images``. An empty
    instruction or response, or a text longer than ``max_chars``, is reported in
    ``text_stats_error`` (the counts are still filled in: they are what the data holds).

    Parameters
    ----------
    max_chars : int
        Texts longer than this are flagged (a 1 MB response is almost always a scraping error).

    Examples
    --------
    >>> s = TextStats()
    >>> out = s({"sample_id": ["a"], "images": [[]],
    ...          "turns": [[{"instruction": "Why?", "response": ""}]]})
    >>> out["text_stats"], out["text_stats_error"]
    ([0], ['empty response in turn 1'])
    """

    name = "text_stats"
    principle = "shape"
    direction = None
    extra_columns = ("instruction_chars", "response_words", "turns", "images")
    cacheable = False  # counting costs what a cache look-up does (0.56 vs 0.52 CPU-s at 10k)
    batch_size = 4096

    def __init__(self, *, max_chars: int = 100_000):
        self.max_chars = max_chars

    def score_batch(self, batch):
        out = {c: [] for c in self.output_columns()}
        for turns, images in zip(batch["turns"], batch.get("images", [[]] * len(batch["turns"]))):
            turns = turns or []
            problems = []
            if not turns:
                problems.append("no turns")
            ic = rc = rw = 0
            for k, t in enumerate(turns, start=1):
                ins, res = text.instruction(t), text.response(t)
                if not ins:
                    problems.append(f"empty instruction in turn {k}")
                if not res:
                    problems.append(f"empty response in turn {k}")
                for what, txt in (("instruction", ins), ("response", res)):
                    if len(txt) > self.max_chars:
                        problems.append(f"{what} in turn {k} has {len(txt)} characters "
                                        f"(> max_chars={self.max_chars})")
                ic += len(ins)
                rc += len(res)
                rw += len(res.split())
            out["text_stats"].append(rc)
            out["text_stats_error"].append("; ".join(problems) or None)
            out["text_stats_instruction_chars"].append(ic)
            out["text_stats_response_words"].append(rw)
            out["text_stats_turns"].append(len(turns))
            out["text_stats_images"].append(len(images or []))
        return out
