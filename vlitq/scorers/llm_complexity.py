"""``llm_complexity``: an LLM rates each instruction-response pair 1-10 (the paper's IC)."""
from __future__ import annotations

from vlitq.registry import register
from vlitq.scorers._judging import JudgeScorerMixin, approx_tokens, clip_text
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

    Each turn's instruction-response pair is rated ``repeats`` times; a reply is parsed
    strictly (the first number, an integer in 1-10; anything else is unparseable, never a
    zero). A turn's score is the mean of its valid ratings; the sample's is the mean over
    turns. A turn without any valid rating makes the sample an error.

    Columns: ``llm_complexity`` (mean rating), ``llm_complexity_spread`` (standard deviation of
    the repeated ratings, averaged over turns; 0 with one repeat), ``llm_complexity_scores``
    (per turn, the list of ratings, null where unparseable), ``llm_complexity_invalid``
    (unparseable replies), ``llm_complexity_error``. A collapsed distribution (every sample
    rated the same) is reported by the ``judge_checks`` indicator.

    Parameters
    ----------
    judge : str, dict or None
        Judge specification (:func:`vlitq.models.judges.get_judge`); None is the packaged
        SmolLM2-135M-Instruct (offline, weak: pass a real model, e.g.
        ``"meta-llama/Llama-2-7b-chat-hf"`` or ``"openai:<model>@<base_url>"``).
    repeats : int
        Ratings per turn.
    temperature : float, optional
        Default: 0 (greedy) for one repeat, 0.7 for several.
    max_tokens : int
    seed : int
    judge_cache : bool
    max_chars : int
        Instruction and response are cut to this many characters (marked ``[...]``).
    """

    name = "llm_complexity"
    principle = "complexity"
    direction = "up"
    requires = ("llm",)
    extra_columns = ("spread", "scores", "invalid")
    inputs = ("turns",)
    aggregate = "mean"
    batch_size = 16
    description = "LLM rating 1-10 of the instruction-response pair's complexity"
    version = "1"

    def __init__(self, *, judge: str | dict | None = None, repeats: int = 1,
                 temperature: float | None = None, max_tokens: int = 6, seed: int = 0,
                 judge_cache: bool = True, max_chars: int = 1500):
        self.judge = judge
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
        self._judge_obj = self._make_judge(self.judge)

    def _messages(self, turns):
        return [build_messages(clip_text(t.get("instruction"), self.max_chars),
                               clip_text(t.get("response"), self.max_chars))
                for t in turns or []]

    def estimate_cost(self, dataset) -> dict:
        """Judge calls and prompt tokens (estimated at ~4 characters per token, chat template
        overhead not counted) this scorer would spend on ``dataset``."""
        calls = tokens = 0
        for turns in dataset.frame["turns"].to_list():
            for m in self._messages(turns):
                calls += self.repeats
                tokens += self.repeats * sum(approx_tokens(x["content"]) for x in m)
        return {"calls": calls, "prompt_tokens": tokens}

    def score_batch(self, batch):
        from vlitq.models.judges import numeric_summary, parse_rating

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
        replies = self._generate(prompts, None, n=self.repeats, temperature=self._temperature(),
                                 max_tokens=self.max_tokens, seed=self.seed)
        per_sample: dict[int, list] = {}
        for i, rep in zip(owner, replies):
            per_sample.setdefault(i, []).append(rep)
        for i, turn_replies in per_sample.items():
            means, spreads, scores, invalid, problems = [], [], [], 0, []
            for t, rep in enumerate(turn_replies, 1):
                vals = [parse_rating(r) for r in rep]
                scores.append(vals)
                m, sd, k = numeric_summary(vals)
                invalid += len(vals) - k
                if m is None:
                    problems.append(f"turn {t}: no rating 1-10 in the reply {rep[0][:80]!r}")
                else:
                    means.append(m)
                    spreads.append(sd)
            out["llm_complexity_scores"][i] = scores
            out["llm_complexity_invalid"][i] = invalid
            if problems:
                out["llm_complexity_error"][i] = "; ".join(problems)
                continue
            out["llm_complexity"][i] = round(sum(means) / len(means), 4)
            out["llm_complexity_spread"][i] = round(sum(spreads) / len(spreads), 4)
        return out

    @classmethod
    def dataset_warnings(cls, samples) -> list[str]:
        """Collapse of the rating distribution (read by the ``judge_checks`` indicator)."""
        from vlitq.models.judges import collapse_warning

        if cls.name not in samples.columns:
            return []
        w = collapse_warning(samples[cls.name].to_list(), cls.name)
        return [w] if w else []
