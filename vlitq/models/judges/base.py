"""The judge interface and its completion cache.

A judge turns prompts (and optionally images) into text completions, or into the probability
of each of a few answer options::

    judge.generate(prompts, images=None, n=1, temperature=0.7, max_tokens=64, seed=0)
    -> list[list[str]]      # n completions per prompt
    judge.score_options(prompts, options, images=None)
    -> list[OptionScores]   # P(option | prompt), normalised over the options

A prompt is a string (one user message) or a list of chat messages
``[{"role": "system"|"user"|"assistant", "content": str}, ...]`` (for few-shot examples given as
earlier turns); images attach to the last user message. Every completion is cached by
(backend, model id, prompt, image content hash, sampling parameters, seed, sample index), so a
re-run with the same arguments makes no model call. Option scores are cached the same way, by
(backend, model id, prompt, image hash, options).

A prompt that keeps failing (a backend may return :class:`PromptFailure` in place of a
completion) fails that prompt only: ``generate`` returns the failure object in its slot and the
caller turns it into that sample's error; every successful completion is cached as it arrives.
"""
from __future__ import annotations

import io
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlitq._utils import blake2b, stable_json

logger = logging.getLogger("vlitq")

#: Version of the cache key layout; bump when the meaning of a cached completion changes.
CACHE_VERSION = 1


class JudgeError(RuntimeError):
    """A judge could not produce completions (model missing, server unreachable ...)."""


class JudgeUnavailable(JudgeError):
    """The judge as a whole cannot run (server down, model cannot load): stop the run early."""


class LogprobsUnavailable(JudgeError):
    """The backend returns no token log-probabilities (option scoring falls back to voting)."""


