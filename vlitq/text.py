"""The one text pipeline of vlitq: what every scorer and indicator reads of a turn.

Every component that reads instruction or response text goes through this module, so the same
turn is the same text everywhere:

Cleaning (:func:`clean`)
    Image placeholders of every known convention (:data:`PLACEHOLDER`) are removed, then
    whitespace is tidied: runs of spaces/tabs become one space, lines are trimmed, empty lines
    dropped (so LLaVA's ``"<image>\\n"`` leaves nothing behind), line breaks kept (they separate
    sentences and option lines). ``None`` is ``""``. :func:`instruction`, :func:`response` and
    :func:`turn_text` give the cleaned text of a turn.
Script (:func:`han_share`, :func:`is_chinese`, :func:`has_cjk`)
    Character-class tests, no model. They route text to the Chinese tokeniser.
Tokenisation (:func:`words`, :func:`content_words`, :func:`length_words`)
    jieba segmentation for text holding CJK ideographs, ``\\w+`` word tokens otherwise.
Stop words (:func:`stop_words`)
    English: spaCy's list, read from the installed spaCy's data file without importing spaCy
    (stopwordsiso's list when spaCy is absent); Chinese: stopwordsiso's. Loaded once, lazily.
Windows and caps (:func:`split_windows`, :func:`cap_text`)
    Overlapping word windows for encoders; a length cap for expensive scorers that says whether
    it cut.
Grouping (:func:`texts_by_task`, :func:`text_counts_by_task`)
    The cleaned, non-empty instructions or responses of each task, as lists or as counts.

Nothing heavy is imported here: jieba and stopwordsiso load on first use.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "PLACEHOLDER",
    "TEXT_MODES",
    "cap_text",
    "clean",
    "content_words",
    "han_share",
    "has_cjk",
    "instruction",
    "is_chinese",
    "length_words",
    "letters",
    "n_windows",
    "response",
    "segment",
    "split_windows",
    "stop_words",
    "strip_placeholders",
    "texts_by_task",
    "text_counts_by_task",
    "turn_text",
    "words",
]

# ------------------------------------------------------------------------------ placeholders
#: Image/video placeholders of the VLIT formats in use, matched case-insensitively:
#: ``<image>``/``<Image>``/``<video>`` (LLaVA and most others), ``<image_1>``/``<image 2>``
#: (numbered multi-image), ``<ImageHere>`` (InternLM-XComposer, MiniGPT-4), ``<img>…</img>``
#: with the path or token inside and an optional ``Picture 1:`` before it (Qwen-VL;
#: MiniGPT-4's ``<Img><ImageHere></Img>``), lone ``<img>``/``</img>``/``<IMG_CONTEXT>``
#: (InternVL), ``<image_placeholder>``, ``<im_start>``/``<im_end>``/``<im_patch>`` (LLaVA v0),
#: ``<|image|>`` (mPLUG-Owl), ``<|image_1|>`` (Phi-3-vision), ``<|vision_start|>``,
#: ``<|image_pad|>``, ``<|vision_end|>`` (Qwen2-VL), ``[IMG]``/``[IMG_BREAK]``/``[IMG_END]``
#: (Pixtral) and ``[image]``.
PLACEHOLDER = re.compile(
    r"(?=[<\[p])(?:"  # every convention starts so: a cheap test at each position (3x faster)
    r"(?:\bPicture\s*\d+\s*[:：]\s*)?<\s*img\s*>(?:(?!<\s*/?\s*img\s*>).){0,4096}?<\s*/\s*img\s*>"
    r"|<\s*/?\s*(?:image|img|video|imagehere|image_placeholder|img_context|im_start|im_end|"
    r"im_patch)(?:[\s_-]*\d+)?\s*/?\s*>"
    r"|<\|\s*(?:image|video|image_pad|video_pad|vision_start|vision_end|vision_pad)"
    r"(?:_\d+)?\s*\|>"
    r"|\[\s*(?:img|image|video)(?:[\s_-]*(?:\d+|break|end))?\s*\])",
    re.IGNORECASE | re.DOTALL,
)


def strip_placeholders(text: str | None) -> str:
    """``text`` without image placeholders, whitespace tidied (same as :func:`clean`).

    >>> strip_placeholders("<image>\\nWhat is shown?")
    'What is shown?'
    """
    return clean(text)


def clean(text: str | None) -> str:
    """The cleaned text every component reads: placeholders removed, whitespace tidied.

    Spaces and tabs collapse to one space, lines are trimmed, empty lines dropped, line breaks
    kept. ``None`` gives ``""``; a non-string is converted with ``str``.

    Examples
    --------
    >>> clean("<image>\\nWhat is   shown?")
    'What is shown?'
    >>> clean("Picture 1: <img>coco/1.jpg</img>\\nWhat is it?")
    'What is it?'
    >>> clean("<ImageHere> Describe <image_2>.\\n\\n(A) cat\\n(B) dog")
    'Describe .\\n(A) cat\\n(B) dog'
    >>> clean(None)
    ''
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    if "<" in text or "[" in text:
        text = PLACEHOLDER.sub(" ", text)
    lines = text.splitlines()  # str methods: several times faster than regex substitutions
    if len(lines) <= 1:
        return " ".join(text.split())
    return "\n".join(filter(None, (" ".join(line.split()) for line in lines)))


