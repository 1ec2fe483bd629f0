"""``llm_complexity``: an LLM rates each instruction-response pair 1-10 (the paper's IC), read
as the expected rating over the judge's probabilities of the rating tokens (DEITA), or parsed
from sampled replies (``method="sample"``)."""
from __future__ import annotations

import math

from vlitq.registry import register
from vlitq.scorers._judging import (
    JudgeScorerMixin,
    approx_tokens,
    clip_text,
    second_reading,
    turn_error,
)
from vlitq.scorers.base import Scorer

SYSTEM = ("You rate how complex a visual instruction is to follow, from 1 to 10. 1: a yes/no "
          "or single-attribute question about one object. 4: a short description or a count. "
          "6: several objects or their spatial relations. 8: reasoning about causes, purposes "
          "or comparisons. 10: multi-step reasoning or planning that combines many objects, "
          "relations and outside knowledge. Reply with the number only.")

#: Hand-scored examples covering the scale, shown as earlier chat turns.
EXAMPLES: tuple[dict, ...] = (
    {"instruction": "Is there a dog in the image?", "response": "Yes.", "score": 1},
    {"instruction": "What colour is the bus?", "response": "The bus is yellow.", "score": 2},
    {"instruction": "How many people are in the photo?",
     "response": "There are three people.", "score": 4},
    {"instruction": "Where is the cat relative to the laptop and the mug?",
     "response": "The cat sits left of the laptop; the mug is behind the laptop.", "score": 6},
    {"instruction": "Why might the people be gathered here, and what does their clothing "
                    "suggest about the weather?",
     "response": "They seem to wait for a parade; coats and scarves suggest a cold day.",
     "score": 8},
    {"instruction": "Using the ingredients on the counter, plan a three-course dinner and "
                    "explain in which order to cook them with the single stove shown.",
     "response": "Start with the soup from the carrots and onions, keep it warm, then pan-fry "
                 "the fish, and finish with the baked apples in the oven while eating.",
     "score": 10},
)


RATINGS = tuple(str(r) for r in range(1, 11))


def expected_rating(probs) -> tuple[float, float, float]:
    """(expected rating Σ r·P(r), standard deviation, entropy in nats) of P over 1..10.

    >>> expected_rating([0] * 4 + [0.5, 0.5] + [0] * 4)
    (5.5, 0.5, 0.6931)
    """
    mu = sum(r * p for r, p in zip(range(1, 11), probs))
    var = sum(p * (r - mu) ** 2 for r, p in zip(range(1, 11), probs))
    ent = -sum(p * math.log(p) for p in probs if p > 0)
    return round(mu, 4), round(math.sqrt(max(var, 0.0)), 4), round(ent, 4)


def build_messages(instruction: str, response: str, examples=EXAMPLES) -> list[dict]:
    """Chat messages for one rating: rubric, few-shot turns, then the pair to rate.

    >>> m = build_messages("What is it?", "A cat.")
    >>> m[0]["role"], m[-1]["role"], m[2]["content"]
    ('system', 'user', '1')
    """
    def ask(ins, res):
        return f"Instruction: {ins}\nResponse: {res}\nComplexity (1-10):"

    msgs = [{"role": "system", "content": SYSTEM}]
    for ex in examples:
        msgs.append({"role": "user", "content": ask(ex["instruction"], ex["response"])})
        msgs.append({"role": "assistant", "content": str(ex["score"])})
    msgs.append({"role": "user", "content": ask(instruction, response)})
    return msgs


