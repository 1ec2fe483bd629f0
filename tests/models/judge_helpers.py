"""Shared test helpers: a tiny random LLaVA, an OpenAI-compatible test server, scripted judges."""
from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vlitq.models.judges import Judge

WORDS = (["<unk>", "<pad>", "<s>", "</s>", "<image>"]
         + ["user", "assistant", ":", "the", "a", "is", "of", "and", "yes", "no", "cat", "dog", "red", "blue", "image", "what", "color", "shape", "circle", "square", "correct", "response", "instruction"]
         + [str(i) for i in range(11)] + list(".,?!"))


def build_tiny_llava(path: str) -> str:
    """A random-weight LlavaForConditionalGeneration (tiny CLIP vision + tiny Llama) saved with
    its processor to ``path``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>",
                                  bos_token="<s>", eos_token="</s>",
                                  extra_special_tokens={"image_token": "<image>"})
    ip = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    vis = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, image_size=28, patch_size=14,
                           projection_dim=32)
    txt = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=512, pad_token_id=1, bos_token_id=2,
                      eos_token_id=3)
    cfg = LlavaConfig(vision_config=vis, text_config=txt, image_token_index=4,
                      image_seq_length=4, vision_feature_layer=-1,
                      vision_feature_select_strategy="default")
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14,
                          vision_feature_select_strategy="default",
                          num_additional_image_tokens=1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    proc.save_pretrained(path)
    return path


class ChatServer:
    """A real HTTP server on 127.0.0.1 speaking OpenAI chat completions (and ``/completions``
    with ``echo``), answering with a :class:`Judge` (the local backend's model).

    ``fail`` answers 503 that many times first; ``fail_if`` (a substring) answers 503 to every
    request whose text contains it; ``delay`` sleeps before answering; ``trickle`` (seconds)
    sends the answer one byte per interval; ``logprobs`` returns ``logprobs`` like vLLM when a
    request asks for them (chat: ``content[].top_logprobs`` from the local model;
    completions: echoed ``tokens`` / ``token_logprobs`` / ``text_offset``); every request body
    and Authorization header is kept."""

    def __init__(self, judge: Judge, *, logprobs: bool = True):
        self.judge = judge
        self.fail = 0
        self.fail_if: str | None = None
        self.delay = 0.0
        self.trickle = 0.0
        self.logprobs = logprobs
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.images_seen = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                with server._lock:
                    server.requests.append(body)
                    server.auth.append(self.headers.get("Authorization"))
                    failing = server.fail > 0
                    if failing:
                        server.fail -= 1
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    return self._send(404, {"error": "not found"})
                if failing or (server.fail_if and server.fail_if in json.dumps(body)):
                    return self._send(503, {"error": "overloaded"})
                if server.delay:
                    time.sleep(server.delay)
                try:
                    if self.path == "/v1/completions":
                        return self._send(200, server.complete(body))
                    text, lp = server.answer(body)
                except Exception as exc:  # surface model errors as a 500 with the reason
                    return self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
                choice = {"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": text}}
                if lp is not None:
                    choice["logprobs"] = {"content": lp}
                self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                                 "choices": [choice]})

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if server.trickle and code == 200:
                        for i in range(len(data)):
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                            time.sleep(server.trickle)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = False  # server_close() waits for handlers (no torch call
        # left running when the interpreter exits)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, body: dict):
        """(text, logprobs content or None) for a chat request."""
        from PIL import Image

        msgs, images = [], []
        for m in body["messages"]:
            c = m["content"]
            if isinstance(c, list):
                text = []
                for part in c:
                    if part["type"] == "text":
                        text.append(part["text"])
                    else:
                        url = part["image_url"]["url"]
                        images.append(Image.open(io.BytesIO(base64.b64decode(url.split(",")[1]))))
                c = "\n".join(text)
            msgs.append({"role": m["role"], "content": c})
        with self._lock:
            self.images_seen += len(images)
        if body.get("logprobs") and self.logprobs:
            top = self.judge.top_logprobs(msgs, n_tokens=body.get("max_tokens", 1),
                                          k=int(body.get("top_logprobs") or 1), images=images)
            content = [{"token": t, "logprob": v, "bytes": list(t.encode()),
                        "top_logprobs": [{"token": a, "logprob": b, "bytes": list(a.encode())}
                                         for a, b in alts]} for t, v, alts in top]
            return "".join(t for t, _, _ in top), content
        text = self.judge.generate([msgs], images=[images], n=1,
                                   temperature=body.get("temperature", 0.0),
                                   max_tokens=body.get("max_tokens", 16),
                                   seed=body.get("seed", 0))[0][0]
        return text, None

    def complete(self, body: dict) -> dict:
        """A ``/completions`` answer; with ``echo`` and ``logprobs`` the prompt's token
        log-probabilities (vLLM's layout), one choice per prompt."""
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = []
        for i, p in enumerate(prompts):
            c = {"index": i, "text": p if body.get("echo") else "", "finish_reason": "length"}
            if body.get("echo") and body.get("logprobs") is not None and self.logprobs:
                toks, vals, offs = self.judge.text_logprobs(p)
                c["logprobs"] = {"tokens": toks, "token_logprobs": vals, "text_offset": offs,
                                 "top_logprobs": None}
            choices.append(c)
        return {"id": "x", "object": "text_completion", "model": body["model"],
                "choices": choices}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedJudge(Judge):
    """A judge whose answers are scripted: ``script(prompt_text, k) -> str``."""

    backend = "scripted"

    def __init__(self, script, *, cache=None, name="scripted"):
        super().__init__(cache=cache)
        self.script = script
        self.name = name
        self.seen: list[tuple[str, int, int]] = []

    def model_id(self):
        return self.name

    def _generate(self, messages, images, *, temperature, max_tokens, seed, k):
        out = []
        for m, im in zip(messages, images):
            self.seen.append((m[-1]["content"], len(im), k))
            out.append(self.script(m[-1]["content"], k))
        return out
