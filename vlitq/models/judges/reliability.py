"""Reliability tools for judges: strict parsers, majority votes, repeated scores, collapse checks.

>>> majority_vote([True, True, False, None, True])
Vote(label=True, agreement=0.75, counts={True: 3, False: 1}, n_valid=4, n_invalid=1)
>>> parse_rating("Score: 7/10")
7
>>> parse_rating("I cannot rate this.") is None
True
>>> collapse_warning([7, 7, 7, 7, 7, 7], "llm_complexity")
'llm_complexity: all 6 scored items got the same value (7); the judge has collapsed to a single answer, so the dataset figure carries no information (use a stronger judge model)'
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

_YES = {"yes", "correct", "true", "right", "accurate"}
_NO = {"no", "incorrect", "false", "wrong", "inaccurate"}
_WORD = re.compile(r"[a-z]+")
_NUM = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w])")


def parse_yes_no(text: str | None) -> bool | None:
    """True for a yes/correct answer, False for no/incorrect, None when unparseable.

    The first word decides; otherwise the answer counts only when exactly one polarity occurs
    ("The answer is yes." → True; "yes and no" → None).

    >>> [parse_yes_no(t) for t in ["Yes.", "no, it is a dog", "Incorrect", "maybe", "could be yes or no"]]
    [True, False, False, None, None]
    """
    if not text:
        return None
    words = _WORD.findall(text.lower())
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    # "not correct" must not read as "correct"
    seen = set()
    for i, w in enumerate(words):
        if w in _YES:
            seen.add(not (i > 0 and words[i - 1] in ("not", "isn")))
        elif w in _NO:
            seen.add(False)
    return seen.pop() if len(seen) == 1 else None


def parse_rating(text: str | None, low: int = 1, high: int = 10) -> int | None:
    """The first number in ``text`` if it is an integer in ``[low, high]``; else None.

    A reply without a number, with a fraction, or out of range is unparseable — never a zero.

    >>> [parse_rating(t) for t in ["8", "Rating: 3.", "10/10", "0", "11", "6.5", "none", ""]]
    [8, 3, 10, None, None, None, None, None]
    """
    if not text:
        return None
    m = _NUM.search(text)
    if not m:
        return None
    s = m.group(1)
    if "." in s:
        return None
    v = int(s)
    return v if low <= v <= high else None


@dataclass
class Vote:
    """Outcome of a majority vote over k judge answers.

    Attributes
    ----------
    label : any
        The majority answer; None when there is no valid answer or the top answers tie.
    agreement : float or None
        Share of valid answers equal to the label (None without a label).
    counts : dict
        Answer → count over valid answers.
    n_valid, n_invalid : int
        Parseable and unparseable answers (unparseable ones are not votes).
    """

    label: Any
    agreement: float | None
    counts: dict = field(default_factory=dict)
    n_valid: int = 0
    n_invalid: int = 0


def majority_vote(answers: Sequence[Any]) -> Vote:
    """Majority over the non-None answers; a tie gives ``label=None``.

    >>> majority_vote([True, False])
    Vote(label=None, agreement=None, counts={True: 1, False: 1}, n_valid=2, n_invalid=0)
    >>> majority_vote([None, None]).label is None
    True
    """
    valid = [a for a in answers if a is not None]
    n_invalid = len(answers) - len(valid)
    counts = dict(Counter(valid).most_common())
    if not valid:
        return Vote(None, None, counts, 0, n_invalid)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return Vote(None, None, counts, len(valid), n_invalid)
    label, c = ranked[0]
    return Vote(label, c / len(valid), counts, len(valid), n_invalid)


def numeric_summary(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, population standard deviation, n) of the non-None values.

    >>> numeric_summary([6, 8, None])
    (7.0, 1.0, 2)
    >>> numeric_summary([None])
    (None, None, 0)
    """
    v = [float(x) for x in values if x is not None]
    if not v:
        return None, None, 0
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / len(v))
    return m, sd, len(v)


def collapse_warning(values: Sequence[Any], name: str, *, min_items: int = 5,
                     max_mode_share: float = 0.95, min_std: float = 1e-6) -> str | None:
    """A warning when a judge's scores over a dataset have collapsed; None when they have not.

    Collapsed: every scored item got the same value, the numeric spread is ~0, or one value
    covers more than ``max_mode_share`` of the items. Fewer than ``min_items`` scored items are
    not judged.

    >>> collapse_warning([1, 2, 3, 4, 5], "x") is None
    True
    >>> collapse_warning([True] * 20, "correctness")[:54]
    'correctness: all 20 scored items got the same value (T'
    """
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if len(v) < min_items:
        return None
    counts = Counter(v)
    mode, c = counts.most_common(1)[0]
    if len(counts) == 1:
        return (f"{name}: all {len(v)} scored items got the same value ({mode}); the judge has "
                "collapsed to a single answer, so the dataset figure carries no information "
                "(use a stronger judge model)")
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        _, sd, _ = numeric_summary(v)
        if sd is not None and sd < min_std:
            return f"{name}: scores of {len(v)} items have ~zero spread (sd={sd:.2g})"
    share = c / len(v)
    if share > max_mode_share:
        return (f"{name}: {100 * share:.0f}% of {len(v)} scored items got the same value "
                f"({mode}); the judge's scores have nearly collapsed")
    return None
