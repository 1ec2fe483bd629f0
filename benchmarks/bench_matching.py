"""Throughput of the ``matching`` scorer: images/s and samples/s by architecture and batch size.

Random weights (``pretrained=None``): throughput does not depend on the weight values. Each run
scores LLaVA-like samples (one distinct 640x480 JPEG + one instruction/response turn each)
end to end through ``vlitq.score`` with the embedding cache off, then reports where the time
goes: image decoding + preprocessing, image encoding, text encoding (each timed on its own,
serially), plus a comparison of thread-pool vs DataLoader-process preprocessing workers.

    python benchmarks/bench_matching.py                      # ViT-B-32 and ViT-L-14, bs 1..64
    python benchmarks/bench_matching.py --archs ViT-B-32 --batch-sizes 32 --device cuda
"""
from __future__ import annotations

import argparse
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
    t0 = time.perf_counter()
    rep = vlitq.score(ds, [scorer], cache=False, progress=False)
    wall = time.perf_counter() - t0
    assert rep.samples["matching_error"].null_count() == n
    assert enc.images_encoded == n

    # where the time goes, each stage timed serially on the same inputs
    import torch

    datas = [Path(folder, nm).read_bytes() for nm in names[:n]]
    t0 = time.perf_counter()
    pix = [enc.preprocess_bytes(d) for d in datas]
    prep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for off in range(0, n, bs):
        enc.encode_pixels(torch.stack(pix[off : off + bs]))
    img_s = time.perf_counter() - t0
    texts = [f"{TEXT} ({i})" for i in range(n)]  # distinct texts, as in real data
    t0 = time.perf_counter()
    enc.encode_texts(texts)
    txt_s = time.perf_counter() - t0
    total = prep_s + img_s + txt_s
    return {"arch": arch, "bs": bs, "n": n, "load_s": load_s, "wall_s": wall,
            "samples_s": n / wall, "images_s": n / wall,
            "prep_share": prep_s / total, "img_share": img_s / total, "txt_share": txt_s / total,
            "prep_ms": 1000 * prep_s / n, "img_ms": 1000 * img_s / n, "txt_ms": 1000 * txt_s / n}


def bench_workers(folder: str, names: list[str], n: int) -> dict:
    """Decode+preprocess throughput: serial vs thread pool vs DataLoader worker processes."""
    from vlitq.models.clip import ClipEncoder

    datas = [Path(folder, nm).read_bytes() for nm in names[:n]]
    out = {}
    warm = ClipEncoder("ViT-B-32", None, workers=1).load()
    for d in datas[:8]:  # first calls pay for lazy imports and code paths: keep them out
        warm.preprocess_bytes(d)
    for label, workers, kind in (("serial", 1, "thread"), ("threads x2", 2, "thread"),
                                 ("processes x2", 2, "process")):
        enc = ClipEncoder("ViT-B-32", None, workers=workers, worker_type=kind).load()
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
    ap.add_argument("--images", type=int, default=128, help="samples per ViT-B-32 run")
    ap.add_argument("--images-large", type=int, default=0,
                    help="samples per run for other archs (default: max(batch size, 4))")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    os.environ.setdefault("VLITQ_DISABLE_PROGRESS_BARS", "1")
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # "random weights" warnings are expected here
    logging.getLogger("vlitq").setLevel(logging.ERROR)
    import torch

    folder = tempfile.mkdtemp(prefix="vlitq-bench-")
    n_max = max([args.images, args.images_large] + args.batch_sizes)
    t0 = time.perf_counter()
    names = make_images(folder, n_max)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.1f}, device {args.device or 'auto'}")
    print(f"# made {n_max} 640x480 JPEGs in {time.perf_counter() - t0:.1f} s")
    w = bench_workers(folder, names, min(64, n_max))
    print("# decode+preprocess (ViT-B-32 transform), images/s: "
          + ", ".join(f"{k} {v:.1f}" for k, v in w.items()))
    print(f"{'arch':10} {'bs':>3} {'n':>4} {'load s':>7} {'samples/s':>10} {'images/s':>9} "
          f"{'decode+prep':>11} {'img enc':>8} {'txt enc':>8}  ms/img (prep/img/txt)")
    for arch in args.archs:
        for bs in args.batch_sizes:
            n = args.images if arch == "ViT-B-32" else (args.images_large or max(bs, 4))
            n = max(n, bs)
            r = bench(arch, bs, n, folder, names, args.device)
            print(f"{arch:10} {bs:>3} {n:>4} {r['load_s']:7.1f} {r['samples_s']:10.2f} "
                  f"{r['images_s']:9.2f} {100 * r['prep_share']:10.0f}% {100 * r['img_share']:7.0f}% "
                  f"{100 * r['txt_share']:7.0f}%  {r['prep_ms']:.0f}/{r['img_ms']:.0f}/{r['txt_ms']:.0f}",
                  flush=True)
    print(f"# peak RSS {peak_rss_mb():.0f} MB, load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
