"""vlitq ``matching`` vs Data-Juicer's ``image_text_similarity_filter``, side by side.

Both tools load the SAME local Hugging Face CLIP folder (a random-weight ``CLIPModel`` of the
ViT-B/32 or ViT-L/14 architecture, saved with ``save_pretrained`` together with a processor
whose BPE tokenizer is built from the vocabulary open_clip ships, so nothing is downloaded) and
score the SAME images and texts, in one run:

* **vlitq**: ``vlitq.score(ds, [Matching(model=<folder>, backend="transformers",
  pretrained=None, embedding_cache=False)], cache=False)`` in this interpreter (a subprocess).
* **Data-Juicer**: the way its own tests and its executor run one op:
  ``ImageTextSimilarityFilter(hf_clip=<folder>, min_score=-1, max_score=1).run(NestedDataset)``
  (``datasets.map`` of ``compute_stats`` with DJ's automatic ``num_proc`` and its default batch
  size, then the filter pass; the bounds keep every sample). It runs in a SEPARATE virtual
  environment (``--dj-venv``), created here with ``python3 -m venv`` + ``pip install
  py-data-juicer torch torchvision transformers aiohttp ray`` when missing. Data-Juicer is never a
  vlitq dependency. Its automatic package installation (uv/pip at run time) is disabled in the
  worker, and the hubs are off (``HF_HUB_OFFLINE=1``).

Two settings: LLaVA-like (``--distinct-images`` JPEGs, 256x192, reused over ``--n`` samples)
and all-distinct (one image per sample). Texts are LLaVA-style instruction + response
conversations of 1-3 turns, one image per sample. Printed per tool: wall time including model
load, samples/s, images/s (image-text pairs scored per second; one image per sample, so equal
to samples/s), images actually encoded (vlitq encodes each distinct image once), peak RSS of the whole process tree (sampled
with psutil every 0.1 s, so Data-Juicer's worker processes count), and the agreement of the
scores: vlitq's ``matching`` = 100 x cos; Data-Juicer's similarity = logits_per_text / 100 =
exp(logit_scale) x cos / 100; both are converted to cos and compared on single-turn samples
whose text fits the 77-token context, where the two must agree.

    python benchmarks/bench_dj_matching.py                        # ViT-B/32, n=150
    python benchmarks/bench_dj_matching.py --n 1000 --arch ViT-L-14 --dj-venv /tmp/djvenv
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import PLACES, QUESTIONS, SUBJECTS  # noqa: E402  (the texts bench_score.py uses)
# DJ 1.6.1 imports aiohttp and ray (data_juicer.core) without declaring them, and would try to
# install them with uv at run time.
DJ_PACKAGES = ["py-data-juicer", "torch==2.14.1", "torchvision==0.29.1", "transformers",
               "aiohttp", "ray"]
DJ_IMAGE, DJ_EOC = "<__dj__image>", "<|__dj__eoc|>"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}

ARCHS = {
    "ViT-B-32": {"text_config": {"hidden_size": 512, "intermediate_size": 2048,
                                 "num_hidden_layers": 12, "num_attention_heads": 8},
                 "vision_config": {"hidden_size": 768, "intermediate_size": 3072,
                                   "num_hidden_layers": 12, "num_attention_heads": 12,
                                   "image_size": 224, "patch_size": 32},
                 "projection_dim": 512},
    "ViT-L-14": {"text_config": {"hidden_size": 768, "intermediate_size": 3072,
                                 "num_hidden_layers": 12, "num_attention_heads": 12},
                 "vision_config": {"hidden_size": 1024, "intermediate_size": 4096,
                                   "num_hidden_layers": 24, "num_attention_heads": 16,
                                   "image_size": 224, "patch_size": 14},
                 "projection_dim": 768},
}


# ---------------------------------------------------------------------------- preparation
def build_model(folder: str, arch: str) -> str:
    """A random-weight HF CLIPModel + CLIPProcessor saved to ``folder`` (kept if present)."""
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return folder
    import open_clip
    import torch
    import transformers as tr

    os.makedirs(folder, exist_ok=True)
    # The real CLIP BPE tokenizer, from the vocabulary open_clip ships (no hub access).
    tok = open_clip.tokenizer.SimpleTokenizer()
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(k, k): v for k, v in tok.encoder.items()}
    tdir = os.path.join(folder, "_tok")
    os.makedirs(tdir, exist_ok=True)
    with open(os.path.join(tdir, "vocab.json"), "w") as fh:
        json.dump(vocab, fh)
    merges = sorted(tok.bpe_ranks.items(), key=lambda kv: kv[1])
    with open(os.path.join(tdir, "merges.txt"), "w") as fh:
        fh.write("#version: 0.2\n" + "\n".join(" ".join(p) for p, _ in merges))
    hf_tok = tr.CLIPTokenizer(os.path.join(tdir, "vocab.json"), os.path.join(tdir, "merges.txt"))
    assert len(hf_tok) == 49408
    cfg = ARCHS[arch]
    config = tr.CLIPConfig(
        text_config={**cfg["text_config"], "vocab_size": 49408, "max_position_embeddings": 77},
        vision_config=cfg["vision_config"], projection_dim=cfg["projection_dim"])
    torch.manual_seed(0)
    tr.CLIPModel(config).save_pretrained(folder)
    ip = tr.CLIPImageProcessor()  # OpenAI defaults: resize shortest edge 224, centre crop 224
    tr.CLIPProcessor(image_processor=ip, tokenizer=hf_tok).save_pretrained(folder)
    return folder


def make_images(folder: str, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct photo-like 256x192 JPEGs (random crops of scikit-image photos + noise)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    os.makedirs(folder, exist_ok=True)
    bases = [np.asarray(Image.fromarray(f()).convert("RGB").resize((512, 384)))
             for f in (data.astronaut, data.coffee, data.chelsea, data.rocket)]
    paths = []
    for i in range(n):
        p = os.path.join(folder, f"{i:05d}.jpg")
        paths.append(p)
        if os.path.exists(p):
            continue
        rng = np.random.default_rng([seed, i])  # per image: a re-run adds no duplicate content
        b = bases[i % len(bases)]
        y, x = rng.integers(0, 384 - 192), rng.integers(0, 512 - 256)
        crop = b[y : y + 192, x : x + 256].astype(np.int16)
        crop = np.clip(crop + rng.integers(-8, 9, crop.shape), 0, 255).astype(np.uint8)
        Image.fromarray(crop).save(p, quality=88)
    return paths


def make_conversations(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """LLaVA-style (instruction, response) turns; about half the samples have one turn."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s, p = rng.choice(SUBJECTS), rng.choice(PLACES)
        turns = []
        for t in range(rng.choice([1, 1, 2, 3])):
            q = rng.choice(QUESTIONS).format(s=s, p=p)
            a = " ".join(f"{s.capitalize()} is {p}{rng.choice(['', ' today', ' again'])}."
                         for _ in range(rng.randint(1, 8)))
            turns.append((("<image>\n" if t == 0 else "") + q, a))
        out.append(turns)
    return out


