"""A faster, exact stand-in for spaCy's ``attribute_ruler`` component.

spaCy's English pipelines map the tagger's fine-grained tags to coarse ``POS`` / ``MORPH`` (and
some ``LEMMA`` exceptions) with an ``AttributeRuler``: ~180 token patterns run through the general
``Matcher``. On short instructions that matcher is about a third of the whole pipeline's time
(`benchmarks/bench_elements.py`), although almost every pattern is one token with an equality test
on ``TAG`` / ``LOWER`` / ``DEP``. :class:`FastAttributeRuler` evaluates the same patterns with
hash lookups keyed on those values and applies the matches in the ruler's own order (pattern index,
then start), with spaCy's own ``set_token_attrs`` — the same attributes on every token
(``tests/models/test_spacy_fast.py`` compares every token attribute against the original).

Only the pattern forms it understands are compiled (token keys ``TAG``, ``LOWER``, ``ORTH`` /
``TEXT``, ``DEP``, ``IS_SPACE``; values equal / ``IN`` / ``NOT_IN`` / ``REGEX``; no ``OP``
quantifiers); a ruler with anything else is left as it is (:func:`speed_up`).
"""
from __future__ import annotations

import re
from typing import Any

_KEYS = ("TAG", "LOWER", "ORTH", "TEXT", "DEP", "IS_SPACE")
#: lookup priority (most selective first): the first key of a pattern token with an equality /
#: IN test indexes it
_INDEX_ORDER = ("LOWER", "ORTH", "TEXT", "TAG", "DEP", "IS_SPACE")
_FACTORY = "vlitq_fast_attribute_ruler"


class _Unsupported(Exception):
    pass


def _compile_token(tok: dict) -> list[tuple[str, str, Any]]:
    conds = []
    for key, val in tok.items():
        if key not in _KEYS:
            raise _Unsupported(key)
        if isinstance(val, dict):
            if len(val) != 1:
                raise _Unsupported(val)
            (op, arg), = val.items()
            if op == "IN":
                conds.append((key, "in", frozenset(arg)))
            elif op == "NOT_IN":
                conds.append((key, "not_in", frozenset(arg)))
            elif op == "REGEX":
                conds.append((key, "regex", re.compile(arg)))
            else:
                raise _Unsupported(op)
        elif isinstance(val, (str, bool)):
            if key == "IS_SPACE" and not isinstance(val, bool):
                raise _Unsupported(val)
            conds.append((key, "eq", val))
        else:
            raise _Unsupported(val)
    return conds


def _value(key: str, tok) -> Any:
    if key == "TAG":
        return tok.tag_
    if key == "LOWER":
        return tok.lower_
    if key in ("ORTH", "TEXT"):
        return tok.text
    if key == "DEP":
        return tok.dep_
    return tok.is_space


def _holds(conds, vals: dict) -> bool:
    for key, op, arg in conds:
        v = vals[key]
        if op == "eq":
            if v != arg:
                return False
        elif op == "in":
            if v not in arg:
                return False
        elif op == "not_in":
            if v in arg:
                return False
        elif arg.search(v) is None:  # Matcher REGEX: re.search on the string value
            return False
    return True


class FastAttributeRuler:
    """The patterns of an ``AttributeRuler``, matched by lookup instead of the Matcher."""

    def __init__(self, ruler):
        self.vocab = ruler.vocab
        self.name = ruler.name
        self._attrs = list(ruler.attrs)
        self._indices = list(ruler.indices)
        # (lookup key, value) -> [(attr_id, alternative)]; alternatives without an indexable test
        self._by: dict[tuple[str, Any], list] = {}
        self._generic: list = []
        for attr_id, pat in enumerate(ruler.patterns):
            for alt in pat["patterns"]:
                toks = [_compile_token(t) for t in alt]
                if not toks:
                    raise _Unsupported("empty pattern")
                entry = (attr_id, toks)
                first = {k: (op, arg) for k, op, arg in toks[0]}
                for key in _INDEX_ORDER:
                    op, arg = first.get(key, (None, None))
                    if op == "eq":
                        self._by.setdefault((key, arg), []).append(entry)
                        break
                    if op == "in":
                        for a in arg:
                            self._by.setdefault((key, a), []).append(entry)
                        break
                else:
                    self._generic.append(entry)
        self._keys = sorted({k for k, _ in self._by})
        self._used = sorted({k for pat in ruler.patterns for alt in pat["patterns"]
                             for tok in alt for k in tok})
        from spacy.tokens import Span
        from spacy.tokens._retokenize import set_token_attrs

        self._Span = Span
        self._set = set_token_attrs

    def __call__(self, doc):
        n = len(doc)
        if not n:
            return doc
        used = self._used
        vals = [{k: _value(k, t) for k in used} for t in doc]
        matches = []
        by = self._by
        for s in range(n):
            v = vals[s]
            cands = []
            for key in self._keys:
                got = by.get((key, v[key]))
                if got:
                    cands.extend(got)
            cands.extend(self._generic)
            for attr_id, toks in cands:
                e = s + len(toks)
                if e > n:
                    continue
                if all(_holds(c, vals[s + j]) for j, c in enumerate(toks)):
                    matches.append((attr_id, s, e))
        # spaCy sorts by (pattern index, match id, start, end) and applies in that order, so a
        # later pattern overrides an earlier one on the same token; duplicates (one token found
        # under two IN values) are harmless but are dropped
        for attr_id, s, e in sorted(set(matches)):
            index = self._indices[attr_id]
            self._set(self._Span(doc, s, e)[index], self._attrs[attr_id])
        return doc


_PENDING: dict[int, FastAttributeRuler] = {}


def _make(nlp, name, key: int):  # the factory spaCy calls in replace_pipe
    return _PENDING.pop(key)


def speed_up(nlp) -> bool:
    """Replace ``nlp``'s ``attribute_ruler`` by :class:`FastAttributeRuler` when every pattern
    compiles; return whether it did. The pipeline's names and order stay as they were."""
    if "attribute_ruler" not in nlp.pipe_names:
        return False
    ruler = nlp.get_pipe("attribute_ruler")
    if type(ruler).__name__ != "AttributeRuler":
        return False
    try:
        fast = FastAttributeRuler(ruler)
    except _Unsupported:
        return False
    from spacy.language import Language

    if not Language.has_factory(_FACTORY):
        Language.factory(_FACTORY, func=_make)
    _PENDING[id(fast)] = fast
    try:
        nlp.replace_pipe("attribute_ruler", _FACTORY, config={"key": id(fast)})
    finally:
        _PENDING.pop(id(fast), None)
    return nlp.get_pipe("attribute_ruler") is fast
