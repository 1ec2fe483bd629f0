"""``instruction_type``: judgement / multiple choice / short VQA / long VQA / caption / other.

The taxonomy of MMInstruct (judgement, multiple-choice, short VQA, long VQA) plus captioning /
description and "other" (creative writing, translation, ...), assigned by rules on the
instruction and the response, in English and Chinese. No model is needed.
"""
from __future__ import annotations

import re
from collections import Counter

from vlitq import text
from vlitq.registry import register
from vlitq.scorers.base import Scorer
from vlitq.text import clean, length_words

TYPES = ("judgement", "multiple_choice", "short_vqa", "long_vqa", "caption", "other")

# --- multiple choice ----------------------------------------------------------------------
# an option line/segment: "A. cat", "(B) dog", "C) bird", "D: fish", "A、猫", "A．猫"
_OPTION = re.compile(r"(?:^|[\s:：;；,，(（\[])\(?([A-Ha-h])\s*[.)）:：、．\]]\s*\S", re.MULTILINE)
_OPTION_PAREN = re.compile(r"[(（]([A-Ha-h])[)）]\s*\S")
_OPTION_WORDS = re.compile(
    r"\b(?:options?|choices?|candidates?|choose (?:one|the (?:correct|best|right))|"
    r"select (?:one|the (?:correct|best|right))|which of the following)\b|选项|以下哪|下列哪|"
    r"从.{0,6}中选择|选择正确",
    re.IGNORECASE,
)
# an options list: MultiInstruct's "[Options]: no||||yes", "Options: red, blue", "选项：A、B"
_OPTION_SEP = "||||"
_OPTION_LABEL = re.compile(
    r"(?:^|[\s.?!。？！，,；;])\[?\s*(?:options?|choices?|candidates?|answer choices|可选项|选项|候选项?)"
    r"\s*\]?\s*[:：]\s*(.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ITEM_SPLIT = re.compile(r"\|{2,}|\n+|\s*[;；、]\s*|\s*[,，]\s*|\s+/\s+|\s+or\s+")


def option_list(instruction: str) -> list[str]:
    """The options an instruction offers in a list (not lettered): items separated by
    ``||||`` (MultiInstruct), or following an ``Options:`` / ``[Options]:`` / ``Choices:`` /
    ``选项：`` label and separated by line breaks, ``|``, ``;``, ``,``, ``、``, `` / `` or
    `` or ``. Empty when there is none (lettered options are found by :data:`_OPTION`).

    >>> option_list("Are there any couches in the photo?\\n\\n[Options]: no||||yes")
    ['no', 'yes']
    >>> option_list("What sport is this? Options: surfing, skiing, soccer")
    ['surfing', 'skiing', 'soccer']
    >>> option_list("这是什么动物？选项：猫、狗")
    ['猫', '狗']
    >>> option_list("What is in the image?")
    []
    """
    text = instruction or ""
    m = _OPTION_LABEL.search(text)
    if m:
        body = m.group(1)
        items = body.split(_OPTION_SEP) if _OPTION_SEP in body else _ITEM_SPLIT.split(body)
    elif _OPTION_SEP in text:
        # "... the question: What is it? cat||||dog||||bird": the last line holds the list
        items = text.strip().splitlines()[-1].split(_OPTION_SEP)
    else:
        return []
    items = [i.strip(" .。") for i in items if i and i.strip(" .。")]
    return items if len(items) >= 2 else []


_LETTER_ANSWER = re.compile(
    r"^\s*(?:(?:the )?(?:correct )?(?:answer|option|choice) is:?\s*|答案(?:是|为)?[:：]?\s*)?"
    r"[(（]?([A-Ha-h])[)）]?(?:\s*[.:：、．)]|\s*$)", re.IGNORECASE)

# --- judgement (yes/no) -------------------------------------------------------------------
_YESNO_START = re.compile(
    r"^(?:is|are|was|were|am|do|does|did|can|could|will|would|shall|should|has|have|had|may|"
    r"might|must|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|can't|won't)\b",
    re.IGNORECASE,
)
_YESNO_CUES = re.compile(
    r"\b(?:yes or no|true or false|yes/no|true/false|answer yes|answer no)\b|是否|是不是|"
    r"有没有|对不对|对吗|是吗|吗\s*[?？]?\s*$|(?:正确|错误)吗",
    re.IGNORECASE,
)
_YESNO_ANSWER = re.compile(r"^\s*(?:yes|no|true|false|yeah|nope|correct|incorrect)\b|"
                           r"^\s*(?:是的|是|不是|对|不对|没有|不|否|正确|错误)", re.IGNORECASE)

# --- captioning / description -------------------------------------------------------------
_CAPTION = re.compile(
    r"\b(?:describe|description|caption|summari[sz]e (?:the|this) (?:image|picture|photo|scene)|"
    r"narrate|depict|depiction|what(?: is|'s|’s| do you think is) (?:happening|going on) in "
    r"(?:the|this) (?:image|picture|photo|scene|snapshot)|what do you see happening|tell me (?:about|what you see in) (?:the|this) "
    r"(?:image|picture|photo)|what do you see|give (?:a|an) (?:brief |short |detailed )?"
    r"(?:overview|account) of (?:the|this) (?:image|picture|photo))\b|描述|描绘|叙述|"
    r"(?:写|生成|给出).{0,6}(?:标题|说明|描述)|看到了什么|讲述.{0,4}(?:图|画面)",
    re.IGNORECASE,
)
# "Give an elaborate explanation of the image", "Share a comprehensive rundown of the presented
# image", "Break down the elements of the image": a description verb or noun whose object is
# the picture itself (not "Explain why the man in the picture ...": no wh-word in between)
_IMAGE_NOUN = r"(?:image|picture|photo|photograph|scene|snapshot|visual content|visuals)"
_DESCRIBE_WORD = (
    r"(?:explanation|rundown|analysis|analy[sz]e|summary|overview|account|interpretation|"
    r"narrative|portray|characteri[sz]e|illustrate|depiction|elaborate|break down|"
    r"walk (?:me )?through|clarify|explain|examine|summari[sz]e|detail)"
)
# only articles, description nouns and adjectives may stand between the verb and the picture:
# "the role of the dog in this image" is about the dog, not the image
_GAP_WORD = (
    r"(?:the|a|an|this|these|that|of|on|upon|about|into|in|for|its|and|elements|contents?|"
    r"details|aspects|features|key|important|main|various|visual|overall|given|displayed|"
    r"presented|provided|following|subsequent|shown|comprehensive|detailed|thorough|brief|"
    r"short|clear|concise|succinct|elaborate|rich|exhaustive|compact|terse|informative|"
    r"representing|whole|entire)"
)
_WHOLE_IMAGE_REQUEST = re.compile(
    r"\b" + _DESCRIBE_WORD + r"\b(?:[\s,]+" + _GAP_WORD + r"\b)*[\s,]+" + _IMAGE_NOUN + r"\b"
    # what follows may qualify the description ("in great detail", "and share its details")
    # but must not ask something else ("... and why the man is laughing")
    r"(?:(?!\b(?:why|how|who|whom|which|where|when|what|whether|if)\b)[^?？])*[?？]?\s*$",
    re.IGNORECASE,
)
# "Describe how the cyclist should cross": a question in the form of a request
_DESCRIBE_CLAUSE = re.compile(
    r"\b(?:describe|explain)\s+(?:how|why|what|which|where|when|whether|who)\b", re.IGNORECASE)
# "Can you describe ...", "Could you tell me what ...": a request, not a yes/no question
_REQUEST = re.compile(
    r"^(?:can|could|would|will)\s+you\s+(?:please\s+)?(?=(?:describe|explain|elaborate|tell|"
    r"provide|give|identify|list|name|count|summari[sz]e|analy[sz]e|compare|share|write|"
    r"create|generate|translate|point|find|read|detail|walk|break|help|guess|estimate)\b)",
    re.IGNORECASE,
)
# a question that asks about the whole picture rather than a detail is still a caption when
# answered at length ("What is in the image?"); short answers make it short VQA
_WHOLE_IMAGE = re.compile(
    r"^(?:what(?: is|'s| are| can you see) (?:in|shown in|depicted in) (?:the|this) "
    r"(?:image|picture|photo))\W*$|^(?:图(?:片|中|像)?里?(?:有|是)什么)", re.IGNORECASE)

# --- questions ----------------------------------------------------------------------------
_WH = re.compile(
    r"^(?:what|what's|which|who|whom|whose|where|when|why|how|name|identify|count|list|"
    r"explain|tell|determine|analy[sz]e|compare|find|point out|give|state|infer|guess|"
    r"summari[sz]e|provide|share|describe|what’s|"
    r"estimate|read|recogni[sz]e|detect|locate|classify)\b",
    re.IGNORECASE,
)
_ZH_QUESTION = re.compile(r"什么|哪|谁|为什么|为何|怎么|怎样|如何|几|多少|吗|呢|请问|解释|分析|"
                          r"比较|指出|列出|识别|判断|推测|说出")
_OTHER_TASKS = re.compile(
    r"^(?:write|compose|create|generate|translate|draft|imagine|pretend|rewrite|paraphrase|"
    r"make up|come up with)\b|写一|创作|翻译|编一|想象",
    re.IGNORECASE,
)

_SENT = re.compile(r"(?<=[.?!。？！])\s+|\n+")


def _question(instruction: str) -> str:
    """The part of the instruction that asks: its last sentence with a question mark, else its
    last sentence (LLaVA puts context before the question)."""
    parts = [p.strip() for p in _SENT.split(instruction) if p and p.strip()]
    if not parts:
        return ""
    for p in reversed(parts):
        if p.endswith(("?", "？")):
            return p
    return parts[-1]


def classify(instruction: str, response: str | None = None, *,
             short_max_words: float = 10.0) -> tuple[str, str]:
    """Type of one instruction-response pair and the rule that decided it.

    Returns
    -------
    (type, rule) : tuple of str
        ``type`` is one of :data:`TYPES`.

    Examples
    --------
    >>> classify("Is the cat on the mat?", "Yes.")[0]
    'judgement'
    >>> classify("What colour is the bus?\\nA. red\\nB. blue", "A")[0]
    'multiple_choice'
    >>> classify("Describe the image in detail.", "A man rides a horse on a beach ...")[0]
    'caption'
    >>> classify("What colour is the bus?", "Red.")[0]
    'short_vqa'
    >>> classify("这张图片里的猫是黑色的吗？", "是的。")[0]
    'judgement'
    >>> classify("Are there any couches in the photo?\\n\\n[Options]: no||||yes", "no")
    ('multiple_choice', 'options list')
    """
    ins = clean(instruction)
    res = clean(response)
    q = _question(ins)
    q = _REQUEST.sub("", q)  # "Can you describe the image?" -> "describe the image?"
    ql = q.lower()
    # 1. multiple choice: at least two option letters in the instruction, or an options cue
    #    with a bare-letter answer
    letters = {m.upper() for m in _OPTION.findall(ins)} | {
        m.upper() for m in _OPTION_PAREN.findall(ins)}
    if len(letters) >= 2 and {"A", "B"} <= letters:
        return "multiple_choice", "option letters"
    if _OPTION_WORDS.search(ins) and (len(letters) >= 2 or _LETTER_ANSWER.match(res)):
        return "multiple_choice", "options cue"
    if option_list(ins):
        return "multiple_choice", "options list"
    # 2. judgement: yes/no question or yes/no answer
    if _YESNO_CUES.search(q):
        return "judgement", "yes/no cue"
    yn_answer = bool(_YESNO_ANSWER.match(res))
    if _YESNO_START.match(ql):
        alternative = re.search(r"\bor\b", ql) and not re.search(r"\bor not\b", ql)
        if yn_answer or not alternative:
            return "judgement", "auxiliary-initial question"
    # 3. captioning / description
    if _CAPTION.search(ins) and not _DESCRIBE_CLAUSE.search(q):
        return "caption", "describe/caption cue"
    if _WHOLE_IMAGE_REQUEST.search(q):
        return "caption", "whole-image description request"
    if _WHOLE_IMAGE.match(q) and length_words(res) > short_max_words:
        return "caption", "whole-image question answered at length"
    # 4. other generation tasks (write a poem, translate ...)
    if _OTHER_TASKS.search(ql) and not q.endswith(("?", "？")):
        return "other", "generation task"
    # 5. VQA, by answer length
    if q.endswith(("?", "？")) or _WH.match(ql) or _ZH_QUESTION.search(q) or yn_answer:
        if yn_answer and length_words(res) <= 3:
            return "judgement", "yes/no answer"
        if length_words(res) <= short_max_words:
            return "short_vqa", f"question, answer <= {short_max_words:g} words"
        return "long_vqa", f"question, answer > {short_max_words:g} words"
    return "other", "no rule matched"


@register
class InstructionTypeScorer(Scorer):
    """Instruction type of each sample, by rules (English and Chinese cues).

    Types (:data:`TYPES`): ``judgement`` (yes/no), ``multiple_choice``, ``short_vqa``,
    ``long_vqa``, ``caption`` (captioning / description), ``other``. Rules, in order: option
    letters, an options cue, or an options list (MultiInstruct's ``[Options]: no||||yes``,
    ``Options: a, b``, ``选项：``; :func:`option_list`) → multiple choice; yes/no cue or
    auxiliary-initial question (not an "A or B" alternative) → judgement; describe/caption verb → caption; write/translate/...
    → other; any other question → short or long VQA by the response's length
    (``short_max_words``). See :func:`classify`.

    Columns: ``instruction_type`` (the sample's type: the most common over turns, ties to the
    earlier turn, or the first turn's with ``turns="first"``), ``instruction_type_turns`` (type
    of every turn), ``instruction_type_rule`` (the rule that decided the sample's type). An
    empty instruction is an error. The distribution's entropy is the
    ``instruction_type_diversity`` indicator.

    Parameters
    ----------
    short_max_words : float
        Answers up to this many words make a short VQA (Chinese: characters / 1.7).
    turns : {"majority", "first"}

    Examples
    --------
    >>> s = InstructionTypeScorer()
    >>> s({"sample_id": ["a"], "turns": [[{"instruction": "Is it red?", "response": "No."}]]}
    ...   )["instruction_type"]
    ['judgement']
    """

    name = "instruction_type"
    principle = "task diversity"
    direction = None
    extra_columns = ("turns", "rule")
    inputs = ("turns",)
    aggregate = "none"
    # cached: a look-up costs ~1/5 of the rule pass (10k LLaVA-665K-shaped samples: 0.6 vs
    # 3.3 CPU-s); text_stats stays uncached, its pass costs what a look-up does
    batch_size = 4096

    def __init__(self, *, short_max_words: float = 10.0, turns: str = "majority"):
        self.short_max_words = short_max_words
        self.turns = turns

    def load(self) -> None:
        if self.turns not in ("majority", "first"):
            raise ValueError(f"turns must be 'majority' or 'first', not {self.turns!r}")

    def score_batch(self, batch):
        out = {c: [] for c in self.output_columns()}
        for turns in batch["turns"]:
            turns = turns or []
            types, rules, problems = [], [], []
            for k, t in enumerate(turns, start=1):
                ins = text.instruction(t)
                if not ins:
                    problems.append(f"empty instruction in turn {k}")
                    continue
                ty, rule = classify(ins, text.response(t),
                                    short_max_words=self.short_max_words)
                types.append(ty)
                rules.append(rule)
            if not turns:
                problems.append("no turns")
            if problems:
                for col in out.values():
                    col.append(None)
                out["instruction_type_error"][-1] = "; ".join(problems)
                continue
            if self.turns == "first":
                j = 0
            else:
                counts = Counter(types)
                best = max(counts.values())
                j = next(i for i, ty in enumerate(types) if counts[ty] == best)
            out["instruction_type"].append(types[j])
            out["instruction_type_turns"].append(types)
            out["instruction_type_rule"].append(rules[j])
            out["instruction_type_error"].append(None)
        return out
