"""``duplicates``: exact-duplicate instructions and instruction-response pairs."""
from __future__ import annotations

import itertools
from collections import Counter

from vlitq._utils import blake2b, iter_values
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register
from vlitq.text import clean


def _norm(text: str | None) -> str:
    # the cleaned text every component reads (placeholders out), lower-cased, one line
    return " ".join(clean(text).lower().split())


@register
class Duplicates(Indicator):
    """Share (%) of samples whose whole conversation repeats another sample's exactly
    (after removing image placeholders, lower-casing and collapsing whitespace:
    :func:`vlitq.text.clean`); lower is better.

    Sample columns: ``duplicates_instruction`` (how many other samples have the same
    instructions), ``duplicates_pair`` (same instructions and responses). Details:
    ``instruction_dup_share`` (%).
    """

    name = "duplicates"
    principle = "diversity"
    direction = "down"
    size_dependent = True  # a count (or share of repeats) that grows with N

    def __init__(self, *, include_images: bool = True):
        self.include_images = include_images

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        frame = ctx.dataset.frame
        valid = ctx.valid_mask()
        ins_keys, pair_keys = [], []
        images = (iter_values(frame["images"]) if self.include_images
                  else itertools.repeat(None))
        for turns, imgs, ok in zip(iter_values(frame["turns"]), images, valid):
            if not ok:
                ins_keys.append(None)
                pair_keys.append(None)
                continue
            turns = turns or []
            ins = "\x1f".join(_norm(t["instruction"]) for t in turns)
            res = "\x1f".join(_norm(t["response"]) for t in turns)
            img = "\x1f".join(imgs or [])
            ins_keys.append(blake2b(ins, img))
            pair_keys.append(blake2b(ins, res, img))
        ci, cp = Counter(k for k in ins_keys if k), Counter(k for k in pair_keys if k)
        dup_ins = [None if k is None else ci[k] - 1 for k in ins_keys]
        dup_pair = [None if k is None else cp[k] - 1 for k in pair_keys]
        n = sum(valid)
        share = 100.0 * sum(1 for d in dup_pair if d) / n if n else None
        ishare = 100.0 * sum(1 for d in dup_ins if d) / n if n else None
        return IndicatorResult(
            value=share,
            details={"n": n, "instruction_dup_share": ishare},
            sample_columns={"duplicates_instruction": dup_ins, "duplicates_pair": dup_pair},
        )
