"""``correctness``: an MLLM judges, by majority of k sampled answers, whether each response is
correct for its image (the paper's C)."""
from __future__ import annotations

from typing import ClassVar

from vlitq.registry import register
from vlitq.scorers._judging import IMAGE_TOKENS, JudgeScorerMixin, approx_tokens, clip_text
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


@register
class Correctness(JudgeScorerMixin, Scorer):
    """Whether each response is correct for its image, by majority vote of an MLLM judge.

    For every turn the judge (default LLaVA-1.5-7B) sees the sample's image(s), a few
    hand-written judged examples, the instruction and the response, and is asked ``k`` times
    (sampling on) whether the response is correct. Unparseable answers are not votes. A turn's
    label is the majority of the valid votes; a tie or no valid vote is an error. A
    multi-turn sample is correct when every turn is.

    Columns: ``correctness`` (bool), ``correctness_agreement`` (majority share of the turn
    with the weakest majority, 0.5-1), ``correctness_votes`` (per turn a string of ``Y`` /
    ``N`` / ``?`` for unparseable answers, e.g. ``"YYNYY"``), ``correctness_invalid``
    (unparseable answers), ``correctness_error``. Dataset value C = 100 x share judged correct.

    Parameters
    ----------
    judge : str or dict
        Judge specification (:func:`vlitq.models.judges.get_judge`): a hub name or folder of a
        vision-language model (default ``"llava-hf/llava-1.5-7b-hf"``), or
        ``"openai:<model>@<base_url>"`` for a vLLM / SGLang / Ollama server.
    k : int
        Answers sampled per turn (odd avoids ties).
    temperature : float
        Sampling temperature (> 0, otherwise the k answers are identical).
    max_tokens : int
    seed : int
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
    extra_columns = ("agreement", "votes", "invalid")
    inputs = ("turns", "images")
    aggregate = "share_true"
    batch_size = 8
    description = "MLLM majority vote: is the response correct for the image?"
    version = "1"
    image_tokens: ClassVar[int] = IMAGE_TOKENS

    def __init__(self, *, judge: str | dict = "llava-hf/llava-1.5-7b-hf", k: int = 5,
                 temperature: float = 0.7, max_tokens: int = 8, seed: int = 0,
                 judge_cache: bool = True, max_chars: int = 2000):
        self.judge = judge
        self.k = k
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.judge_cache = judge_cache
        self.max_chars = max_chars

    def load(self):
        if self.k < 1:
            raise ValueError("k must be >= 1")
        self._judge_obj = self._make_judge(self.judge)

    # ------------------------------------------------------------------ cost
    def _items(self, turns, images):
        out = []
        for t in turns or []:
            out.append(build_prompt(clip_text(t.get("instruction"), self.max_chars),
                                    clip_text(t.get("response"), self.max_chars)))
        return out

    def estimate_cost(self, dataset) -> dict:
        """Judge calls and prompt tokens (estimated: ~4 characters per token plus
        :attr:`image_tokens` per image) this scorer would spend on ``dataset``."""
        calls = tokens = 0
        for turns, images in zip(dataset.frame["turns"].to_list(),
                                 dataset.frame["images"].to_list()):
            for p in self._items(turns, images):
                calls += self.k
                tokens += self.k * (approx_tokens(p) + self.image_tokens * len(images or []))
        return {"calls": calls, "prompt_tokens": tokens}

    # ------------------------------------------------------------------ scoring
    def score_batch(self, batch):
        from vlitq.data.images import ImageError, open_image
        from vlitq.models.judges import majority_vote, parse_yes_no

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
        answers = self._generate(prompts, imgs, n=self.k, temperature=self.temperature,
                                 max_tokens=self.max_tokens, seed=self.seed)
        per_sample: dict[int, list] = {}
        for (i, t), ans in zip(owner, answers):
            per_sample.setdefault(i, []).append(ans)
        for i, turn_answers in per_sample.items():
            labels, agreements, votes, invalid, problems = [], [], [], 0, []
            for t, ans in enumerate(turn_answers, 1):
                parsed = [parse_yes_no(a) for a in ans]
                v = majority_vote(parsed)
                invalid += v.n_invalid
                votes.append("".join("?" if p is None else ("Y" if p else "N") for p in parsed))
                if v.label is None:
                    why = ("no parseable answer" if v.n_valid == 0 else "tied votes")
                    problems.append(f"turn {t}: {why} in {len(ans)} samples "
                                    f"(e.g. {ans[0][:80]!r})")
                else:
                    labels.append(bool(v.label))
                    agreements.append(v.agreement)
            out["correctness_votes"][i] = votes
            out["correctness_invalid"][i] = invalid
            if problems:
                out["correctness_error"][i] = "; ".join(problems)
                continue
            out["correctness"][i] = all(labels)
            out["correctness_agreement"][i] = round(min(agreements), 4)
        return out

    # ------------------------------------------------------------------ dataset checks
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