@register
class LLMComplexity(JudgeScorerMixin, Scorer):
    """Instruction complexity rated 1-10 by an LLM judge, guided by hand-scored examples.

    ``method="expected"`` (default, DEITA's reading): the judge's probability of answering each
    of ``"1"`` … ``"10"`` after the rubric, the scored examples and the pair
    (:meth:`vlitq.models.judges.Judge.score_options`; one forward pass, nothing sampled or
    parsed); a turn's score is the expected rating Σ r·P(r), its spread the standard deviation
    of that distribution and its entropy (nats, 0 … ln 10 ≈ 2.30) the judge's uncertainty.
    Servers without log-probabilities fall back to ``repeats`` votes (at least 5).

    ``method="sample"`` (the paper's reading): the pair is rated ``repeats`` times; a reply is
    parsed strictly (the first number, an integer in 1-10; anything else is unparseable, never
    a zero); a turn's score is the mean of its valid ratings, its spread their standard
    deviation. A turn without any valid rating makes the sample an error.

    The sample's score is the mean over its turns (spread and entropy likewise).

    Columns: ``llm_complexity``, ``llm_complexity_spread``, ``llm_complexity_entropy``
    (``method="expected"``), ``llm_complexity_scores`` (per turn: the ratings sampled, null
    where unparseable; or P(1..10) rounded to 4 places), ``llm_complexity_invalid``
    (unparseable replies), ``llm_complexity_error``. A collapsed distribution (every sample
    rated the same) and low-confidence samples are reported by the ``judge_checks`` indicator.

    Parameters
    ----------
    judge : str, dict or None
        Judge specification (:func:`vlitq.models.judges.get_judge`); None is the packaged
        SmolLM2-135M-Instruct (offline, weak: pass a real model, e.g.
        ``"meta-llama/Llama-2-7b-chat-hf"`` or ``"openai:<model>@<base_url>"``).
    method : {"expected", "sample"}
    repeats : int
        Ratings sampled per turn (``method="sample"``).
    temperature : float, optional
        Default: 0 (greedy) for one repeat, 0.7 for several.
    max_tokens : int
    seed : int
    check : str, dict or None
        A second, independent reading for the reliability report (``judge_checks``):
        ``"prompt"`` asks the same judge with the scored examples in reverse order; a judge
        specification asks a second judge the same prompt. Written to
        ``llm_complexity_check``; ``judge_checks`` reports ICC(3,1) between the readings.
        Doubles the cost.
    judge_cache : bool
    max_chars : int
        Instruction and response are cut to this many characters (marked ``[...]``).
    """

    name = "llm_complexity"
    principle = "complexity"
    direction = "up"
    requires = ("llm",)
    extra_columns = ("spread", "entropy", "scores", "invalid", "check")
    inputs = ("turns",)
    aggregate = "mean"
    batch_size = 16
    description = "LLM rating 1-10 of the instruction-response pair's complexity"
    version = "2"

    def __init__(self, *, judge: str | dict | None = None, method: str = "expected",
                 repeats: int = 1,
                 temperature: float | None = None, max_tokens: int = 6, seed: int = 0,
                 check: str | dict | None = None, judge_cache: bool = True,
                 max_chars: int = 1500):
        self.judge = judge
        self.method = method
        self.check = check
        self.repeats = repeats
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.judge_cache = judge_cache
        self.max_chars = max_chars

    def _temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return 0.0 if self.repeats == 1 else 0.7

    def load(self):
        if self.repeats < 1:
            raise ValueError("repeats must be >= 1")
        if self.method not in ("expected", "sample"):
            raise ValueError(f"method must be 'expected' or 'sample', not {self.method!r}")
        self._judge_obj = self._make_judge(self.judge)
        self._check_obj = None

    def _messages(self, turns, variant: bool = False):
        ex = EXAMPLES[::-1] if variant else EXAMPLES
        return [build_messages(clip_text(t.get("instruction"), self.max_chars),
                               clip_text(t.get("response"), self.max_chars), ex)
                for t in turns or []]

    def estimate_cost(self, dataset) -> dict:
        """Judge calls, prompt tokens (estimated at ~4 characters per token, chat template
        overhead not counted) and generated tokens this scorer would spend on ``dataset``, for
        the configured method and the other one."""
        turns_n = tokens = 0
        for turns in dataset.frame["turns"].to_list():
            for m in self._messages(turns):
                turns_n += 1
                tokens += sum(approx_tokens(x["content"]) for x in m)
        expected = {"calls": turns_n, "prompt_tokens": tokens, "generated_tokens": 0}
        sample = {"calls": self.repeats * turns_n, "prompt_tokens": self.repeats * tokens,
                  "generated_tokens": self.repeats * turns_n * int(self.max_tokens)}
        mine = expected if self.method == "expected" else sample
        return {**mine, "method": self.method,
                "by_method": {"expected": expected, "sample": sample}}

    def score_batch(self, batch):
        n = len(batch["turns"])
        out = {c: [None] * n for c in self.output_columns()}
        prompts, owner = [], []
        for i in range(n):
            turns = batch["turns"][i] or []
            problems = [] if turns else ["no turns"]
            for t, turn in enumerate(turns, 1):
                if not (turn.get("instruction") or "").strip():
                    problems.append(f"empty instruction in turn {t}")
            if problems:
                out["llm_complexity_error"][i] = "; ".join(problems)
                continue
            for t, m in enumerate(self._messages(turns)):
                prompts.append(m)
                owner.append(i)
        if not prompts:
            return out
        turn_of = []
        for i in sorted(set(owner)):
            turn_of += [(i, t) for t in range(len(batch["turns"][i]))]

        def run(variant, target=None):
            cols = target if target is not None else {c: [None] * n for c in out}
            ps = prompts
            if variant:
                ps = [self._messages([batch["turns"][i][t]], True)[0] for i, t in turn_of]
            if self.method == "sample":
                self._by_sampling(ps, owner, cols)
            else:
                self._by_expectation(ps, owner, cols)
            return cols

        run(False, out)
        second_reading(self, out, run)
        return out

    def _by_expectation(self, prompts, owner, out):

        res = self._score_options(prompts, list(RATINGS), votes=max(5, self.repeats),
                                  temperature=0.7, seed=self.seed)
        per_sample: dict[int, list] = {}
        for i, r in zip(owner, res):
            per_sample.setdefault(i, []).append(r)
        for i, turn_res in per_sample.items():
            mus, sds, ents, scores, failed, problems = [], [], [], [], [], []
            for t, r in enumerate(turn_res, 1):
                if r.probs is None:
                    (failed if r.method == "logprobs" else problems).append(
                        f"turn {t}: {r.error}")
                    scores.append(None)
                    continue
                mu, sd, ent = expected_rating(r.probs)
                mus.append(mu)
                sds.append(sd)
                ents.append(ent)
                scores.append([round(p, 4) for p in r.probs])
            out["llm_complexity_scores"][i] = scores
            out["llm_complexity_invalid"][i] = 0
            err = turn_error(failed, problems)
            if err:
                out["llm_complexity_error"][i] = err
                continue
            out["llm_complexity"][i] = round(sum(mus) / len(mus), 4)
            out["llm_complexity_spread"][i] = round(sum(sds) / len(sds), 4)
            out["llm_complexity_entropy"][i] = round(sum(ents) / len(ents), 4)

    def _by_sampling(self, prompts, owner, out):
        from vlitq.models.judges import numeric_summary, parse_rating

        replies = self._generate(prompts, None, n=self.repeats, temperature=self._temperature(),
                                 max_tokens=self.max_tokens, seed=self.seed)
        per_sample: dict[int, list] = {}
        for i, rep in zip(owner, replies):
            per_sample.setdefault(i, []).append(rep)
        for i, turn_replies in per_sample.items():
            means, spreads, scores, invalid, problems, failed = [], [], [], 0, [], []
            for t, rep in enumerate(turn_replies, 1):
                ok = [r for r in rep if isinstance(r, str)]
                if not ok:
                    failed.append(f"turn {t}: the judge failed: {rep[0]}")
                    scores.append(None)
                    continue
                vals = [parse_rating(r) for r in ok]
                scores.append(vals)
                m, sd, k = numeric_summary(vals)
                invalid += len(vals) - k
                if m is None:
                    problems.append(f"turn {t}: no rating 1-10 in the reply {ok[0][:80]!r}")
                else:
                    means.append(m)
                    spreads.append(sd)
            out["llm_complexity_scores"][i] = scores
            out["llm_complexity_invalid"][i] = invalid
            err = turn_error(failed, problems)
            if err:
                out["llm_complexity_error"][i] = err
                continue
            out["llm_complexity"][i] = round(sum(means) / len(means), 4)
            out["llm_complexity_spread"][i] = round(sum(spreads) / len(spreads), 4)

    @classmethod
    def confidences(cls, samples) -> list[float]:
        """1 - entropy / ln 10 (``method="expected"``), else 1 - spread / 4.5 (the largest
        standard deviation on 1..10); a sample below 0.3 (entropy above 70 % of its maximum)
        is low-confidence."""
        if "llm_complexity_entropy" in samples.columns and \
                samples["llm_complexity_entropy"].drop_nulls().len():
            return [1 - float(v) / math.log(10)
                    for v in samples["llm_complexity_entropy"].to_list() if v is not None]
        col = "llm_complexity_spread"
        if col not in samples.columns:
            return []
        return [1 - float(v) / 4.5 for v in samples[col].to_list() if v is not None]

    low_confidence = 0.3

    @classmethod
    def reading_agreement(cls, pairs) -> dict:
        """ICC(3,1) (two-way mixed, consistency) and Pearson r between two readings."""
        import numpy as np

        out = {"measure": "icc(3,1)", "n": len(pairs), "icc": None, "pearson": None}
        if len(pairs) >= 3:
            from vlitq.validate.stats import icc

            arr = np.asarray(pairs, dtype=float)
            if arr.std(axis=0).min() > 0:
                out["icc"] = round(float(icc(arr, "3,1")), 4)
                out["pearson"] = round(float(np.corrcoef(arr.T)[0, 1]), 4)
        return out

    @classmethod
    def dataset_warnings(cls, samples) -> list[str]:
        """Collapse of the rating distribution (read by the ``judge_checks`` indicator)."""
        from vlitq.models.judges import collapse_warning

        if cls.name not in samples.columns:
            return []
        w = collapse_warning(samples[cls.name].to_list(), cls.name)
        return [w] if w else []