def _field(turn: Mapping | None, key: str) -> str:
    return clean((turn or {}).get(key)) if isinstance(turn, Mapping) or turn is None else ""


def instruction(turn: Mapping | None) -> str:
    """Cleaned instruction of a turn (``""`` when missing).

    >>> instruction({"instruction": "<image>\\nIs it red?", "response": "No."})
    'Is it red?'
    """
    return _field(turn, "instruction")


def response(turn: Mapping | None) -> str:
    """Cleaned response of a turn (``""`` when missing).

    >>> response({"instruction": "Is it red?", "response": " No. "})
    'No.'
    """
    return _field(turn, "response")


TEXT_MODES = ("instruction+response", "instruction", "response")


def turn_text(turn: Mapping | None, mode: str = "instruction+response") -> str:
    """Cleaned text of a turn: its instruction, its response, or both joined by a line break.

    >>> turn_text({"instruction": "<image>\\nWhat is it?", "response": "A cat."})
    'What is it?\\nA cat.'
    >>> turn_text({"instruction": "What is it?", "response": "A cat."}, "response")
    'A cat.'
    """
    if mode == "instruction":
        return instruction(turn)
    if mode == "response":
        return response(turn)
    if mode != "instruction+response":
        raise ValueError(f"text must be one of {TEXT_MODES}, not {mode!r}")
    return "\n".join(p for p in (instruction(turn), response(turn)) if p)


# ------------------------------------------------------------------------------ scripts
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
#: a Han character that is also a letter (unassigned code points of the Han blocks are not)
_HAN_LETTER = re.compile(r"(?=[^\W\d_])" + _HAN.pattern)


def letters(text: str | None) -> list[str]:
    """The letters of ``text`` (any script; digits and punctuation excluded).

    >>> len(letters("A1 猫!"))
    2
    """
    return _LETTER.findall(text or "")


def han_share(text: str | None) -> float:
    """Share of Chinese (Han) characters among the letters of ``text`` (0 when it has none).

    >>> han_share("猫 cat")
    0.25
    """
    if not text or not _HAN.search(text):  # most text: one scan, no letter list
        return 0.0
    n_han = len(_HAN_LETTER.findall(text))
    return n_han / len(_LETTER.findall(text)) if n_han else 0.0


def has_cjk(text: str | None) -> bool:
    """True when ``text`` holds a CJK ideograph (then it is segmented with jieba).

    >>> has_cjk("描述这张图片"), has_cjk("Describe the image.")
    (True, False)
    """
    return bool(_HAN.search(text or ""))


def is_chinese(text: str | None, *, threshold: float = 0.3) -> bool:
    """True when ``text`` is written mainly in Chinese characters.

    At least ``threshold`` of its letters are Han characters and it has no Japanese kana or
    Korean Hangul (Japanese and Korean also use Han characters). Latin letters count one by
    one, so "这是一只cat" is Chinese but one Chinese name in an English paragraph is not.

    >>> is_chinese("图中的男人手里拿着什么？")
    True
    >>> is_chinese("What is the man holding?")
    False
    >>> is_chinese("この写真には何が写っていますか")
    False
    """
    if not text or _KANA.search(text) or _HANGUL.search(text):
        return False
    return han_share(text) >= threshold


