"""OpenAI chat-completions backend (vLLM, SGLang, Ollama, LM Studio, OpenAI itself)."""
from __future__ import annotations

import base64
import logging
import os
import random
import time
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from vlitq.models.judges.base import (
    Judge,
    JudgeError,
    JudgeUnavailable,
    LogprobsUnavailable,
    PromptFailure,
    image_to_png_bytes,
)

logger = logging.getLogger("vlitq")

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIJudge(Judge):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Parameters
    ----------
    model : str
        Model name as the server knows it (``"llava-hf/llava-1.5-7b-hf"`` for vLLM,
        ``"llava:7b"`` for Ollama, ``"gpt-4o-mini"`` for OpenAI).
    base_url : str
        Server root including ``/v1`` (vLLM: ``http://127.0.0.1:8000/v1``; Ollama:
        ``http://127.0.0.1:11434/v1``; LM Studio: ``http://127.0.0.1:1234/v1``).
    api_key_env : str
        Name of the environment variable holding the API key (read at request time; the key is
        never stored on the object, logged or written to a report). A missing variable sends no
        ``Authorization`` header, which local servers accept.
    concurrency : int
        Requests in flight at once.
    timeout : float
        Total deadline of one request in seconds, from connecting to the last byte of the
        answer (a server trickling bytes cannot hold a request longer).
    max_retries : int
        Retries on 408/409/425/429/5xx answers, timeouts and connection errors, with
        exponential backoff (``backoff * 2**attempt`` seconds, jittered, or the server's
        ``Retry-After``).
    backoff : float
    logprobs : {"auto", "chat", "completions", "none"}
        How :meth:`score_options` reads option probabilities. ``"chat"``: ``/chat/completions``
        with ``logprobs``/``top_logprobs`` (vLLM, llama.cpp server, Ollama, OpenAI) — the
        first answer token's alternatives, plus the next position's where options share a
        prefix. ``"completions"``: ``/completions`` with ``echo`` and ``logprobs`` on the
        prompt rendered by ``prompt_template`` followed by each option (exact for multi-token
        options; vLLM, llama.cpp server). ``"auto"``: ``"completions"`` when
        ``prompt_template`` is set, else ``"chat"``. ``"none"``: vote. When the server returns
        no log-probabilities, a warning says so and the options are read by voting.
    top_logprobs : int
        Alternatives asked per position (``"chat"``; vLLM allows up to 20 by default).
    prompt_template : str, optional
        For ``logprobs="completions"``: the model's prompt format with ``{system}`` and
        ``{prompt}`` fields, e.g. LLaVA-1.5's ``"{system} USER: <image>\\n{prompt} ASSISTANT:"``.
    max_failures : int
        A run stops early (:class:`JudgeUnavailable`) when this many prompts in a row failed
        and none has succeeded yet: the server is really down. After a success, a failing
        prompt fails its sample only.
    cache : vlitq.cache.Cache, optional

    Notes
    -----
    ``n`` completions are ``n`` requests with seeds ``seed + k`` (several servers ignore the
    ``n`` field); images are sent as base64 PNG ``image_url`` parts. Every reply is cached as it
    arrives.
    """

    backend = "openai"

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 1.0,
                 logprobs: str = "auto", top_logprobs: int = 20,
                 prompt_template: str | None = None, max_failures: int = 4, cache=None):
        super().__init__(cache=cache)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.prompt_template = prompt_template
        self.max_failures = max_failures
        self._client = None
        self._ok = 0  # successful requests so far
        self._failed_in_row = 0
        self._count_lock = threading.Lock()

    def model_id(self) -> str:
        return f"{self.model}@{self.base_url}"

    def get_params(self) -> dict:
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url,
                "api_key_env": self.api_key_env, "concurrency": self.concurrency,
                "timeout": self.timeout, "max_retries": self.max_retries,
                "logprobs": self.logprobs, "prompt_template": self.prompt_template}

    streams_results = True

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_client"] = None
        state["_count_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------ HTTP
    def _http(self):
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout),
                                        limits=httpx.Limits(max_connections=self.concurrency))
        return self._client

    def _headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            h["Authorization"] = f"Bearer {key}"
        return h

    @staticmethod
    def _content(text: str, images: list):
        if not images:
            return text
        parts = []
        for img in images:
            b64 = base64.b64encode(image_to_png_bytes(img)).decode("ascii")
            parts.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}})
        parts.append({"type": "text", "text": text})
        return parts

    def payload(self, messages: list[dict], images: list, *, temperature: float,
                max_tokens: int, seed: int) -> dict:
        """The JSON body of one request."""
        msgs = [dict(m) for m in messages]
        msgs[-1] = {"role": "user", "content": self._content(msgs[-1]["content"], images)}
        return {"model": self.model, "messages": msgs, "temperature": float(temperature),
                "max_tokens": int(max_tokens), "seed": int(seed), "n": 1}

    def _request(self, path: str, body: dict) -> dict:
        """POST ``body`` and return the JSON answer, within :attr:`timeout` seconds in total."""
        import httpx

        url = f"{self.base_url}{path}"
        deadline = time.monotonic() + float(self.timeout)
        with self._http().stream("POST", url, json=body, headers=self._headers()) as r:
            chunks = []
            for chunk in r.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"no complete answer within {self.timeout} s "
                                            "(total deadline)")
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(f"no complete answer within {self.timeout} s")
            text = b"".join(chunks).decode("utf-8", "replace")
            return {"status": r.status_code, "text": text, "headers": dict(r.headers)}

    def _post_json(self, path: str, body: dict) -> dict:
        """The JSON answer of one request, with retries; :class:`JudgeError` when it keeps
        failing, :class:`JudgeUnavailable` when the server is down (nothing has succeeded and
        :attr:`max_failures` prompts failed in a row)."""
        import httpx

        url = f"{self.base_url}{path}"
        last = ""
        refused = False
        for attempt in range(self.max_retries + 1):
            wait = None
            no_connection = False
            try:
                r = self._request(path, body)
            except httpx.TimeoutException as exc:
                last = f"timed out after {self.timeout} s ({type(exc).__name__}: {exc})"
            except httpx.TransportError as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
                no_connection = isinstance(exc, httpx.ConnectError)
            else:
                if r["status"] == 200:
                    try:
                        data = json.loads(r["text"])
                    except ValueError as exc:
                        raise JudgeError(f"{url}: answer is not JSON ({exc}): "
                                         f"{r['text'][:200]!r}") from None
                    with self._count_lock:
                        self._ok += 1
                        self._failed_in_row = 0
                    return data
                last = f"HTTP {r['status']}: {r['text'][:200]!r}"
                if r["status"] not in _RETRY_STATUS:
                    refused = True
                    break
                ra = r["headers"].get("retry-after")
                if ra:
                    try:
                        wait = min(60.0, float(ra))
                    except ValueError:
                        wait = None
            if attempt < self.max_retries:
                if wait is None:
                    wait = self.backoff * (2 ** attempt) * (0.5 + random.random() / 2)
                logger.warning("judge %s: %s; retry %d/%d in %.1f s", self.model, last,
                               attempt + 1, self.max_retries, wait)
                time.sleep(wait)
        with self._count_lock:
            self._failed_in_row += 1
            # nothing ever answered and either no connection at all, or several prompts in a
            # row failed: the server is down, not this prompt
            down = self._ok == 0 and (no_connection or
                                      self._failed_in_row >= max(1, int(self.max_failures)))
        if refused:
            msg = f"{url} refused the request: {last}"
        else:
            msg = (f"OpenAI-compatible server at {self.base_url} failed after "
                   f"{self.max_retries + 1} attempts: {last}")
        if down:
            raise JudgeUnavailable(
                f"{msg}. {self._failed_in_row} requests in a row failed and none succeeded: "
                f"is the server running and serving model {self.model!r}? "
                f"(e.g. `vllm serve {self.model}`)")
        raise JudgeError(msg)

    def _post(self, body: dict) -> str:
        url = f"{self.base_url}/chat/completions"
        data = self._post_json("/chat/completions", body)
        try:
            return data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise JudgeError(f"{url}: unexpected answer ({exc}): {str(data)[:200]!r}") from None

    def _map(self, fn, items, emit=None) -> list:
        """``fn`` over ``items`` with :attr:`concurrency` threads; a :class:`JudgeError` of one
        item becomes its :class:`PromptFailure`; :class:`JudgeUnavailable` stops everything."""
        out: list = [None] * len(items)

        def one(j):
            try:
                return fn(items[j])
            except (JudgeUnavailable, LogprobsUnavailable):
                raise
            except JudgeError as exc:
                return PromptFailure(str(exc))

        if self.concurrency <= 1 or len(items) == 1:
            for j in range(len(items)):
                out[j] = one(j)
                if emit is not None:
                    emit(j, out[j])
            return out
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            futs = {ex.submit(one, j): j for j in range(len(items))}
            try:
                for f in as_completed(futs):
                    j = futs[f]
                    out[j] = f.result()
                    if emit is not None:
                        emit(j, out[j])
            except (JudgeUnavailable, LogprobsUnavailable):
                for f in futs:
                    f.cancel()
                raise
        return out

    def _generate(self, messages, images, *, temperature, max_tokens, seed, k, emit=None):
        bodies = [self.payload(m, im, temperature=temperature, max_tokens=max_tokens,
                               seed=seed + k) for m, im in zip(messages, images)]

        def fn(body):
            return self._post(body).strip()

        return self._map(fn, bodies, emit)

    # ------------------------------------------------------------------ option scoring
    def _logprobs_mode(self) -> str:
        if self.logprobs == "auto":
            return "completions" if self.prompt_template else "chat"
        if self.logprobs not in ("chat", "completions", "none"):
            raise ValueError(f"logprobs must be 'auto', 'chat', 'completions' or 'none', not "
                             f"{self.logprobs!r}")
        return self.logprobs

    def _score_options(self, messages, images, options):
        mode = self._logprobs_mode()
        if mode == "none":
            raise LogprobsUnavailable("logprobs='none'")
        items = list(zip(messages, images, options))
        fn = self._options_chat if mode == "chat" else self._options_completions
        # the first prompt alone: a server without logprobs is found out with one request
        first = fn(items[0]) if items else None
        rest = self._map(fn, items[1:]) if len(items) > 1 else []
        return [first, *rest]

    def _options_chat(self, item):
        msgs, imgs, opts = item
        body = self.payload(msgs, imgs, temperature=0.0, max_tokens=2, seed=0)
        body.update(logprobs=True, top_logprobs=int(self.top_logprobs))
        try:
            data = self._post_json("/chat/completions", body)
        except JudgeUnavailable:
            raise
        except JudgeError as exc:
            return PromptFailure(str(exc))
        try:
            content = (data["choices"][0].get("logprobs") or {}).get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            content = None
        if not content or not content[0].get("top_logprobs"):
            raise LogprobsUnavailable(f"{self.base_url}/chat/completions answered without "
                                      "logprobs.content[].top_logprobs")
        return options_from_top_logprobs(content, opts)

    def _render_prompt(self, messages: list[dict]) -> str:
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        prompt = "\n\n".join(m["content"] for m in turns)
        return self.prompt_template.format(system=system, prompt=prompt).lstrip()

    def _options_completions(self, item):
        msgs, imgs, opts = item
        if not self.prompt_template:
            raise ValueError("logprobs='completions' needs prompt_template (the model's prompt "
                             "format, e.g. 'USER: {prompt} ASSISTANT:')")
        if imgs:
            raise LogprobsUnavailable("/completions takes no images; use logprobs='chat'")
        prefix = self._render_prompt(msgs)
        body = {"model": self.model, "prompt": [prefix + o for o in opts], "max_tokens": 1,
                "temperature": 0.0, "echo": True, "logprobs": 1}
        try:
            data = self._post_json("/completions", body)
        except JudgeUnavailable:
            raise
        except JudgeError as exc:
            return PromptFailure(str(exc))
        choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != len(opts):
            return PromptFailure(f"/completions answered {len(choices)} choices for "
                                 f"{len(opts)} prompts")
        out = []
        for c, o in zip(choices, opts):
            lp = c.get("logprobs") or {}
            toks, vals, offs = (lp.get("tokens"), lp.get("token_logprobs"),
                                lp.get("text_offset"))
            if not toks or vals is None or offs is None:
                raise LogprobsUnavailable(f"{self.base_url}/completions answered without "
                                          "echoed logprobs (tokens, token_logprobs, "
                                          "text_offset)")
            n_prompt = len(prefix) + len(o)
            # the option's tokens: those starting at or after the prompt's end, within the echo
            total = 0.0
            for t, v, off in zip(toks, vals, offs):
                if len(prefix) <= off < n_prompt or (off < len(prefix) < off + len(t)):
                    total += float(v) if v is not None else 0.0
            out.append(total)
        return out


def options_from_top_logprobs(content: list, options: list[str]) -> list[float]:
    """Option log-probabilities from an OpenAI ``logprobs.content`` answer.

    At the first position, every alternative whose text (stripped, case-folded) is an option,
    or the start of exactly one option, adds its probability to that option. Where one option
    is a prefix of another (``"1"`` / ``"10"``) and the greedy first token is that prefix, the
    next position's alternatives split its mass: the continuation (``"0"``) goes to the longer
    option, the rest stays with the shorter one.

    >>> c = [{"token": "Yes", "logprob": math.log(.6),
    ...       "top_logprobs": [{"token": "Yes", "logprob": math.log(.6)},
    ...                        {"token": " yes", "logprob": math.log(.1)},
    ...                        {"token": "No", "logprob": math.log(.2)}]}]
    >>> [round(math.exp(x), 2) for x in options_from_top_logprobs(c, ["Yes", "No"])]
    [0.7, 0.2]
    """
    norm = [o.strip().casefold() for o in options]
    mass = [0.0] * len(options)
    first = content[0]
    greedy = (first.get("token") or "").strip().casefold()
    split = None
    for alt in first.get("top_logprobs") or []:
        t = (alt.get("token") or "").strip().casefold()
        if not t:
            continue
        p = math.exp(float(alt.get("logprob", -math.inf)))
        exact = [j for j, o in enumerate(norm) if o == t]
        longer = [j for j, o in enumerate(norm) if o != t and o.startswith(t)]
        if exact and longer:
            if t == greedy and len(content) > 1 and split is None:
                split = (exact[0], longer, p)
            else:
                mass[exact[0]] += p
        elif exact:
            mass[exact[0]] += p
        elif len(longer) == 1:
            mass[longer[0]] += p
    if split is not None:
        j_short, longer, p = split
        rest = p
        for alt in content[1].get("top_logprobs") or []:
            t = (alt.get("token") or "").strip().casefold()
            q = math.exp(float(alt.get("logprob", -math.inf)))
            for j in longer:
                if t and norm[j] == norm[j_short] + t:
                    mass[j] += p * q
                    rest -= p * q
        mass[j_short] += max(rest, 0.0)
    return [math.log(m) if m > 0 else -math.inf for m in mass]