def turn_text(instruction: str, response: str) -> str:
    """The text vlitq matches for one turn (``text="instruction+response"``)."""
    parts = [instruction.replace("<image>", " ").strip(), response.strip()]
    return " ".join(" ".join(x.split()) for x in parts if x.strip())


# ---------------------------------------------------------------------------- workers
def _rss_self_children_mib() -> tuple[float, float]:
    r = resource.getrusage
    return (r(resource.RUSAGE_SELF).ru_maxrss / 1024, r(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def worker_vlitq(cfg: dict) -> dict:
    sys.path.insert(0, os.path.dirname(HERE))  # this checkout's vlitq first
    import vlitq
    from vlitq.data.dataset import Dataset, make_sample
    from vlitq.scorers.matching import Matching

    recs = [make_sample(f"s{i}", [tuple(t) for t in s["turns"]], [s["image"]])
            for i, s in enumerate(cfg["samples"])]
    ds = Dataset.from_records(recs, image_root=cfg["image_root"])
    t0 = time.perf_counter()
    scorer = Matching(model=cfg["model"], pretrained=None, backend="transformers",
                      batch_size=cfg["batch_size"], embedding_cache=False)
    scorer.ensure_loaded()
    load_s = time.perf_counter() - t0
    rep = vlitq.score(ds, [scorer], cache=False, progress=False)
    wall = time.perf_counter() - t0
    col = rep.samples["matching"].to_list()
    errs = [e for e in rep.samples["matching_error"].to_list() if e]
    own, kids = _rss_self_children_mib()
    return {"wall_s": wall, "load_s": load_s, "scores": col, "errors": errs[:3],
            "n_errors": len(errs), "images_encoded": scorer._encoder.images_encoded,
            "rss_self_mib": own, "rss_children_mib": kids}


def worker_dj(cfg: dict) -> dict:
    # No package installation at run time: every import must already be satisfied.
    from data_juicer.utils import lazy_loader

    def _refuse(cls, package_spec, pip_args=None):
        raise RuntimeError(f"benchmark: refusing Data-Juicer's auto-install of {package_spec}")

    lazy_loader.LazyLoader._install_package = classmethod(_refuse)
    from data_juicer.core.data import NestedDataset
    from data_juicer.ops.filter.image_text_similarity_filter import ImageTextSimilarityFilter
    from data_juicer.utils.constant import Fields, StatsKeys

    rows = []
    for s in cfg["samples"]:
        text = " ".join(turn_text(q, a) for q, a in s["turns"])
        rows.append({"text": f"{DJ_IMAGE}\n{text} {DJ_EOC}",
                     "images": [os.path.join(cfg["image_root"], s["image"])]})
    ds = NestedDataset.from_list(rows)
    kwargs = {"hf_clip": cfg["model"], "min_score": -1.0, "max_score": 1.0}
    if cfg.get("dj_num_proc"):
        kwargs["num_proc"] = cfg["dj_num_proc"]
    if cfg.get("dj_batch_size"):
        kwargs["batch_size"] = cfg["dj_batch_size"]
    t0 = time.perf_counter()
    op = ImageTextSimilarityFilter(**kwargs)
    num_proc = op.runtime_np()
    out = op.run(ds)
    wall = time.perf_counter() - t0
    sims = []
    for st in out[Fields.stats]:
        v = st.get(StatsKeys.image_text_similarity)
        sims.append(float(v[0]) if v is not None and len(v) == 1 else None)
    own, kids = _rss_self_children_mib()
    return {"wall_s": wall, "scores": sims, "num_proc": num_proc, "batch_size": op.batch_size,
            "kept": len(out), "rss_self_mib": own, "rss_children_mib": kids}


def run_worker(python: str, tool: str, cfg_path: str, out_path: str) -> dict:
    """Run one tool in a subprocess; peak RSS of its process tree is sampled with psutil."""
    import psutil

    env = {**os.environ, **OFFLINE_ENV}
    cmd = [python, os.path.abspath(__file__), "--_worker", tool, "--_config", cfg_path,
           "--_out", out_path]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{tool} worker failed with exit status {proc.returncode}")
    with open(out_path) as fh:
        res = json.load(fh)
    res["tree_peak_rss_mib"] = peak / 2**20
    res["process_s"] = total
    return res


# ---------------------------------------------------------------------------- DJ venv
def ensure_dj_venv(path: str) -> str:
    py = os.path.join(path, "bin", "python")
    if not os.path.exists(py):
        print(f"creating the Data-Juicer venv at {path} (pip install {' '.join(DJ_PACKAGES)})",
              flush=True)
        subprocess.run(["python3", "-m", "venv", path], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *DJ_PACKAGES], check=True)
    probe = ("import data_juicer, torch, transformers; from data_juicer.ops.filter."
             "image_text_similarity_filter import ImageTextSimilarityFilter; "
             "print(data_juicer.__version__, torch.__version__, transformers.__version__)")
    r = subprocess.run([py, "-c", probe], capture_output=True, text=True, check=False,
                       env={**os.environ, **OFFLINE_ENV})
    if r.returncode != 0:
        raise SystemExit(f"Data-Juicer venv {path} is not usable:\n{r.stderr[-2000:]}")
    return r.stdout.split()


# ---------------------------------------------------------------------------- comparison
def compare(samples, vl, dj, logit_scale: float, tokenizer) -> dict:
    import numpy as np

    single, other = [], []
    for s, v, d in zip(samples, vl, dj):
        if v is None or d is None:
            continue
        cos_v, cos_d = v / 100.0, d * 100.0 / logit_scale
        if len(s["turns"]) == 1:
            n_tok = len(tokenizer(turn_text(*s["turns"][0]))["input_ids"])
            if n_tok <= 77:
                single.append(abs(cos_v - cos_d))
                continue
        other.append(abs(cos_v - cos_d))
    single, other = np.array(single), np.array(other)
    return {"n_single": len(single), "max_single": float(single.max()) if len(single) else None,
            "n_other": len(other), "mean_other": float(other.mean()) if len(other) else None,
            "max_other": float(other.max()) if len(other) else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--n", type=int, default=150,
                    help="samples per setting (default 150: 8-13 min for both settings on 2 "
                         "loaded cores)")
    ap.add_argument("--distinct-images", type=int, default=30,
                    help="distinct images reused over the samples in the LLaVA-like setting "
                         "(default 30; LLaVA-Instruct reuses each COCO image ~5 times)")
    ap.add_argument("--settings", default="reused,distinct",
                    help="comma list of 'reused' and 'distinct' (default both)")
    ap.add_argument("--arch", default="ViT-B-32", choices=sorted(ARCHS),
                    help="CLIP architecture of the random-weight model (default ViT-B-32)")
    ap.add_argument("--batch-size", type=int, default=64, help="vlitq matching batch size")
    ap.add_argument("--dj-venv", default=os.path.expanduser("~/.cache/vlitq-bench/djvenv"),
                    help="venv with py-data-juicer; created when missing "
                         "(default ~/.cache/vlitq-bench/djvenv)")
    ap.add_argument("--dj-num-proc", type=int, default=None,
                    help="Data-Juicer num_proc (default: its automatic choice)")
    ap.add_argument("--dj-batch-size", type=int, default=None,
                    help="Data-Juicer batch_size (default: the op's default)")
    ap.add_argument("--workdir", default=os.path.expanduser("~/.cache/vlitq-bench/dj_matching"),
                    help="where the model folder, images and results are kept")
    ap.add_argument("--skip-dj", action="store_true", help="run vlitq only")
    ap.add_argument("--_worker", choices=["vlitq", "dj"], help=argparse.SUPPRESS)
    ap.add_argument("--_config", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a._worker:
        with open(a._config) as fh:
            cfg = json.load(fh)
        res = (worker_vlitq if a._worker == "vlitq" else worker_dj)(cfg)
        with open(a._out, "w") as fh:
            json.dump(res, fh)
        return

    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    import math
    from importlib.metadata import version

    import transformers as tr
    from safetensors import safe_open

    t_start = time.perf_counter()
    dj_versions = None if a.skip_dj else ensure_dj_venv(a.dj_venv)
    model = build_model(os.path.join(a.workdir, f"clip-{a.arch}-random"), a.arch)
    with safe_open(os.path.join(model, "model.safetensors"), framework="numpy") as fh:
        logit_scale = math.exp(float(fh.get_tensor("logit_scale")))
    tokenizer = tr.CLIPTokenizer.from_pretrained(model)
    settings = [s.strip() for s in a.settings.split(",") if s.strip()]
    n_img = max(a.n if "distinct" in settings else 0, a.distinct_images)
    image_root = os.path.join(a.workdir, "images")
    paths = make_images(image_root, n_img)
    import hashlib
    from pathlib import Path

    n_contents = len({hashlib.blake2b(Path(p).read_bytes()).hexdigest() for p in paths})
    assert n_contents == n_img, f"{n_img} image files but {n_contents} distinct contents"
    convs = make_conversations(a.n)

    print(f"# vlitq matching vs Data-Juicer image_text_similarity_filter  "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(f"machine: {os.cpu_count()} CPU cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, {platform.platform()}, "
          f"vlitq side: torch {version('torch')}, transformers {version('transformers')}")
    if dj_versions:
        print(f"Data-Juicer venv {a.dj_venv}: py-data-juicer {dj_versions[0]}, "
              f"torch {dj_versions[1]}, transformers {dj_versions[2]}")
    print(f"model: random-weight HF CLIPModel {a.arch} at {model} "
          f"(exp(logit_scale) = {logit_scale:.4f}); images 256x192 JPEG; n = {a.n} samples, "
          f"{sum(len(c) for c in convs) / a.n:.2f} turns/sample on average")

    for setting in settings:
        if setting == "reused":
            imgs = [f"{(i * 7919) % a.distinct_images:05d}.jpg" for i in range(a.n)]
        elif setting == "distinct":
            imgs = [f"{i:05d}.jpg" for i in range(a.n)]
        else:
            raise SystemExit(f"unknown setting {setting!r}")
        samples = [{"turns": c, "image": im} for c, im in zip(convs, imgs)]
        cfg = {"samples": samples, "image_root": image_root, "model": model,
               "batch_size": a.batch_size, "dj_num_proc": a.dj_num_proc,
               "dj_batch_size": a.dj_batch_size}
        cfg_path = os.path.join(a.workdir, f"cfg_{setting}.json")
        with open(cfg_path, "w") as fh:
            json.dump(cfg, fh)
        n_distinct = len(set(imgs))
        print(f"\n## setting '{setting}': {a.n} samples, {n_distinct} distinct images", flush=True)
        res = {"vlitq": run_worker(sys.executable, "vlitq", cfg_path,
                                   os.path.join(a.workdir, f"out_vlitq_{setting}.json"))}
        if not a.skip_dj:
            res["data-juicer"] = run_worker(os.path.join(a.dj_venv, "bin", "python"), "dj",
                                            cfg_path,
                                            os.path.join(a.workdir, f"out_dj_{setting}.json"))
        print(f"{'tool':<12} {'wall s':>8} {'samples/s':>10} {'images/s':>9} {'encoded':>8} "
              f"{'tree peak RSS MiB':>18} {'max proc RSS MiB':>17}  notes")
        for tool, r in res.items():
            if tool == "vlitq":
                encoded = r["images_encoded"]
                note = f"model load {r['load_s']:.1f} s, batch_size {a.batch_size}"
            else:  # Data-Juicer decodes and encodes every image reference
                encoded = a.n
                note = f"num_proc {r['num_proc']}, batch_size {r['batch_size']}; kept {r['kept']}"
            own_max = max(r["rss_self_mib"], r["rss_children_mib"])
            print(f"{tool:<12} {r['wall_s']:>8.1f} {a.n / r['wall_s']:>10.2f} "
                  f"{a.n / r['wall_s']:>9.2f} {encoded:>8} {r['tree_peak_rss_mib']:>18.0f} "
                  f"{own_max:>17.0f}  {note}")
        assert res["vlitq"]["n_errors"] == 0, res["vlitq"]["errors"]
        if "data-juicer" in res:
            c = compare(samples, res["vlitq"]["scores"], res["data-juicer"]["scores"],
                        logit_scale, tokenizer)
            print(f"agreement (cosine): single-turn samples within 77 tokens: n={c['n_single']}, "
                  f"max |cos_vlitq - cos_dj| = {c['max_single']:.2e} "
                  f"(= {100 * c['max_single']:.2e} matching points)")
            if c["n_other"]:
                print(f"  multi-turn or longer than the context: n={c['n_other']}, mean |diff| "
                      f"= {c['mean_other']:.4f}, max = {c['max_other']:.4f} (vlitq: mean over "
                      f"turns, long texts in 77-token windows; Data-Juicer: whole conversation "
                      f"as one text truncated at 77 tokens)")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; peak RSS of this driver "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
