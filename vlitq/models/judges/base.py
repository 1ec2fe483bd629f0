"""The judge interface and its completion cache.

A judge turns prompts (and optionally images) into text completions::

    judge.generate(prompts, images=None, n=1, temperature=0.7, max_tokens=64, seed=0)
    -> list[list[str]]      # n completions per prompt

A prompt is a string (one user message) or a list of chat messages
``[{"role": "system"|"user"|"assistant", "content": str}, ...]`` (for few-shot examples given as
earlier turns); images attach to the last user message. Every completion is cached by
(backend, model id, prompt, image content hash, sampling parameters, seed, sample index), so a
re-run with the same arguments makes no model call.
"""
from __future__ import annotations

import io
import logging
from typing import Any, Sequence

from vlitq._utils import blake2b, stable_json

logger = logging.getLogger("vlitq")

#: Version of the cache key layout; bump when the meaning of a cached completion changes.
CACHE_VERSION = 1


class JudgeError(RuntimeError):
    """A judge could not produce completions (model missing, server unreachable ...)."""


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


class Judge:
    """Base class of judge backends.

    Subclasses implement :meth:`_generate` (uncached, one sample index at a time) and
    :meth:`model_id`. :meth:`generate` adds the cache and the bookkeeping.

    Attributes
    ----------
    backend : str
        Short backend name (``"local"``, ``"openai"``), part of the cache key.
    calls : int
        Completions actually produced by the model (cache hits excluded).
    cache_hits : int
    """

    backend: str = "judge"

    def __init__(self, *, cache=None):
        self.cache = cache
        self.calls = 0
        self.cache_hits = 0

    # ------------------------------------------------------------------ to implement
    def model_id(self) -> str:
        raise NotImplementedError

    def get_params(self) -> dict:
        """Settings that identify this judge (never secrets)."""
        return {"backend": self.backend, "model": self.model_id()}

    def _generate(self, messages: list[list[dict]], images: list[list], *, temperature: float,
                  max_tokens: int, seed: int, k: int) -> list[str]:
        """One completion per prompt for sample index ``k`` (no cache)."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (a character-based estimate unless a backend knows better)."""
        return max(1, len(text) // 4)

    # ------------------------------------------------------------------ provided
    def _store(self):
        if self.cache is None:
            return None
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
            ``out[i][k]`` is completion ``k`` of prompt ``i``.
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
        out: list[list[str | None]] = [[None] * n for _ in prompts]
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
            texts = self._generate([messages[i] for i in todo], [images[i] for i in todo],
                                   temperature=temperature, max_tokens=int(max_tokens),
                                   seed=int(seed), k=k)
            if len(texts) != len(todo):
                raise JudgeError(f"backend returned {len(texts)} completions for {len(todo)}")
            self.calls += len(todo)
            fresh = {}
            for i, t in zip(todo, texts):
                out[i][k] = t
                if keys:
                    fresh[keys[i][k]] = {"text": t}
            if store is not None:
                store.put_many_json(fresh)
        return out  # type: ignore[return-value]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
