"""What one CPU call of the packaged SmolLM2-135M-Instruct judge costs, how batching changes
it, and what reading options by probability saves over k-sample voting.

``--compare`` (default on): the llm_complexity rating prompt (rubric + 6 scored turns) and the
yes/no correctness prompt (text only) on ``--n`` real-looking pairs, read two ways through the
judge layer, no cache: option scoring (``Judge.score_options``: one forward pass per prompt,
nothing generated) against k-sample voting (``Judge.generate(n=k)`` at temperature 0.7, the
paper's procedure). Prints model calls, generated tokens and seconds of each, and the ratio.

Two workloads through ``LocalJudge.generate`` (no cache): ``short`` (a one-line question, up to
16 new tokens) and ``rating`` (the llm_complexity prompt: rubric + 6 few-shot turns, ~430
prompt tokens, up to 4 new tokens). For batch sizes 1, 8 and 32 it prints calls/s, latency per
call, prompt and generated tokens/s, and peak RSS. Prints the load average too: on a shared
machine the figures move with it.

Run: python benchmarks/bench_judges.py [--batches 1,8,32] [--calls 32] [--threads N]
     python benchmarks/bench_judges.py --workloads "" --n 6 --k 5 --threads 1   # compare only
"""
import argparse
import os
import resource
import time

import torch

from vlitq.models.judges import get_judge
from vlitq.scorers.llm_complexity import build_messages

ap = argparse.ArgumentParser()
ap.add_argument("--batches", default="1,8,32")
ap.add_argument("--calls", type=int, default=32, help="prompts per measurement (batch >= 8)")
ap.add_argument("--single-calls", type=int, default=8, help="prompts at batch size 1")
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--judge", default=None,
                help="judge spec (default: packaged SmolLM2), e.g. Qwen/Qwen2.5-7B-Instruct, "
                     "'openai:<model>@<url>' or a JSON dict")
ap.add_argument("--workloads", default="short,rating",
                help="batching workloads; '' to skip them")
ap.add_argument("--compare", type=int, default=1, help="option scoring vs voting (0: skip)")
ap.add_argument("--n", type=int, default=6, help="prompts per method in --compare")
ap.add_argument("--k", type=int, default=5, help="votes per prompt in --compare")
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

t0 = time.perf_counter()
spec = args.judge
if spec and spec.startswith("{"):
    import json

    spec = json.loads(spec)
judge = get_judge(spec)
if hasattr(judge, "_load"):
    judge._load()
print(f"load (converted copy): {time.perf_counter() - t0:.2f} s; torch threads "
      f"{torch.get_num_threads()}; cpus {os.cpu_count()}")
tok = judge._load()["tokenizer"] if hasattr(judge, "_load") else None

QUESTIONS = ["What is the capital of France?", "Name three fruits.", "Why is the sky blue?",
             "Describe a cat in one sentence.", "What is 12 times 7?", "Say hello in Spanish.",
             "What colour is grass?", "Give a synonym for happy."]
RATING = [("What colour is the cup?", "Blue."),
          ("Describe where the cat, the lamp and the books are relative to each other.",
           "The cat lies under the lamp; the books are to its right."),
          ("Compare the two houses: which is older and why?", "The stone one; its walls.")]


def prompts(kind, n):
    if kind == "short":
        return [QUESTIONS[i % len(QUESTIONS)] + f" ({i})" for i in range(n)], 16
    return [build_messages(*RATING[i % len(RATING)]) for i in range(n)], 4




def compare():
    from vlitq.scorers.correctness import build_prompt
    from vlitq.scorers.llm_complexity import RATINGS

    pairs = [RATING[i % len(RATING)] for i in range(args.n)]
    work = {"rating": ([build_messages(*p) for p in pairs], list(RATINGS), 6),
            "yes/no": ([build_prompt(*p) for p in pairs], ["Yes", "No"], 8)}
    judge.batch_size = 8
    print(f"\noption scoring vs {args.k}-sample voting, {args.n} prompts each, no cache")
    print(f"{'prompt':<7} {'method':<9} {'calls':>6} {'gen tokens':>10} {'seconds':>8}"
          "  load avg")
    for kind, (ps, opts, max_new) in work.items():
        judge.score_options(ps[:1], opts)  # warm-up
        c0 = judge.option_calls
        t = time.perf_counter()
        judge.score_options(ps, opts)
        t_opt = time.perf_counter() - t
        print(f"{kind:<7} {'options':<9} {judge.option_calls - c0:>6} {0:>10} {t_opt:>8.2f}"
              f"  {os.getloadavg()[0]:.1f}", flush=True)
        c0, g0 = judge.calls, judge.generated_tokens
        t = time.perf_counter()
        judge.generate(ps, n=args.k, temperature=0.7, max_tokens=max_new, seed=1)
        t_vote = time.perf_counter() - t
        print(f"{kind:<7} {'vote':<9} {judge.calls - c0:>6} {judge.generated_tokens - g0:>10} "
              f"{t_vote:>8.2f}  {os.getloadavg()[0]:.1f}   (voting / options: "
              f"{t_vote / max(t_opt, 1e-9):.1f}x the time)", flush=True)


if args.compare:
    compare()
if args.workloads:
    print()
print(f"{'workload':<8} {'batch':>5} {'calls':>5} {'s/call':>8} {'calls/s':>8} "
      f"{'prompt tok/s':>12} {'gen tok/s':>10}  load avg")
for kind in [w for w in args.workloads.split(",") if w]:
    for bs in [int(b) for b in args.batches.split(",")]:
        n = args.single_calls if bs == 1 else max(bs, args.calls)
        ps, max_new = prompts(kind, n)
        judge.batch_size = bs
        judge.generate(ps[:1], temperature=0, max_tokens=2)  # warm-up
        t = time.perf_counter()
        out = judge.generate(ps, temperature=0, max_tokens=max_new)
        dt = time.perf_counter() - t
        p_tok = sum(len(tok(judge.render(judge_msgs))["input_ids"])
                    for judge_msgs in [[{"role": "user", "content": p}] if isinstance(p, str)
                                       else p for p in ps])
        g_tok = sum(len(tok(o[0], add_special_tokens=False)["input_ids"]) for o in out)
        print(f"{kind:<8} {bs:>5} {n:>5} {dt / n:>8.3f} {n / dt:>8.2f} {p_tok / dt:>12.1f} "
              f"{g_tok / dt:>10.1f}  {os.getloadavg()[0]:.1f}", flush=True)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"peak RSS: {rss:.0f} MB")