# ------------------------------------------------------------------------------ tokens
_WORD = re.compile(r"\w+", re.UNICODE)
_LATIN_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f']+")
_JIEBA_LOCK = threading.Lock()
_JIEBA: list = []


def _jieba():
    with _JIEBA_LOCK:
        if not _JIEBA:
            from vlitq._dependencies import import_optional

            jieba = import_optional("jieba", purpose="Chinese word segmentation")
            jieba.setLogLevel(logging.WARNING)
            _JIEBA.append(jieba)
    return _JIEBA[0]


def words(text: str | None) -> list[str]:
    """Lower-cased word tokens of ``text``: jieba segmentation when it holds CJK ideographs,
    ``\\w+`` runs otherwise (whitespace-only jieba tokens dropped).

    >>> words("Describe the 2 dogs!")
    ['describe', 'the', '2', 'dogs']
    """
    text = text or ""
    if has_cjk(text):
        return [t for t in (w.strip().lower() for w in _jieba().lcut(text)) if t]
    return _WORD.findall(text.lower())


def segment(text: str | None) -> list[str]:
    """Tokens of ``text`` in their original case, for parsers: jieba words when it is Chinese
    (:func:`is_chinese`), whitespace-separated words otherwise.

    >>> segment("A red  bus")
    ['A', 'red', 'bus']
    """
    text = text or ""
    if is_chinese(text):
        return [w for w in _jieba().lcut(text) if w.strip()]
    return text.split()


def content_words(text: str | None, stop: Iterable[str] | None = None) -> list[str]:
    """:func:`words` without stop words (default :func:`stop_words`) and without tokens that
    hold no letter.

    >>> content_words("Describe the 2 dogs in this image!", stop={"the", "in", "this"})
    ['describe', 'dogs', 'image']
    """
    stop = stop_words() if stop is None else stop
    return [t for t in words(text) if t not in stop and any(ch.isalpha() for ch in t)]


def length_words(text: str | None) -> float:
    """Length in words: Latin-script words plus Chinese characters / 1.7 (≈ words).

    >>> length_words("A red bus.")
    3.0
    >>> round(length_words("一辆红色的公共汽车"), 1)
    5.3
    """
    text = text or ""
    return float(len(_LATIN_WORD.findall(text))) + len(_HAN.findall(text)) / 1.7


# ------------------------------------------------------------------------------ stop words
_STOP: dict[str, frozenset] = {}
_STOP_LOCK = threading.Lock()


def _spacy_english_stop_words() -> set[str] | None:
    """spaCy's English stop words, read from the installed spaCy's data file: importing spaCy
    itself takes seconds and pulls thinc, which a warm run must not pay for a word list."""
    import importlib.util
    import os
    import runpy

    try:
        spec = importlib.util.find_spec("spacy")  # locates, does not import
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), "lang", "en", "stop_words.py")
    if not os.path.isfile(path):
        return None
    try:
        found = runpy.run_path(path).get("STOP_WORDS")
    except Exception:  # a changed file layout falls back to stopwordsiso
        return None
    return set(found) if found else None


def stop_words(lang: str | Sequence[str] = ("en", "zh")) -> frozenset:
    """Stop words of one language or the union of several (lower case).

    ``"en"``: spaCy's English list (stopwordsiso's when spaCy is not installed); any other
    ISO 639-1 code: stopwordsiso's list (``pip install "vlitq[nlp]"``). Loaded once.

    >>> {"the", "的"} <= stop_words()
    True
    """
    langs = (lang,) if isinstance(lang, str) else tuple(lang)
    out: set[str] = set()
    for code in langs:
        with _STOP_LOCK:
            got = _STOP.get(code)
            if got is None:
                found = _spacy_english_stop_words() if code == "en" else None
                if found is None:
                    from vlitq._dependencies import import_optional

                    swi = import_optional("stopwordsiso", purpose="stop words")
                    found = set(swi.stopwords(code))
                got = _STOP[code] = frozenset(w.lower() for w in found)
        out |= got
    return frozenset(out)


