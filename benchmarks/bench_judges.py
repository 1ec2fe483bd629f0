"""What one CPU call of the packaged SmolLM2-135M-Instruct judge costs, and how batching
changes it.

Two workloads through ``LocalJudge.generate`` (no cache): ``short`` (a one-line question, up to
16 new tokens) and ``rating`` (the llm_complexity prompt: rubric + 6 few-shot turns, ~430
prompt tokens, up to 4 new tokens). For batch sizes 1, 8 and 32 it prints calls/s, latency per
call, prompt and generated tokens/s, and peak RSS. Prints the load average too: on a shared
machine the figures move with it.

Run: python benchmarks/bench_judges.py [--batches 1,8,32] [--calls 32] [--threads N]
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
ap.add_argument("--workloads", default="short,rating")
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

t0 = time.perf_counter()
judge = get_judge(None)
judge._load()
print(f"load (converted copy): {time.perf_counter() - t0:.2f} s; torch threads "
      f"{torch.get_num_threads()}; cpus {os.cpu_count()}")
tok = judge._load()["tokenizer"]

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


print(f"{'workload':<8} {'batch':>5} {'calls':>5} {'s/call':>8} {'calls/s':>8} "
      f"{'prompt tok/s':>12} {'gen tok/s':>10}  load avg")
for kind in args.workloads.split(","):
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
