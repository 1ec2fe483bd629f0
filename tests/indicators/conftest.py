"""Test doubles for the task labeller: a deterministic scripted LLM judge and a bag-of-words
hashing encoder (so most tests need no model; one test uses the packaged MiniLM)."""
import re
import zlib

import numpy as np
import pytest

from vlitq.models.judges import Judge

# keyword → tag variants the scripted judge proposes (variants exercise normalisation/merging)
RULES = [
    (("how many", "count", "number of"), ["Counting", "counting.", "object counting"]),
    (("color", "colour"), ["colour recognition", "Colour Recognition", "color recognition"]),
    (("text", "written", "words", "transcribe"), ["text reading", "Text reading", "OCR"]),
    (("yes or no", "yes/no"), ["yes/no question", "yes/no questions", "Yes/No question"]),
    (("options", "option", "choose", "select"), ["multiple choice", "Multiple-choice",
                                                  "multiple choice"]),
    (("why", "explain", "reason", "infer", "justify"), ["reasoning", "Reasoning", "reasoning"]),
    (("descri", "caption", "summarize", "shown"), ["image captioning", "captioning",
                                                      "Image captioning"]),
]
TRUTH = {"Counting": "counting", "colour recognition": "colour", "text reading": "ocr",
         "yes/no question": "yes_no", "multiple choice": "multiple_choice",
         "reasoning": "reasoning", "image captioning": "captioning"}


def rule_tags(instruction: str) -> list[str]:
    low = instruction.lower()
    # yes/no and multiple choice first: their templates mention colours and objects too
    order = [RULES[3], RULES[4], RULES[0], RULES[2], RULES[1], RULES[5], RULES[6]]
    for keys, tags in order:
        if any(k in low for k in keys):
            return tags
    return ["misc"]


def _words(t):
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", t.lower())}


def _overlap(a, b):
    return len(_words(a) & _words(b))


class ScriptedJudge(Judge):
    """A :class:`vlitq.models.judges.Judge` answering by keyword rules (so the judge's own
    completion cache is exercised); ``mode="nonsense"`` answers nothing usable. Records the
    number of prompts of every ``generate`` call in ``batches``."""

    backend = "scripted"

    def __init__(self, mode="rules", cache=None):
        super().__init__(cache=cache)
        self.mode = mode
        self.batches = []

    def model_id(self):
        return f"scripted-judge-{self.mode}"

    def generate(self, prompts, images=None, n=1, temperature=0.0, max_tokens=16, seed=0):
        self.batches.append(len(prompts))
        return super().generate(prompts, images, n=n, temperature=temperature,
                                max_tokens=max_tokens, seed=seed)

    def _generate(self, messages, images, *, temperature, max_tokens, seed, k):
        return [self.answer(m[-1]["content"], k + 1)[k] for m in messages]

    def _score_options(self, messages, images, options):
        """Log-probabilities of the candidate tags: 0.7 for the one sharing most words with
        the rule's tags, the rest shared evenly (``mode="nologprobs"``: none, so the judge
        falls back to voting)."""
        if self.mode == "nologprobs":
            return super()._score_options(messages, images, options)
        out = []
        for m, opts in zip(messages, options):
            ins = re.findall(r"^Instruction: (.*)$", m[-1]["content"], re.MULTILINE)[-1]
            tags = rule_tags(ins)
            best = max(range(len(opts)), key=lambda j: (max(_overlap(opts[j], t)
                                                            for t in tags), -j))
            rest = 0.3 / max(1, len(opts) - 1)
            out.append([np.log(0.7 if j == best else rest) for j in range(len(opts))])
        return out

    def answer(self, p, n):
        return self.answer_many([p], n)[0]

    def answer_many(self, prompts, n):
        out = []
        for p in prompts:
            ins = re.findall(r"^Instruction: (.*)$", p, re.MULTILINE)[-1].strip('"')
            if self.mode == "nonsense":
                out.append(["I cannot tell."] * n)
                continue
            tags = rule_tags(ins)
            if p.startswith("Which task does the instruction belong to?"):  # choice prompt
                opts = re.findall(r"^- (.*)$", p, re.MULTILINE)
                best = max(opts, key=lambda o: max(_overlap(o, t) for t in tags))
                out.append([best] * n)
            else:
                h = zlib.crc32(ins.encode())
                out.append([tags[(h + k) % len(tags)] for k in range(n)])
        return out


class HashEncoder:
    """Bag-of-words hashing encoder (lower-cased words, 512 dims, L2-normalised)."""

    def __init__(self, dim=512):
        self.dim = dim
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        x = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z/]+", t.lower()):
                x[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@pytest.fixture
def scripted_judge():
    return ScriptedJudge()


@pytest.fixture
def hash_encoder():
    return HashEncoder()