# ------------------------------------------------------------------------------ windows, caps
def split_windows(text: str, max_words: int, stride: int | None = None, *,
                  max_windows: int | None = None) -> list[str]:
    """Overlapping word windows covering ``text`` (one window when it fits).

    ``stride`` defaults to half a window. ``max_windows`` keeps only the first that many
    windows (a length cap; compare ``len`` with :func:`n_windows` to know it cut).

    >>> split_windows("a b c d e", 2)
    ['a b', 'b c', 'c d', 'd e']
    >>> split_windows("a b", 5)
    ['a b']
    >>> split_windows("a b c d e", 2, max_windows=2)
    ['a b', 'b c']
    """
    toks = (text or "").split()
    if len(toks) <= max_words:
        return [text or ""]
    stride = stride or max(1, max_words // 2)
    out = []
    for start in range(0, len(toks), stride):
        out.append(" ".join(toks[start: start + max_words]))
        if start + max_words >= len(toks) or (max_windows and len(out) >= max_windows):
            break
    return out


def n_windows(text: str, max_words: int, stride: int | None = None) -> int:
    """How many windows :func:`split_windows` needs to cover ``text``.

    >>> n_windows("a b c d e", 2)
    4
    """
    n = len((text or "").split())
    if n <= max_words:
        return 1
    stride = stride or max(1, max_words // 2)
    return 1 + -(-(n - max_words) // stride)


def cap_text(text: str | None, max_chars: int | None) -> tuple[str, bool]:
    """``text`` cut to at most ``max_chars`` characters (at a space when one is near the end),
    and whether it was cut. ``max_chars=None`` never cuts.

    >>> cap_text("a red bus on a street", 12)
    ('a red bus on', True)
    >>> cap_text("short", 12)
    ('short', False)
    """
    text = text or ""
    if max_chars is None or len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    if text[max_chars].isspace():  # the cut falls between words already
        return cut.rstrip(), True
    space = cut.rfind(" ", max(0, max_chars - 64))
    return (cut[:space] if space > 0 else cut).rstrip(), True


# ------------------------------------------------------------------------------ grouping
def _sample_texts(turns, tasks, valid, field: str):
    """``(task, [its non-empty cleaned field texts])`` of every valid sample: the loop of
    :func:`texts_by_task` and :func:`text_counts_by_task`."""
    if field not in ("instruction", "response"):
        raise ValueError(f"field must be 'instruction' or 'response', not {field!r}")
    get = instruction if field == "instruction" else response
    valid_it = iter(valid) if valid is not None else None
    for sample_turns, task in zip(turns, tasks):
        if valid_it is not None and not next(valid_it):
            continue
        yield task, [txt for txt in map(get, sample_turns or []) if txt]


def texts_by_task(turns: Iterable[Sequence[Mapping] | None], tasks: Iterable[str],
                  valid: Iterable[bool] | None = None,
                  field: str = "instruction") -> dict[str, list[str]]:
    """Cleaned, non-empty ``field`` texts (``"instruction"`` or ``"response"``) of every turn,
    grouped by the sample's task; invalid samples are skipped. Every turn of a multi-turn
    sample is one text. A task whose samples hold no text maps to an empty list.

    >>> texts_by_task([[{"instruction": "<image>\\nA?", "response": "x"}],
    ...                [{"instruction": " ", "response": "y"}]], ["t1", "t2"])
    {'t1': ['A?'], 't2': []}
    """
    out: dict[str, list[str]] = {}
    for task, txts in _sample_texts(turns, tasks, valid, field):
        out.setdefault(task, []).extend(txts)
    return out


def text_counts_by_task(turns: Iterable[Sequence[Mapping] | None], tasks: Iterable[str],
                        valid: Iterable[bool] | None = None,
                        field: str = "instruction") -> dict[str, dict[str, int]]:
    """:func:`texts_by_task` as counts: each task's distinct texts (in the order they first
    occur) and how often each occurs. Repeats are counted as they are read, so 2.2M turns with
    800k distinct responses hold 800k strings, not 2.2M.

    >>> text_counts_by_task([[{"response": "x"}, {"response": "y"}], [{"response": "x"}]],
    ...                     ["t", "t"], field="response")
    {'t': {'x': 2, 'y': 1}}
    """
    out: dict[str, dict[str, int]] = {}
    for task, txts in _sample_texts(turns, tasks, valid, field):
        bucket = out.setdefault(task, {})
        for txt in txts:
            bucket[txt] = bucket.get(txt, 0) + 1
    return out
