"""``correctness``: an MLLM judges whether each response is correct for its image (the paper's
C) — by the probability it gives "Yes" against "No" (default), or by the majority of k sampled
answers (the paper's procedure, ``method="vote"``)."""
from __future__ import annotations

import math
from typing import ClassVar

from vlitq.registry import register
from vlitq.scorers._judging import (
    IMAGE_TOKENS,
    JudgeScorerMixin,
    approx_tokens,
    clip_text,
    second_reading,
    turn_error,
)
from vlitq.scorers.base import Scorer

#: Hand-written judged examples shown to the judge (text descriptions stand in for images).
EXAMPLES: tuple[dict, ...] = (
    {"image": "a red double-decker bus on a city street",
     "instruction": "What colour is the bus?", "response": "The bus is red.", "answer": "Yes"},
    {"image": "two cats asleep on a grey sofa",
     "instruction": "How many animals are there, and what are they?",
     "response": "There are three dogs playing on the floor.", "answer": "No"},
    {"image": "a man holding an open umbrella on a wet street while rain falls",
     "instruction": "Why is the man holding an umbrella?",
     "response": "Because it is raining and he wants to stay dry.", "answer": "Yes"},
    {"image": "a plate with a sandwich and french fries; no drink anywhere",
     "instruction": "Describe the meal.",
     "response": "A sandwich with french fries and a glass of cola beside the plate.",
     "answer": "No"},
)

SYSTEM = ("You check answers in visual instruction-tuning data. You are shown an image, an "
          "instruction about it and a response. The response is correct only if everything it "
          "says about the image is true and it answers the instruction. Reply with one word: "
          "Yes or No.")


OPTIONS = ("Yes", "No")


def build_prompt(instruction: str, response: str, examples=EXAMPLES) -> str:
    """The judge's prompt for one turn (few-shot examples first, then the case).

    >>> p = build_prompt("What is it?", "A cat.")
    >>> p.splitlines()[-1]
    'Is the response correct for the image? Answer Yes or No.'
    """
    lines = [SYSTEM, "", "Examples:"]
    for i, ex in enumerate(examples, 1):
        lines += [f"Example {i}. Image: {ex['image']}.", f"Instruction: {ex['instruction']}",
                  f"Response: {ex['response']}", f"Correct: {ex['answer']}", ""]
    lines += ["Now the attached image.", f"Instruction: {instruction}", f"Response: {response}",
              "Is the response correct for the image? Answer Yes or No."]
    return "\n".join(lines)