class PromptFailure:
    """Stands in for the completion of one prompt that kept failing (the others are kept).

    >>> f = PromptFailure("HTTP 503 after 3 attempts")
    >>> bool(f), str(f)
    (False, 'HTTP 503 after 3 attempts')
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"PromptFailure({self.reason!r})"


@dataclass
class OptionScores:
    """The judge's distribution over a prompt's answer options.

    Attributes
    ----------
    options : list of str
    probs : list of float or None
        P(option), normalised over the options (sums to 1); None when the prompt failed or no
        vote named an option (``error`` says why).
    logprobs : list of float or None
        Log-likelihood of each option's tokens after the prompt (``method="logprobs"``).
    method : str
        ``"logprobs"`` (read from the model's distribution) or ``"vote"`` (share of sampled
        answers naming each option: the fallback when a server returns no log-probabilities).
    n_votes : int
        Sampled answers that named an option (``method="vote"``).
    error : str or None
    """

    options: list[str]
    probs: list[float] | None
    logprobs: list[float] | None = None
    method: str = "logprobs"
    n_votes: int = 0
    error: str | None = None

    def best(self) -> int | None:
        """Index of the most probable option (None without probabilities)."""
        if not self.probs:
            return None
        return max(range(len(self.probs)), key=lambda j: (self.probs[j], -j))

    def entropy(self) -> float | None:
        """Shannon entropy of ``probs`` in nats."""
        if not self.probs:
            return None
        return float(-sum(p * math.log(p) for p in self.probs if p > 0))

    def to_json(self) -> dict:
        return {"options": self.options, "probs": self.probs, "logprobs": self.logprobs,
                "method": self.method, "n_votes": self.n_votes, "error": self.error}


def normalise_logprobs(logprobs: Sequence[float]) -> list[float]:
    """Softmax of option log-likelihoods (``-inf`` gets 0).

    >>> [round(p, 3) for p in normalise_logprobs([math.log(0.2), math.log(0.6)])]
    [0.25, 0.75]
    """
    finite = [x for x in logprobs if x is not None and math.isfinite(x)]
    if not finite:
        raise ValueError("no option has a finite log-probability")
    m = max(finite)
    ex = [math.exp(x - m) if (x is not None and math.isfinite(x)) else 0.0 for x in logprobs]
    z = sum(ex)
    return [e / z for e in ex]


def match_option(answer: str | None, options: Sequence[str]) -> int | None:
    """The option a free-text answer names: the longest option the answer starts with (case and
    surrounding punctuation ignored), else the only option occurring as a whole word.

    >>> match_option(" yes, it is", ["Yes", "No"]), match_option("10/10", [str(i) for i in range(1, 11)])
    (0, 9)
    >>> match_option("maybe", ["Yes", "No"]) is None
    True
    """
    text = " ".join((answer or "").strip().lower().split())
    text = text.lstrip("\"'`*([ ")
    if not text:
        return None
    opts = [o.strip().lower() for o in options]
    best, best_len = None, -1
    for j, o in enumerate(opts):
        if o and text.startswith(o):
            nxt = text[len(o):len(o) + 1]
            if (not nxt or not nxt.isalnum()) and len(o) > best_len:
                best, best_len = j, len(o)
    if best is not None:
        return best
    import re

    found = {j for j, o in enumerate(opts)
             if o and re.search(r"(?<!\w)" + re.escape(o) + r"(?!\w)", text)}
    return found.pop() if len(found) == 1 else None


def image_hash(img: Any, image_root: str | None = None) -> str:
    """Content hash of one image reference (path / ``data:`` URI) or PIL image.

    >>> from PIL import Image
    >>> image_hash(Image.new("RGB", (2, 2))) == image_hash(Image.new("RGB", (2, 2)))
    True
    >>> image_hash(Image.new("RGB", (2, 2))) == image_hash(Image.new("RGB", (2, 3)))
    False
    """
    if isinstance(img, (str, bytes, bytearray)) or hasattr(img, "__fspath__"):
        if isinstance(img, (bytes, bytearray)):
            return blake2b(bytes(img))
        from vlitq.data.images import image_content_hash

        return image_content_hash(str(img), image_root, True)
    # PIL image: mode, size and pixels
    return blake2b(str(img.mode), str(img.size), img.tobytes())


def load_image(img: Any, image_root: str | None = None):
    """A PIL RGB image from a reference, raw bytes or a PIL image."""
    from vlitq.data.images import decode_image, open_image

    if isinstance(img, (bytes, bytearray)):
        return decode_image(bytes(img))
    if isinstance(img, str) or hasattr(img, "__fspath__"):
        return open_image(str(img), image_root, True)
    return img.convert("RGB") if getattr(img, "mode", "RGB") != "RGB" else img


def image_to_png_bytes(img: Any) -> bytes:
    buf = io.BytesIO()
    load_image(img).save(buf, format="PNG")
    return buf.getvalue()


def as_messages(prompt: str | Sequence[dict]) -> list[dict]:
    """A prompt as a list of chat messages.

    >>> as_messages("Hi")
    [{'role': 'user', 'content': 'Hi'}]
    """
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    msgs = [dict(m) for m in prompt]
    for m in msgs:
        if m.get("role") not in ("system", "user", "assistant") or not isinstance(
                m.get("content"), str):
            raise ValueError(f"a chat message needs a role (system/user/assistant) and string "
                             f"content, got {m!r}")
    if not msgs or msgs[-1]["role"] != "user":
        raise ValueError("the last chat message of a prompt must be the user's")
    return msgs


#: Version of the option-score cache layout.
OPTIONS_VERSION = 1


def per_prompt_options(prompts: Sequence, options: Sequence) -> list[list[str]]:
    """Options for every prompt: one shared list of strings, or one list per prompt.

    >>> per_prompt_options(["a", "b"], ["Yes", "No"])
    [['Yes', 'No'], ['Yes', 'No']]
    """
    options = list(options)
    if options and all(isinstance(o, str) for o in options):
        out = [list(options) for _ in prompts]
    else:
        out = [list(o) for o in options]
        if len(out) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(out)} option lists")
    for o in out:
        if len(o) < 2 or not all(isinstance(x, str) and x for x in o):
            raise ValueError(f"each prompt needs at least two non-empty string options, got {o!r}")
        if len(set(o)) != len(o):
            raise ValueError(f"duplicate options {o!r}")
    return out


class Judge:
    """Base class of judge backends.

    Subclasses implement :meth:`_generate` (uncached, one sample index at a time),
    :meth:`model_id` and, where the backend can read token probabilities,
    :meth:`_score_options`. :meth:`generate` and :meth:`score_options` add the cache and the
    bookkeeping.

    Attributes
    ----------
    backend : str
        Short backend name (``"local"``, ``"openai"``), part of the cache key.
    calls : int
        Completions actually produced by the model (cache hits excluded).
    cache_hits : int
    option_calls : int
        Prompts whose options the model scored (cache hits excluded).
    option_cache_hits : int
    generated_tokens : int
        Tokens generated by the model for completions (estimated by :meth:`count_tokens`).
    option_method : str or None
        ``"logprobs"`` or ``"vote"``: how the last :meth:`score_options` call read the options.
    """

    backend: str = "judge"
    #: Backends whose ``_generate`` calls ``emit(j, text)`` as each completion arrives (so it is
    #: cached at once, not at the end of the batch).
    streams_results: bool = False

    def __init__(self, *, cache=None):
        self.cache = cache
        self.calls = 0
        self.cache_hits = 0
        self.option_calls = 0
        self.option_cache_hits = 0
        self.generated_tokens = 0
        self.option_method: str | None = None
        self._warned_no_logprobs = False

    # ------------------------------------------------------------------ to implement
    def model_id(self) -> str:
        raise NotImplementedError

    def get_params(self) -> dict:
        """Settings that identify this judge (never secrets)."""
        return {"backend": self.backend, "model": self.model_id()}

    def _generate(self, messages: list[list[dict]], images: list[list], *, temperature: float,
                  max_tokens: int, seed: int, k: int) -> list[str]:
        """One completion per prompt for sample index ``k`` (no cache); a prompt that failed
        may get a :class:`PromptFailure` in its slot."""
        raise NotImplementedError

    def _score_options(self, messages: list[list[dict]], images: list[list],
                       options: list[list[str]]) -> list:
        """Per prompt, the log-likelihood of each option's tokens after the prompt (or a
        :class:`PromptFailure`); raise :class:`LogprobsUnavailable` when the backend cannot."""
        raise LogprobsUnavailable(f"{type(self).__name__} reads no token probabilities")

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (a character-based estimate unless a backend knows better)."""
        return max(1, len(text) // 4)

    # ------------------------------------------------------------------ provided
    def _store(self, kind: str = "judge"):
        if self.cache is None:
            return None
        if kind == "options":
            return self.cache.store("judge_options", {"backend": self.backend,
                                                      "model": self.model_id(),
                                                      "v": OPTIONS_VERSION})
        return self.cache.store("judge", {"backend": self.backend, "model": self.model_id(),
                                          "v": CACHE_VERSION})

    def generate(self, prompts: Sequence, images: Sequence | None = None, n: int = 1,
                 temperature: float = 0.7, max_tokens: int = 64, seed: int = 0,
                 ) -> list[list[str]]:
        """``n`` completions for each prompt.

        Parameters
        ----------
        prompts : list of str or list of chat-message lists
        images : list of lists, optional
            Per prompt, the images to show: paths, ``data:`` URIs, raw bytes or PIL images.
        n : int
            Completions per prompt (sample indices ``0..n-1``; each index has its own seed, so
            asking for more later reuses the cached first ones).
        temperature : float
            0 means greedy decoding (then all ``n`` completions are the same).
        max_tokens : int
            Maximum new tokens per completion.
        seed : int

        Returns
        -------
        list of list of str
            ``out[i][k]`` is completion ``k`` of prompt ``i``; a completion that kept failing
            is a :class:`PromptFailure` (falsy; its ``reason`` says why) and is not cached.

        Raises
        ------
        JudgeUnavailable
            The backend as a whole cannot answer (server down, model missing).
        """
        prompts = list(prompts)
        if images is None:
            images = [[] for _ in prompts]
        images = [list(x or []) for x in images]
        if len(images) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(images)} image lists")
        if n < 1:
            raise ValueError("n must be >= 1")
        messages = [as_messages(p) for p in prompts]
        if not prompts:
            return []
        temperature = float(temperature)
        store = self._store()
        sampling = {"temperature": temperature, "max_tokens": int(max_tokens), "seed": int(seed)}
        keys = []
        if store is not None:
            img_hashes = [[image_hash(x) for x in imgs] for imgs in images]
            base = [blake2b(stable_json(m), "|".join(h), stable_json(sampling))
                    for m, h in zip(messages, img_hashes)]
            keys = [[blake2b(b, str(k)) for k in range(n)] for b in base]
            hit = store.get_many_json([x for row in keys for x in row])
        else:
            hit = {}
        out: list[list[Any]] = [[None] * n for _ in prompts]
        for k in range(n):
            todo = []
            for i in range(len(prompts)):
                v = hit.get(keys[i][k]) if keys else None
                if v is not None:
                    out[i][k] = v["text"]
                    self.cache_hits += 1
                else:
                    todo.append(i)
            if not todo:
                continue
            saved: set[int] = set()

            def emit(j: int, text: Any, _k=k, _todo=todo, _saved=saved) -> None:
                # called by streaming backends as each reply arrives: cache it at once
                if store is not None and isinstance(text, str):
                    store.put_many_json({keys[_todo[j]][_k]: {"text": text}})
                    _saved.add(j)

            kw = {"emit": emit} if self.streams_results else {}
            texts = self._generate([messages[i] for i in todo], [images[i] for i in todo],
                                   temperature=temperature, max_tokens=int(max_tokens),
                                   seed=int(seed), k=k, **kw)
            if len(texts) != len(todo):
                raise JudgeError(f"backend returned {len(texts)} completions for {len(todo)}")
            fresh = {}
            for j, (i, t) in enumerate(zip(todo, texts)):
                out[i][k] = t
                if not isinstance(t, str):
                    continue
                self.calls += 1
                self.generated_tokens += self.count_tokens(t) if t else 0
                if keys and j not in saved:
                    fresh[keys[i][k]] = {"text": t}
            if store is not None:
                store.put_many_json(fresh)
        return out  # type: ignore[return-value]

    def score_options(self, prompts: Sequence, options: Sequence,
                      images: Sequence | None = None, *, votes: int = 5,
                      temperature: float = 1.0, seed: int = 0) -> list[OptionScores]:
        """The probability of each answer option after each prompt.

        The likelihood of each option's tokens following the prompt (the start of the model's
        reply), normalised over the options. When the backend returns no token
        log-probabilities (an OpenAI-compatible server without ``logprobs``), a warning says so
        and the options are read by voting instead: ``votes`` sampled answers, each matched to
        an option (:func:`match_option`), ``probs`` = share of the votes
        (``method="vote"``).

        Parameters
        ----------
        prompts : list of str or chat-message lists
        options : list of str, or one list of str per prompt
            At least two distinct non-empty options (``["Yes", "No"]``, ``["1", ..., "10"]``).
        images : list of lists, optional
        votes, temperature, seed
            The voting fallback's sampling.

        Returns
        -------
        list of OptionScores

        Examples
        --------
        >>> class Fixed(Judge):
        ...     backend = "fixed"
        ...     def model_id(self): return "fixed"
        ...     def _score_options(self, messages, images, options):
        ...         return [[math.log(0.3), math.log(0.1)] for _ in messages]
        >>> [round(p, 2) for p in Fixed().score_options(["Is it?"], ["Yes", "No"])[0].probs]
        [0.75, 0.25]
        """
        prompts = list(prompts)
        if not prompts:
            return []
        opts = per_prompt_options(prompts, options)
        if images is None:
            images = [[] for _ in prompts]
        images = [list(x or []) for x in images]
        if len(images) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(images)} image lists")
        messages = [as_messages(p) for p in prompts]
        store = self._store("options")
        keys, hit = [], {}
        if store is not None:
            keys = [blake2b("options", stable_json(m), "|".join(image_hash(x) for x in im),
                            stable_json(o)) for m, im, o in zip(messages, images, opts)]
            hit = store.get_many_json(keys)
        out: list[OptionScores | None] = [None] * len(prompts)
        todo = []
        for i in range(len(prompts)):
            v = hit.get(keys[i]) if keys else None
            if v is not None:
                out[i] = OptionScores(options=opts[i], probs=v["probs"], logprobs=v["logprobs"],
                                      method="logprobs")
                self.option_cache_hits += 1
            else:
                todo.append(i)
        if not todo:
            self.option_method = "logprobs"
            return out  # type: ignore[return-value]
        try:
            got = self._score_options([messages[i] for i in todo], [images[i] for i in todo],
                                      [opts[i] for i in todo])
        except LogprobsUnavailable as exc:
            if not self._warned_no_logprobs:
                logger.warning("judge %s returns no token log-probabilities (%s); options are "
                               "read by voting instead (%d sampled answers per prompt)",
                               self.model_id(), exc, votes)
                self._warned_no_logprobs = True
            self.option_method = "vote"
            voted = self._vote_options([prompts[i] for i in todo], [images[i] for i in todo],
                                       [opts[i] for i in todo], votes=votes,
                                       temperature=temperature, seed=seed)
            for i, r in zip(todo, voted):
                out[i] = r
            return out  # type: ignore[return-value]
        self.option_method = "logprobs"
        if len(got) != len(todo):
            raise JudgeError(f"backend scored {len(got)} prompts for {len(todo)}")
        fresh = {}
        for i, lp in zip(todo, got):
            if isinstance(lp, PromptFailure):
                out[i] = OptionScores(opts[i], None, None, "logprobs", error=lp.reason)
                continue
            lp = [float(x) for x in lp]
            try:
                probs = normalise_logprobs(lp)
            except ValueError:
                out[i] = OptionScores(opts[i], None, lp, "logprobs",
                                      error="the model gives no option a probability")
                continue
            self.option_calls += 1
            out[i] = OptionScores(opts[i], probs, lp, "logprobs")
            if keys:
                fresh[keys[i]] = {"probs": probs,
                                  "logprobs": [x if math.isfinite(x) else -1e30 for x in lp]}
        if store is not None:
            store.put_many_json(fresh)
        return out  # type: ignore[return-value]

    def _vote_options(self, prompts, images, options, *, votes, temperature, seed):
        max_tokens = max(4, max(self.count_tokens(o) for opt in options for o in opt) + 3)
        answers = self.generate(prompts, images, n=max(1, int(votes)),
                                temperature=temperature, max_tokens=max_tokens, seed=seed)
        res = []
        for ans, opts in zip(answers, options):
            fails = [a for a in ans if not isinstance(a, str)]
            picks = [match_option(a, opts) for a in ans if isinstance(a, str)]
            cnt = Counter(p for p in picks if p is not None)
            n_valid = sum(cnt.values())
            if not n_valid:
                why = (str(fails[0]) if fails and len(fails) == len(ans)
                       else f"no sampled answer named an option (e.g. {str(ans[0])[:60]!r})")
                res.append(OptionScores(opts, None, None, "vote", 0, error=why))
                continue
            res.append(OptionScores(opts, [cnt.get(j, 0) / n_valid for j in range(len(opts))],
                                    None, "vote", n_valid))
        return res

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
