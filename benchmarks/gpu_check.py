"""The GPU check of #18.6, run by ``benchmarks/gpu_check.sh`` (see there for how).

Three sections, each timed, each guarded (a failure prints its error and the next runs):

1. **CLIP** ViT-L-14 with random weights (``pretrained=None``: throughput does not depend on
   the weight values), fp16 and bf16, batch 64/128/256/512: images/s of the image tower on
   preprocessed 224×224 tensors already on the device (``ClipEncoder.encode_pixels``), and text
   windows/s of ``encode_texts`` (length-batched) against padding every window to 77.
2. **DBSCAN** on the GPU at ``--dbscan-n`` (default 1M) clustered 384-d vectors
   (``bench_density.make_data``: real MiniLM sentence embeddings as centres when
   ``$VLITQ_BENCH_DIR/density_base_minilm.npy`` travelled, else Gaussian centres, and it says
   so): the exact blocked path on torch (``method="exact", device="cuda"``) and the exact
   k-NN graph (``index="torch"``); seconds, clusters, noise, GPU peak memory, ARI between them.
3. **Local judge**: ``LocalJudge`` on a random-weight Llama of SmolLM2-135M's shape (built from a
   config, saved with a word-level tokenizer: nothing downloaded), greedy generation of 16
   tokens for 256 prompts at batch 1/16/64: calls/s and generated tokens/s.

``--tiny``: the same code paths on the CPU with tiny sizes (a tiny open_clip model, 3000
points, a 2-layer Llama), checking that torch DBSCAN equals the numpy reference; used to test
this script where there is no GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

RESULTS: dict = {}


def _sync(torch, device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _gpu_peak_gib(torch, device) -> float | None:
    if str(device).startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return None


def section_clip(args):
    import numpy as np
    import torch

    from vlitq.models.clip import ClipEncoder

    if args.tiny:
        import open_clip

        from vlitq.models.clip import save_open_clip

        cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32,
                                               "patch_size": 8, "head_width": 16},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32,
                            "heads": 2, "layers": 1}}
        model = save_open_clip(open_clip.CLIP(**cfg), cfg, tempfile.mkdtemp() + "/tiny")
        precisions, batches, size = ["fp32"], [4, 8], 32
    else:
        model, size = "ViT-L-14", 224
        precisions, batches = ["fp16", "bf16"], [64, 128, 256, 512]
    from bench_matching import make_texts

    texts = make_texts(64 if args.tiny else 4096)
    print("\n## CLIP (random weights)\n")
    print("| model | precision | batch | images/s | text windows/s (length-batched) | "
          "text windows/s (padded to 77) | GPU peak GiB |")
    print("|---|---|---|---|---|---|---|")
    for prec in precisions:
        for bs in batches:
            enc = ClipEncoder(model, None, device=args.device, precision=prec,
                              batch_size=bs).load()
            if str(args.device).startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            px = torch.randn(bs, 3, size, size)
            enc.encode_pixels(px)  # warm-up
            _sync(torch, args.device)
            reps = 2 if args.tiny else 8
            t = time.perf_counter()
            for _ in range(reps):
                enc.encode_pixels(px)
            _sync(torch, args.device)
            ips = reps * bs / (time.perf_counter() - t)
            tps = {}
            for trim in (True, False):
                enc.trim_text, enc._trim = trim, None
                enc.encode_texts(texts[:bs])
                _sync(torch, args.device)
                t = time.perf_counter()
                enc.encode_texts(texts)
                _sync(torch, args.device)
                tps[trim] = len(set(texts)) / (time.perf_counter() - t)
            row = {"model": model, "precision": prec, "batch": bs, "images_s": round(ips, 1),
                   "text_s_trim": round(tps[True], 1), "text_s_pad77": round(tps[False], 1),
                   "gpu_peak_gib": _gpu_peak_gib(torch, args.device)}
            RESULTS.setdefault("clip", []).append(row)
            print(f"| {model if not args.tiny else 'tiny'} | {prec} | {bs} | {ips:.1f} | "
                  f"{tps[True]:.1f} | {tps[False]:.1f} | {row['gpu_peak_gib']} |", flush=True)
            del enc
            if str(args.device).startswith("cuda"):
                torch.cuda.empty_cache()
    _ = np


def section_dbscan(args):
    import numpy as np
    import torch
    from sklearn.metrics import adjusted_rand_score

    import bench_density
    from vlitq.graph.density import dbscan_cosine

    n = 3000 if args.tiny else args.dbscan_n
    base = os.path.join(bench_density.CACHE, "density_base_minilm.npy")
    if os.path.exists(base):
        x, src = bench_density.make_data(n), "MiniLM sentence centres"
    else:  # no sentence embeddings travelled: Gaussian centres, the same mixture otherwise
        rng = np.random.default_rng(0)
        c = rng.standard_normal((max(1, n // 120), 384)).astype(np.float32)
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        lab = rng.integers(0, len(c), n)
        x = c[lab] + rng.uniform(0.35, 0.75, len(c)).astype(np.float32)[lab, None] * \
            rng.standard_normal((n, 384), dtype=np.float32) / np.float32(np.sqrt(384))
        src = "Gaussian centres (no density_base_minilm.npy)"
    eps, ms = bench_density.EPS, bench_density.MIN_SAMPLES
    chunk = (64 << 20) if args.tiny else (8 << 30)
    print(f"\n## DBSCAN on {args.device}: n={n}, 384-d, eps={eps}, min_samples={ms} ({src})\n")
    print("| method | seconds | clusters | noise | GPU peak GiB |")
    print("|---|---|---|---|---|")
    out = {}
    runs = [("exact", dict(method="exact")),
            ("knn/torch", dict(method="knn", index="torch"))]
    if args.tiny:
        runs.insert(0, ("exact/numpy", dict(method="exact", device=None)))
    for name, kw in runs:
        kw = {"device": args.device, **kw}
        if str(args.device).startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        try:
            r = dbscan_cosine(x, eps, ms, max_chunk_bytes=chunk, **kw)
        except Exception as exc:  # e.g. out of memory: report, go on
            print(f"| {name} | failed: {type(exc).__name__}: {exc} | | | |", flush=True)
            continue
        dt = time.perf_counter() - t
        out[name] = r
        row = {"method": name, "n": n, "seconds": round(dt, 1), "clusters": r.n_clusters,
               "noise": round(r.noise_share, 4), "gpu_peak_gib": _gpu_peak_gib(torch, args.device)}
        RESULTS.setdefault("dbscan", []).append(row)
        print(f"| {name} | {dt:.1f} | {r.n_clusters} | {r.noise_share:.4f} | "
              f"{row['gpu_peak_gib']} |", flush=True)
    if "exact" in out and "knn/torch" in out:
        a, b = out["exact"], out["knn/torch"]
        agree = {"ari": round(adjusted_rand_score(a.labels, b.labels), 4),
                 "core_agree": round(float(np.mean(a.core == b.core)), 4),
                 "noise_agree": round(float(np.mean((a.labels < 0) == (b.labels < 0))), 4)}
        RESULTS["dbscan_agreement"] = agree
        print(f"\nk-NN graph vs exact: ARI {agree['ari']}, core agreement "
              f"{agree['core_agree']}, noise agreement {agree['noise_agree']}")
    if args.tiny and "exact/numpy" in out and "exact" in out:
        a, b = out["exact/numpy"], out["exact"]
        assert (a.core == b.core).all() and a.n_clusters == b.n_clusters, "torch != numpy"
        assert adjusted_rand_score(a.labels[a.core], b.labels[b.core]) == 1.0
        print("torch exact DBSCAN == numpy exact DBSCAN (core points, clusters)")


def _tiny_llama(path: str, tiny: bool) -> str:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "<s>", "</s>"] + [f"w{i}" for i in range(2000)] + list(".,?!:")
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>",
                                  bos_token="<s>", eos_token="</s>")
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} "
                         "{% endfor %}{% if add_generation_prompt %}assistant : {% endif %}")
    if tiny:
        cfg = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    else:  # the shape of SmolLM2-135M-Instruct (the packaged judge)
        cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                          num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                          max_position_embeddings=8192, tie_word_embeddings=True)
    cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id = 1, 2, 3
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def section_judge(args):
    import random

    from vlitq.models.judges.local import LocalJudge

    folder = _tiny_llama(tempfile.mkdtemp(prefix="vlitq-judge-"), args.tiny)
    rng = random.Random(0)
    n = 16 if args.tiny else 256
    prompts = [" ".join(f"w{rng.randrange(2000)}" for _ in range(rng.randint(20, 120)))
               for _ in range(n)]
    print(f"\n## Local judge on {args.device} (random Llama, "
          f"{'tiny' if args.tiny else 'SmolLM2-135M shape'}), greedy, 16 new tokens\n")
    print("| batch | prompts | seconds | calls/s | generated tokens/s |")
    print("|---|---|---|---|---|")
    for bs in ([1, 8] if args.tiny else [1, 16, 64]):
        judge = LocalJudge(folder, device=args.device, batch_size=bs,
                           dtype=None if args.tiny else "bfloat16")
        judge.generate(prompts[:1], temperature=0, max_tokens=2)  # load + warm-up
        m = min(n, 32) if bs == 1 else n
        t = time.perf_counter()
        outs = judge.generate(prompts[:m], temperature=0, max_tokens=16)
        dt = time.perf_counter() - t
        tok = judge._load()["tokenizer"]
        g = sum(len(tok(o[0], add_special_tokens=False)["input_ids"]) for o in outs)
        RESULTS.setdefault("judge", []).append({"batch": bs, "prompts": m,
                                                "seconds": round(dt, 2),
                                                "calls_s": round(m / dt, 2),
                                                "gen_tok_s": round(g / dt, 1)})
        print(f"| {bs} | {m} | {dt:.2f} | {m / dt:.2f} | {g / dt:.1f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, for a CPU dry run")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--dbscan-n", type=int, default=1_000_000)
    ap.add_argument("--sections", default="clip,dbscan,judge")
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("vlitq").setLevel(logging.ERROR)  # "random weights" warnings expected
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"# vlitq GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"device {args.device} ({dev}), torch {torch.__version__}, "
          f"{'tiny' if args.tiny else 'full'} sizes")
    RESULTS["device"], RESULTS["torch"], RESULTS["tiny"] = dev, torch.__version__, args.tiny
    failed = []
    for name in args.sections.split(","):
        t = time.perf_counter()
        try:
            {"clip": section_clip, "dbscan": section_dbscan, "judge": section_judge}[name](args)
        except Exception:
            failed.append(name)
            traceback.print_exc()
        print(f"# section {name}: {time.perf_counter() - t:.0f} s", flush=True)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "gpu_check.json"), "w") as fh:
            json.dump(RESULTS, fh, indent=1)
    if failed:
        print(f"# failed sections: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
