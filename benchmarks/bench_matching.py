"""Throughput of the ``matching`` scorer: images/s and samples/s by architecture and batch size.

Random weights (``pretrained=None``): throughput does not depend on the weight values. Each run
scores LLaVA-like samples (one distinct 640x480 JPEG + one instruction/response turn each)
end to end through ``vlitq.score`` with the embedding cache off, and reports where the time goes:
seconds spent decoding + preprocessing (in worker threads, overlapping the encoder), encoding
images and encoding texts, as shares of their sum; plus a comparison of serial, thread-pool and
DataLoader-process preprocessing.

    python benchmarks/bench_matching.py                      # ViT-B-32 and ViT-L-14, bs 1..64
    python benchmarks/bench_matching.py --archs ViT-B-32 --batch-sizes 32 --device cuda
    python benchmarks/bench_matching.py --texts 2000              # text towers only (#18.4)

``--texts N``: the text tower alone, N LLaVA-like turn texts (instruction + response from the
phrases of ``_common``, 1-6 sentences: 20-110 tokens, many texts repeated as in LLaVA), through
(a) the bare open_clip loop (``tokenizer(batch)`` padded to 77, ``model.encode_text``, in input
order, every text encoded; texts over 77 tokens truncated) and (b) ``ClipEncoder.encode_texts``
(identical texts once, windows sorted by length, each batch padded to its longest window, long
texts windowed, not truncated). Prints texts/s of both, the token positions each ran through
the tower, and the largest difference between the two embeddings on texts that fit the
context (must be float noise).
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

TEXT = ("<image>\nWhat is the man doing in this picture, and what can you infer about the "
        "setting? The man is riding a bicycle along a busy street next to a red bus, with "
        "several pedestrians on the pavement, suggesting a city centre during rush hour.")


def make_images(folder: str, n: int, seed: int = 0) -> list[str]:
    """n distinct 640x480 JPEGs made from a real photo (COCO-like size and entropy)."""
    from PIL import Image
    from skimage import data

    base = Image.fromarray(data.astronaut()).resize((640, 480))
    arr = np.asarray(base).astype(np.int16)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        noisy = np.clip(arr + rng.integers(-6, 7, arr.shape), 0, 255).astype(np.uint8)
        name = f"img{i:05d}.jpg"
        Image.fromarray(noisy).save(os.path.join(folder, name), quality=90)
        names.append(name)
    return names


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(arch: str, bs: int, n: int, folder: str, names: list[str], device: str | None):
    import vlitq
    from vlitq.data.dataset import Dataset, make_sample
    from vlitq.scorers.matching import Matching

    recs = [make_sample(f"s{i}", [(TEXT.split("?")[0] + "?", TEXT.split("?", 1)[1])],
                        [names[i]]) for i in range(n)]
    ds = Dataset.from_records(recs, image_root=folder)
    scorer = Matching(model=arch, pretrained=None, batch_size=bs, embedding_cache=False,
                      device=device)
    t0 = time.perf_counter()
    scorer.ensure_loaded()
    load_s = time.perf_counter() - t0
    enc = scorer._encoder
    # time each stage inside the real run: decoding+preprocessing runs in worker threads
    # (overlapping the encoder), so its share is of the summed stage seconds, not of the wall
    spent = {"prep": 0.0, "img": 0.0, "txt": 0.0}

    def timed(fn, key):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper

    enc.preprocess_bytes = timed(enc.preprocess_bytes, "prep")
    enc.encode_pixels = timed(enc.encode_pixels, "img")
    enc.encode_texts = timed(enc.encode_texts, "txt")
    t0 = time.perf_counter()
    rep = vlitq.score(ds, [scorer], cache=False, progress=False)
    wall = time.perf_counter() - t0
    assert rep.samples["matching_error"].null_count() == n
    assert enc.images_encoded == n
    prep_s, img_s, txt_s = spent["prep"], spent["img"], spent["txt"]
    total = prep_s + img_s + txt_s
    return {"arch": arch, "bs": bs, "n": n, "load_s": load_s, "wall_s": wall,
            "samples_s": n / wall, "images_s": n / wall,
            "prep_share": prep_s / total, "img_share": img_s / total, "txt_share": txt_s / total,
            "prep_ms": 1000 * prep_s / n, "img_ms": 1000 * img_s / n, "txt_ms": 1000 * txt_s / n}


def make_texts(n: int, seed: int = 0) -> list[str]:
    import random

    from _common import PLACES, QUESTIONS, SUBJECTS

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s, p = rng.choice(SUBJECTS), rng.choice(PLACES)
        q = rng.choice(QUESTIONS).format(s=s, p=p)
        out.append(q + " " + (f"{s.capitalize()} is {p}. " * rng.randint(1, 6)).strip())
    return out


def bench_texts(arch: str, n: int, bs: int, device: str | None) -> dict:
    import open_clip
    import torch

    from vlitq.models.clip import ClipEncoder

    texts = make_texts(n)
    enc = ClipEncoder(arch, None, batch_size=bs, device=device).load()
    tok = open_clip.get_tokenizer(arch)
    net = enc._net
    with torch.inference_mode():  # warm-up of both paths outside the timings
        net.encode_text(tok(texts[:2]).to(enc.device))
    enc.encode_texts(texts[:2])
    enc.texts_encoded = enc.text_tokens_encoded = 0
    t0 = time.perf_counter()
    bare = []
    with torch.inference_mode():
        for a in range(0, n, bs):
            ids = tok(texts[a:a + bs]).to(enc.device)
            bare.append(torch.nn.functional.normalize(net.encode_text(ids).float(), dim=-1).cpu())
    bare_s = time.perf_counter() - t0
    bare = torch.cat(bare).numpy()
    t0 = time.perf_counter()
    ours = enc.encode_texts(texts)
    ours_s = time.perf_counter() - t0
    fits = [i for i, t in enumerate(texts) if len(tok.encode(t)) <= enc.context_length - 2]
    return {"arch": arch, "bs": bs, "n": n, "distinct": len(set(texts)), "fits": len(fits),
            "bare_s": bare_s, "ours_s": ours_s, "bare_tok": n * enc.context_length,
            "ours_tok": enc.text_tokens_encoded,
            "max_diff": float(np.abs(bare[fits] - ours[fits]).max()) if fits else None}


def bench_workers(folder: str, names: list[str], n: int) -> dict:
    """Decode+preprocess throughput: serial vs thread pool vs DataLoader worker processes."""
    from vlitq.models.clip import ClipEncoder

    datas = [Path(folder, nm).read_bytes() for nm in names[:n]]
    out = {}
    enc = ClipEncoder("ViT-B-32", None, workers=1).load()
    for d in datas[:8]:  # first calls pay for lazy imports and code paths: keep them out
        enc.preprocess_bytes(d)
    for label, workers, kind in (("serial", 1, "thread"), ("threads x2", 2, "thread"),
                                 ("processes x2", 2, "process")):
        enc.workers, enc.worker_type = workers, kind
        t0 = time.perf_counter()
        res = list(enc._iter_preprocessed(datas))
        dt = time.perf_counter() - t0
        assert len(res) == n and not any(isinstance(r, Exception) for r in res)
        out[label] = n / dt
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["ViT-B-32", "ViT-L-14"])
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32, 64])
    ap.add_argument("--images", type=int, default=64, help="samples per ViT-B-32 run")
    ap.add_argument("--images-large", type=int, default=0,
                    help="samples per run for other archs (default: max(batch size, 4))")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads (default: torch's choice, one per core)")
    ap.add_argument("--texts", type=int, default=0,
                    help="benchmark the text towers alone on this many turn texts")
    ap.add_argument("--skip-workers", action="store_true",
                    help="skip the serial/thread/process preprocessing comparison")
    args = ap.parse_args()
    os.environ.setdefault("VLITQ_DISABLE_PROGRESS_BARS", "1")
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # "random weights" warnings are expected here
    logging.getLogger("vlitq").setLevel(logging.ERROR)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.texts:
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
              f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average "
              f"{os.getloadavg()[0]:.1f}, device {args.device or 'auto'}, random weights")
        print("| arch | bs | texts (distinct, fit 77) | bare open_clip texts/s | vlitq texts/s | "
              "speed-up | token positions bare / vlitq | max abs diff | load avg |")
        print("|---|---|---|---|---|---|---|---|---|")
        for arch in args.archs:
            for bs in args.batch_sizes:
                r = bench_texts(arch, args.texts, bs, args.device)
                gc.collect()
                print(f"| {arch} | {bs} | {r['n']} ({r['distinct']}, {r['fits']}) | "
                      f"{r['n'] / r['bare_s']:.1f} | {r['n'] / r['ours_s']:.1f} | "
                      f"{r['bare_s'] / r['ours_s']:.2f}x | {r['bare_tok']} / {r['ours_tok']} | "
                      f"{r['max_diff']:.1e} | {os.getloadavg()[0]:.1f} |", flush=True)
        print(f"# peak RSS {peak_rss_mb():.0f} MB")
        return
    folder = tempfile.mkdtemp(prefix="vlitq-bench-")
    n_max = max([args.images, args.images_large] + args.batch_sizes)
    t0 = time.perf_counter()
    names = make_images(folder, n_max)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.1f}, device {args.device or 'auto'}")
    print(f"# made {n_max} 640x480 JPEGs in {time.perf_counter() - t0:.1f} s")
    if not args.skip_workers:
        w = bench_workers(folder, names, min(32, n_max))
        print("# decode+preprocess (ViT-B-32 transform), images/s: "
              + ", ".join(f"{k} {v:.1f}" for k, v in w.items()))
    print(f"{'arch':10} {'bs':>3} {'n':>4} {'load s':>7} {'samples/s':>10} {'images/s':>9} "
          f"{'decode+prep':>11} {'img enc':>8} {'txt enc':>8}  ms/img (prep/img/txt)")
    for arch in args.archs:
        for bs in args.batch_sizes:
            n = args.images if arch == "ViT-B-32" else (args.images_large or max(bs, 4))
            n = max(n, bs)
            r = bench(arch, bs, n, folder, names, args.device)
            gc.collect()  # the timing wrappers form cycles holding the model: free it now
            print(f"{arch:10} {bs:>3} {n:>4} {r['load_s']:7.1f} {r['samples_s']:10.2f} "
                  f"{r['images_s']:9.2f} {100 * r['prep_share']:10.0f}% {100 * r['img_share']:7.0f}% "
                  f"{100 * r['txt_share']:7.0f}%  {r['prep_ms']:.0f}/{r['img_ms']:.0f}/{r['txt_ms']:.0f}",
                  flush=True)
    print(f"# peak RSS {peak_rss_mb():.0f} MB, load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
