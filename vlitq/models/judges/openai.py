"""OpenAI chat-completions backend (vLLM, SGLang, Ollama, LM Studio, OpenAI itself)."""
from __future__ import annotations

import base64
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from vlitq.models.judges.base import Judge, JudgeError, image_to_png_bytes

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
        Seconds per request (connect, read, write).
    max_retries : int
        Retries on 408/409/425/429/5xx answers and connection errors, with exponential backoff
        (``backoff * 2**attempt`` seconds, jittered, or the server's ``Retry-After``).
    backoff : float
    cache : vlitq.cache.Cache, optional

    Notes
    -----
    ``n`` completions are ``n`` requests with seeds ``seed + k`` (several servers ignore the
    ``n`` field); images are sent as base64 PNG ``image_url`` parts.
    """

    backend = "openai"

    def __init__(self, model: str, *, base_url: str = "http://127.0.0.1:8000/v1",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 1.0,
                 cache=None):
        super().__init__(cache=cache)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._client = None

    def model_id(self) -> str:
        return f"{self.model}@{self.base_url}"

    def get_params(self) -> dict:
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url,
                "api_key_env": self.api_key_env, "concurrency": self.concurrency,
                "timeout": self.timeout, "max_retries": self.max_retries}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_client"] = None
        return state

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

    def _post(self, body: dict) -> str:
        import httpx

        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.max_retries + 1):
            wait = None
            try:
                r = self._http().post(url, json=body, headers=self._headers())
            except httpx.TimeoutException as exc:
                last = f"timed out after {self.timeout} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
            else:
                if r.status_code == 200:
                    try:
                        data = r.json()
                        return data["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError) as exc:
                        raise JudgeError(f"{url}: unexpected answer ({exc}): {r.text[:200]!r}")
                last = f"HTTP {r.status_code}: {r.text[:200]!r}"
                if r.status_code not in _RETRY_STATUS:
                    raise JudgeError(f"{url} refused the request: {last}")
                ra = r.headers.get("retry-after")
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
        raise JudgeError(f"OpenAI-compatible server at {self.base_url} failed after "
                         f"{self.max_retries + 1} attempts: {last}. Is the server running and "
                         f"serving model {self.model!r}? (e.g. `vllm serve {self.model}`)")

    def _generate(self, messages, images, *, temperature, max_tokens, seed, k):
        bodies = [self.payload(m, im, temperature=temperature, max_tokens=max_tokens,
                               seed=seed + k) for m, im in zip(messages, images)]
        if self.concurrency <= 1 or len(bodies) == 1:
            return [self._post(b).strip() for b in bodies]
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            return [t.strip() for t in ex.map(self._post, bodies)]