def example_prompts(examples=EXAMPLES) -> list[tuple[str, bool]]:
    """The judged examples asked as cases themselves (each with the other examples as its
    shots, its image given by its description), with their known labels: the calibration set.

    >>> [(p.splitlines()[-3], y) for p, y in example_prompts()][:1]
    [('Instruction: What colour is the bus?', True)]
    """
    out = []
    for i, ex in enumerate(examples):
        shots = [e for j, e in enumerate(examples) if j != i]
        p = build_prompt(ex["instruction"], ex["response"], shots)
        p = p.replace("Now the attached image.", f"Now the case. Image: {ex['image']}.")
        out.append((p, ex["answer"] == "Yes"))
    return out


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def calibration_bias(p_yes: list[float], labels: list[bool]) -> float:
    """The logit shift that puts the decision boundary midway between the known-correct and the
    known-incorrect examples: ``(mean logit P(yes) of correct + mean of incorrect) / 2``.

    Subtracting it removes the judge's prior lean towards one answer (a small model that says
    "No" to everything leans far below 0), measured on examples whose answer is known.

    >>> round(calibration_bias([0.2, 0.1, 0.05, 0.02], [True, True, False, False]), 3)
    -2.605
    """
    pos = [_logit(p) for p, y in zip(p_yes, labels) if y]
    neg = [_logit(p) for p, y in zip(p_yes, labels) if not y]
    if not pos or not neg:
        return 0.0
    return (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2


def calibrated(p: float, bias: float) -> float:
    """``sigmoid(logit(p) - bias)``.

    >>> round(calibrated(0.2, -2.605), 3)
    0.772
    """
    return 1 / (1 + math.exp(-(_logit(p) - bias)))


def cohen_kappa(pairs) -> float | None:
    """Cohen's kappa of two raters' labels (pairs of labels); None with < 2 pairs or when both
    raters gave one and the same label throughout (kappa undefined).

    >>> cohen_kappa([(True, True), (False, False), (True, False), (True, True)])
    0.5
    """
    from collections import Counter

    pairs = list(pairs)
    if len(pairs) < 2:
        return None
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    pe = sum(ca[x] * cb[x] for x in set(ca) | set(cb)) / (n * n)
    if pe >= 1:
        return None
    return round((po - pe) / (1 - pe), 4)


@register
class Correctness(JudgeScorerMixin, Scorer):
    """Whether each response is correct for its image, judged by an MLLM.

    For every turn the judge (default LLaVA-1.5-7B) sees the sample's image(s), a few
    hand-written judged examples, the instruction and the response, and is asked whether the
    response is correct. A multi-turn sample is correct when every turn is.

    ``method="probability"`` (default): the judge's probabilities of answering "Yes" and "No"
    (:meth:`vlitq.models.judges.Judge.score_options`, one forward pass per turn, nothing
    sampled), calibrated on the judged examples: each example is asked as a case itself (the
    other examples as shots), and the logit shift that puts the boundary midway between the
    known-correct and known-incorrect examples is removed from every turn's logit
    (:func:`calibration_bias`; ``calibrate=False`` keeps the raw probability). A turn is correct
    when its calibrated P(correct) ≥ 0.5. Servers without log-probabilities fall back to ``k``
    votes (with a warning).

    ``method="vote"`` (the paper): ``k`` sampled answers (temperature on); unparseable answers
    are not votes; a turn's label is the majority of the valid votes; a tie or no valid vote is
    an error; P(correct) is the share of Yes votes.

    Columns: ``correctness`` (bool), ``correctness_prob`` (P(correct) of the sample = product
    over its turns), ``correctness_agreement`` (confidence of the weakest turn, 0.5-1: the
    majority share of the votes, or max(P, 1-P) by probability), ``correctness_votes``
    (``method="vote"``: per turn a string of ``Y`` / ``N`` / ``?`` for unparseable answers,
    e.g. ``"YYNYY"``), ``correctness_invalid`` (unparseable answers), ``correctness_error``.
    Dataset value C = 100 x share judged correct.

    Parameters
    ----------
    judge : str or dict
        Judge specification (:func:`vlitq.models.judges.get_judge`): a hub name or folder of a
        vision-language model (default ``"llava-hf/llava-1.5-7b-hf"``), or
        ``"openai:<model>@<base_url>"`` for a vLLM / SGLang / Ollama server.
    method : {"probability", "vote"}
    calibrate : bool
        ``method="probability"``: remove the judge's bias measured on the judged examples.
    k : int
        Answers sampled per turn for ``method="vote"`` (odd avoids ties) and for the voting
        fallback.
    temperature : float
        Sampling temperature of the votes (> 0, otherwise the k answers are identical).
    max_tokens : int
    seed : int
    check : str, dict or None
        A second, independent reading for the reliability report (``judge_checks``):
        ``"prompt"`` asks the same judge with the judged examples in reverse order; a judge
        specification asks a second judge the same prompt. Written to ``correctness_check``;
        ``judge_checks`` reports Cohen's kappa between the readings. Doubles the cost.
    judge_cache : bool
        Cache every completion (``$VLITQ_CACHE_HOME/judge``), so a re-run or a larger ``k``
        reuses earlier answers.
    max_chars : int
        Instruction and response are cut to this many characters (marked ``[...]``).
    """

    name = "correctness"
    principle = "correctness"
    direction = "up"
    requires = ("llm",)
    extra_columns = ("prob", "agreement", "votes", "invalid", "check")
    confidence_column = "correctness_agreement"
    inputs = ("turns", "images")
    aggregate = "share_true"
    batch_size = 8
    description = "MLLM judge: P(the response is correct for the image), or a majority vote"
    version = "2"
    image_tokens: ClassVar[int] = IMAGE_TOKENS

    def __init__(self, *, judge: str | dict = "llava-hf/llava-1.5-7b-hf",
                 method: str = "probability", calibrate: bool = True, k: int = 5,
                 temperature: float = 0.7, max_tokens: int = 8, seed: int = 0,
                 check: str | dict | None = None, judge_cache: bool = True,
                 max_chars: int = 2000):
        self.judge = judge
        self.method = method
        self.check = check
        self.calibrate = calibrate
        self.k = k
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.judge_cache = judge_cache
        self.max_chars = max_chars

    def load(self):
        if self.k < 1:
            raise ValueError("k must be >= 1")
        if self.method not in ("probability", "vote"):
            raise ValueError(f"method must be 'probability' or 'vote', not {self.method!r}")
        self._judge_obj = self._make_judge(self.judge)
        self._check_obj = None
        self._biases = {}

    def _calibration(self, variant: bool = False) -> float:
        """The judge's bias on the judged examples (computed once per judge and prompt)."""
        key = (id(self._judge_obj), variant)
        if key not in self._biases:
            bias = 0.0
            if self.calibrate:
                cases = example_prompts(EXAMPLES[::-1] if variant else EXAMPLES)
                res = self._score_options([p for p, _ in cases], list(OPTIONS),
                                          votes=self.k, temperature=self.temperature,
                                          seed=self.seed)
                if all(r.probs for r in res) and all(r.method == "logprobs" for r in res):
                    bias = calibration_bias([r.probs[0] for r in res], [y for _, y in cases])
            self._biases[key] = bias
        return self._biases[key]

    # ------------------------------------------------------------------ cost
    def _items(self, turns, images, variant: bool = False):
        ex = EXAMPLES[::-1] if variant else EXAMPLES
        out = []
        for t in turns or []:
            out.append(build_prompt(clip_text(t.get("instruction"), self.max_chars),
                                    clip_text(t.get("response"), self.max_chars), ex))
        return out

    def estimate_cost(self, dataset) -> dict:
        """Judge calls, prompt tokens (estimated: ~4 characters per token plus
        :attr:`image_tokens` per image) and generated tokens this scorer would spend on
        ``dataset``, for the configured method and for the other one."""
        turns_n = tokens = 0
        for turns, images in zip(dataset.frame["turns"].to_list(),
                                 dataset.frame["images"].to_list()):
            for p in self._items(turns, images):
                turns_n += 1
                tokens += approx_tokens(p) + self.image_tokens * len(images or [])
        n_cal = len(EXAMPLES) if self.calibrate else 0
        cal_tokens = sum(approx_tokens(p) for p, _ in example_prompts()) if n_cal else 0
        prob = {"calls": turns_n + n_cal, "prompt_tokens": tokens + cal_tokens,
                "generated_tokens": 0}
        vote = {"calls": self.k * turns_n, "prompt_tokens": self.k * tokens,
                "generated_tokens": self.k * turns_n * int(self.max_tokens)}
        mine = prob if self.method == "probability" else vote
        return {**mine, "method": self.method,
                "by_method": {"probability": prob, "vote": vote}}

    # ------------------------------------------------------------------ scoring
    def score_batch(self, batch):
        from vlitq.data.images import ImageError, open_image

        n = len(batch["turns"])
        out = {c: [None] * n for c in self.output_columns()}
        roots = batch.get("image_root", [None] * n)
        allows = batch.get("allow_outside_root", [False] * n)
        prompts, imgs, owner = [], [], []
        for i in range(n):
            turns = batch["turns"][i] or []
            refs = (batch.get("images") or [[]] * n)[i] or []
            problems = []
            if not turns:
                problems.append("no turns")
            if not refs:
                problems.append("no image: the correctness judge needs the image")
            for t, turn in enumerate(turns, 1):
                if not (turn.get("instruction") or "").strip():
                    problems.append(f"empty instruction in turn {t}")
                if not (turn.get("response") or "").strip():
                    problems.append(f"empty response in turn {t}")
            pil = []
            for j, ref in enumerate(refs, 1):
                try:
                    pil.append(open_image(ref, roots[i], allows[i]))
                except ImageError as exc:
                    problems.append(f"image {j}: {exc}")
            if problems:
                out["correctness_error"][i] = "; ".join(problems)
                continue
            for t, p in enumerate(self._items(turns, refs)):
                prompts.append(p)
                imgs.append(pil)
                owner.append((i, t))
        if not prompts:
            return out

        def run(variant, target=None):
            cols = target if target is not None else {c: [None] * n for c in out}
            ps = prompts
            if variant:
                ps = [self._items([batch["turns"][i][t]], None, True)[0] for i, t in owner]
            if self.method == "vote":
                self._by_vote(ps, imgs, owner, cols)
            else:
                self._by_probability(ps, imgs, owner, cols, variant)
            return cols

        run(False, out)
        second_reading(self, out, run)
        return out

    def _by_vote(self, prompts, imgs, owner, out):
        from vlitq.models.judges import majority_vote, parse_yes_no

        answers = self._generate(prompts, imgs, n=self.k, temperature=self.temperature,
                                 max_tokens=self.max_tokens, seed=self.seed)
        per_sample: dict[int, list] = {}
        for (i, t), ans in zip(owner, answers):
            per_sample.setdefault(i, []).append(ans)
        for i, turn_answers in per_sample.items():
            labels, agreements, votes, invalid, problems, p_yes = [], [], [], 0, [], []
            failed = []
            for t, ans in enumerate(turn_answers, 1):
                ok = [a for a in ans if isinstance(a, str)]
                if not ok:
                    failed.append(f"turn {t}: the judge failed: {ans[0]}")
                    continue
                parsed = [parse_yes_no(a) for a in ok] + [None] * (len(ans) - len(ok))
                v = majority_vote(parsed)
                invalid += v.n_invalid
                votes.append("".join("?" if p is None else ("Y" if p else "N") for p in parsed))
                if v.label is None:
                    why = ("no parseable answer" if v.n_valid == 0 else "tied votes")
                    problems.append(f"turn {t}: {why} in {len(ans)} samples "
                                    f"(e.g. {str(ans[0])[:80]!r})")
                else:
                    labels.append(bool(v.label))
                    agreements.append(v.agreement)
                    p_yes.append(v.counts.get(True, 0) / v.n_valid)
            out["correctness_votes"][i] = votes
            out["correctness_invalid"][i] = invalid
            err = turn_error(failed, problems)
            if err:
                out["correctness_error"][i] = err
                continue
            out["correctness"][i] = all(labels)
            out["correctness_agreement"][i] = round(min(agreements), 4)
            out["correctness_prob"][i] = round(math.prod(p_yes), 4)

    def _by_probability(self, prompts, imgs, owner, out, variant=False):

        bias = self._calibration(variant)
        res = self._score_options(prompts, list(OPTIONS), imgs, votes=self.k,
                                  temperature=self.temperature, seed=self.seed)
        per_sample: dict[int, list] = {}
        for (i, t), r in zip(owner, res):
            per_sample.setdefault(i, []).append(r)
        for i, turn_res in per_sample.items():
            probs, problems, failed = [], [], []
            for t, r in enumerate(turn_res, 1):
                if r.probs is None:
                    (failed if r.method == "logprobs" else problems).append(
                        f"turn {t}: {r.error}")
                    continue
                p = r.probs[0]
                probs.append(calibrated(p, bias) if r.method == "logprobs" else p)
            out["correctness_invalid"][i] = 0
            err = turn_error(failed, problems)
            if err:
                out["correctness_error"][i] = err
                continue
            out["correctness"][i] = all(p >= 0.5 for p in probs)
            out["correctness_prob"][i] = round(math.prod(probs), 4)
            out["correctness_agreement"][i] = round(min(max(p, 1 - p) for p in probs), 4)

    # ------------------------------------------------------------------ dataset checks
    @classmethod
    def score_values(cls, samples) -> list[float]:
        col = f"{cls.name}_prob"
        if col in samples.columns:
            return [float(v) for v in samples[col].to_list() if v is not None]
        return [float(v) for v in samples[cls.name].to_list() if v is not None]

    @classmethod
    def reading_agreement(cls, pairs) -> dict:
        """Cohen's kappa and raw agreement between two yes/no readings."""
        return {"measure": "cohen_kappa", "n": len(pairs), "kappa": cohen_kappa(pairs),
                "raw": round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None}

    @classmethod
    def dataset_warnings(cls, samples) -> list[str]:
        """Warnings about the judge over the whole dataset: collapsed labels, weak agreement.
        Read by the ``judge_checks`` indicator."""
        from vlitq.models.judges import collapse_warning

        if cls.name not in samples.columns:
            return []
        out = []
        w = collapse_warning(samples[cls.name].to_list(), cls.name)
        if w:
            out.append(w)
        col = f"{cls.name}_agreement"
        if col in samples.columns:
            agr = samples[col].drop_nulls()
            if agr.len() >= 5 and float(agr.mean()) < 0.7:
                out.append(f"{cls.name}: mean agreement of the judge's votes is "
                           f"{float(agr.mean()):.2f}; its labels are close to coin flips")
        return out
