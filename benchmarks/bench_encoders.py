"""Sentence encoders: speed vs fidelity (issue #18).

For each encoder variant, on real texts (``$VLITQ_REAL_DATA``: Alpaca outputs, LLaVA-13B
generated descriptions, BLIP captions, LLaVA-Bench GPT-4 answers) and on the texts the
LLaVA-665K-shaped generator (``_llava665k.py``) makes the MiniLM components encode (each
sample's first instruction and every distinct response):

- **speed**: texts per CPU-second (process user+sys, all threads) and wall seconds, uncached;
- **fidelity**: cosine of each embedding to the fp32 MiniLM one (same-space variants), and for
  every variant the Pearson / Spearman correlation of all pairwise similarities with MiniLM's;
- **indicator**: ``response_diversity``'s semantic clusters of each set (one task per set,
  min_samples 3) at MiniLM's stored radius and at the variant's own calibrated radius
  (:func:`vlitq.models.calibration.calibrate_eps`, packaged pairs): number of clusters,
  ln(clusters), ARI of the cluster labels against fp32 MiniLM's;
- **tasks**: the embedding task labeller's ARI against 15 real instruction families
  (``metrics/tasks/validate_real.py``, 565 samples).

Variants: ``fp32`` (the default: all-MiniLM-L6-v2, 256-token window), ``seq128`` (the same
with a 128-token window, the length MiniLM was trained at; longer texts windowed), ``int8``
(``all-MiniLM-L6-v2:int8``), ``static`` (``minilm-static``).

    nice python benchmarks/bench_encoders.py --threads 1 --out /tmp/enc1.json
    nice python benchmarks/bench_encoders.py --threads 2 --parts speed --sets synthetic,llava13b
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--threads", type=int, default=1, help="torch / tokenizer threads")
ap.add_argument("--encoders", default="fp32,seq128,int8,static")
ap.add_argument("--sets", default="alpaca,llava13b,blip,qa90,synthetic")
ap.add_argument("--parts", default="speed,indicator,tasks,batch")
ap.add_argument("--synthetic-n", type=int, default=1000, help="generator samples")
ap.add_argument("--out", default=None, help="write the figures as JSON here")
ap.add_argument("--save-emb", default=None, help="write every embedding to this .npz")
args = ap.parse_args()

# before torch / tokenizers start their pools
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
os.environ["RAYON_NUM_THREADS"] = str(args.threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true" if args.threads > 1 else "false"
os.environ.setdefault("VLITQ_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import resource
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "metrics", "tasks"))


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def real_root() -> str | None:
    for d in (os.environ.get("VLITQ_REAL_DATA"), "/work/realdata"):
        if d and os.path.isdir(os.path.join(d, "cc_blip_captions")):
            return d
    return None


def load_sets(names, synthetic_n):
    out = {}
    root = real_root()
    if root is None and set(names) - {"synthetic"}:
        print("no real-data corpus (set VLITQ_REAL_DATA): real sets left out")

    def j(p):
        with open(os.path.join(root, p), encoding="utf-8") as fh:
            return json.load(fh)

    if root:
        if "alpaca" in names:
            out["alpaca"] = [r["output"] for r in j("llamafactory_mllm_demo/alpaca_en_demo.json")
                             if r["output"].strip()]
        if "llava13b" in names:
            out["llava13b"] = [r["generated"] for r in
                               j("cc_blip_captions/llava13b_baseline_inference.json")]
        if "blip" in names:
            out["blip"] = [r["conversations"][1]["value"] for r in
                           j("cc_blip_captions/blip_laion_cc_200_test_samples.json")]
        if "qa90" in names:
            with open(os.path.join(root, "llava_bench_coco/qa90_gpt4_answer.jsonl")) as fh:
                out["qa90"] = [json.loads(line)["text"] for line in fh]
    if "synthetic" in names:
        from _llava665k import make_llava665k

        from vlitq.indicators._task_labellers import instruction_text

        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "mix.json")
            make_llava665k(p, synthetic_n, seed=0)
            with open(p) as fh:
                recs = json.load(fh)
        ins, resp = [], []
        for r in recs:
            conv = r["conversations"]
            turns = [{"instruction": conv[i]["value"], "response": conv[i + 1]["value"]}
                     for i in range(0, len(conv) - 1, 2)]
            ins.append(instruction_text(turns))
            resp += [t["response"] for t in turns]
        # what tasks + response_diversity encode: distinct instructions and distinct responses
        out["synthetic"] = list(dict.fromkeys([t for t in ins + resp if t]))
        out["_synthetic_responses"] = list(dict.fromkeys(t for t in resp if t))
    return out


def make_encoder(kind: str, batch_size: int = 64):
    from vlitq.models.text import SentenceEncoder

    if kind == "fp32":
        return SentenceEncoder("all-MiniLM-L6-v2", device="cpu", batch_size=batch_size)
    if kind == "seq128":
        enc = SentenceEncoder("all-MiniLM-L6-v2", device="cpu", batch_size=batch_size)
        enc._load()
        enc._st.max_seq_length = 128
        enc.max_words = int(128 * 0.75) - 2  # the same rule as the 256 default (190 words)
        return enc
    if kind == "int8":
        return SentenceEncoder("all-MiniLM-L6-v2:int8", device="cpu", batch_size=batch_size)
    if kind == "static":
        return SentenceEncoder("minilm-static")
    raise SystemExit(f"unknown encoder {kind}")


def main():
    encs = args.encoders.split(",")
    parts = set(args.parts.split(","))
    sets = load_sets(args.sets.split(","), args.synthetic_n)
    shown = [k for k in sets if not k.startswith("_")]
    res = {"threads": args.threads, "load_start": os.getloadavg(), "sets":
           {k: {"texts": len(v), "mean_words": float(np.mean([len(t.split()) for t in v]))}
            for k, v in sets.items() if not k.startswith("_")}, "speed": {}, "fidelity": {},
           "indicator": {}, "tasks": {}, "batch": {}}
    print(f"threads {args.threads}; sets: " + ", ".join(
        f"{k} {res['sets'][k]['texts']} texts ({res['sets'][k]['mean_words']:.0f} words)"
        for k in shown), flush=True)
    emb: dict[str, dict[str, np.ndarray]] = {}
    encoders = {}
    for kind in encs:
        c0, w0 = cpu(), time.perf_counter()
        enc = make_encoder(kind)
        enc.encode(["load the model"], use_cache=False)
        res.setdefault("load", {})[kind] = {"cpu_s": cpu() - c0, "wall_s": time.perf_counter() - w0}
        encoders[kind] = enc
        emb[kind] = {}
        for name in shown:
            texts = sets[name]
            c0, w0 = cpu(), time.perf_counter()
            emb[kind][name] = enc.encode(texts, use_cache=False)
            c, w = cpu() - c0, time.perf_counter() - w0
            res["speed"].setdefault(kind, {})[name] = {
                "cpu_s": round(c, 3), "wall_s": round(w, 3), "texts_per_cpu_s": len(texts) / c,
                "cpu_s_per_1k": 1000 * c / len(texts), "load": os.getloadavg()[0]}
            print(f"speed {kind:7s} {name:10s} {len(texts):5d} texts  {c:8.2f} CPU-s  "
                  f"{w:8.2f} wall  {len(texts) / c:9.1f} texts/CPU-s  "
                  f"{1000 * c / len(texts):7.2f} CPU-s/1k  load {os.getloadavg()[0]:.1f}",
                  flush=True)
        if "_synthetic_responses" in sets:
            emb[kind]["_synthetic_responses"] = enc.encode(sets["_synthetic_responses"],
                                                           use_cache=False)

    if args.save_emb:
        np.savez(args.save_emb, **{f"{k}|{n}": v for k in emb for n, v in emb[k].items()},
                 **{f"texts|{n}": np.asarray(t, dtype=object) for n, t in sets.items()})
    if "speed" in parts and "fp32" in emb:
        from scipy.stats import spearmanr

        for kind in encs:
            for name in shown:
                a, b = emb["fp32"][name], emb[kind][name]
                row = {}
                if a.shape == b.shape:
                    cos = (a * b).sum(1)
                    row.update(cos_mean=float(cos.mean()), cos_p5=float(np.percentile(cos, 5)),
                               cos_min=float(cos.min()))
                iu = np.triu_indices(len(a), 1)
                sa, sb = (a @ a.T)[iu], (b @ b.T)[iu]
                row.update(sim_pearson=float(np.corrcoef(sa, sb)[0, 1]),
                           sim_spearman=float(spearmanr(sa, sb).correlation))
                res["fidelity"].setdefault(kind, {})[name] = row
                print(f"fidelity {kind:7s} {name:10s} " + "  ".join(
                    f"{k} {v:.4f}" for k, v in row.items()), flush=True)

    if "indicator" in parts and "fp32" in emb:
        from sklearn.metrics import adjusted_rand_score

        from vlitq.models.calibration import CALIBRATED_EPS, calibrate_eps
        from vlitq.indicators.response_diversity import semantic_clusters

        base_eps = CALIBRATED_EPS["all-minilm-l6-v2"]
        div_sets = [n for n in shown if n != "synthetic"]
        if "_synthetic_responses" in emb["fp32"]:
            div_sets.append("_synthetic_responses")
        ref = {n: semantic_clusters(emb["fp32"][n], base_eps, 3) for n in div_sets}
        for kind in encs:
            cal = calibrate_eps(encoders[kind])
            res["indicator"].setdefault(kind, {})["calibration"] = cal
            print(f"calibrate {kind:7s} eps {cal['eps']:.4f}  balanced accuracy "
                  f"{cal['balanced_accuracy']:.3f}  paraphrase min/median {cal['pos_min']:.3f}/"
                  f"{cal['pos_median']:.3f}  different max/median {cal['neg_max']:.3f}/"
                  f"{cal['neg_median']:.3f}", flush=True)
            for label, eps in (("minilm_eps", base_eps), ("own_eps", cal["eps"])):
                for n in div_sets:
                    c = semantic_clusters(emb[kind][n], eps, 3)
                    row = {"eps": eps, "clusters": len(c["sizes"]),
                           "dbscan_clusters": c["dbscan_clusters"],
                           "value": float(np.log(max(1, len(c["sizes"])))),
                           "ref_clusters": len(ref[n]["sizes"]),
                           "ref_value": float(np.log(max(1, len(ref[n]["sizes"])))),
                           "ari": float(adjusted_rand_score(ref[n]["labels"], c["labels"]))}
                    res["indicator"][kind].setdefault(label, {})[n] = row
                    print(f"diversity {kind:7s} {label:10s} eps {eps:.4f} {n:20s} clusters "
                          f"{row['clusters']:4d} (fp32 {row['ref_clusters']:4d})  ln "
                          f"{row['value']:.3f} (fp32 {row['ref_value']:.3f})  dbscan "
                          f"{row['dbscan_clusters']:3d} (fp32 {ref[n]['dbscan_clusters']:3d})  "
                          f"ARI {row['ari']:.3f}", flush=True)

    if "tasks" in parts:
        from sklearn.metrics import adjusted_rand_score
        from validate_real import corpus_dir, families

        import vlitq
        from vlitq.data.dataset import Dataset, make_sample
        from vlitq.indicators.tasks import Tasks

        root = corpus_dir()
        if root:
            rows = families(root)
            fam = [f for _, f in rows]
            recs = [make_sample(f"s{i}", [(t, "x")]) for i, (t, _) in enumerate(rows)]
            ds = Dataset.from_records(recs)
            for kind in encs:
                for label, extra in (("default", {}), ("k=true", {"n_clusters": len(set(fam))})):
                    c0 = cpu()
                    rep = vlitq.score(ds, [Tasks(task_source="embedding", encoder=encoders[kind],
                                                 **extra)], cache=False, progress=False)
                    d = rep.details("tasks")
                    ari = adjusted_rand_score(fam, rep.samples["task"].to_list())
                    res["tasks"].setdefault(kind, {})[label] = {
                        "ari": ari, "k": d["k"], "silhouette": d.get("silhouette"),
                        "cpu_s": cpu() - c0}
                    print(f"tasks {kind:7s} {label:8s} {len(rows)} samples {len(set(fam))} "
                          f"families  k={d['k']:3d}  ARI {ari:.3f}  silhouette "
                          f"{d.get('silhouette')}  {cpu() - c0:.1f} CPU-s", flush=True)

    if "batch" in parts and "synthetic" in sets:
        # one piece of the encode loop (SentenceEncoder encodes and caches 1,024 texts at a time)
        texts = sets["synthetic"][:1024]
        for kind in [k for k in encs if k in ("fp32", "int8")]:
            for bs in (8, 16, 32, 64, 128):
                enc = encoders[kind]
                enc.batch_size = bs
                c0 = cpu()
                enc.encode(texts, use_cache=False)
                c = cpu() - c0
                res["batch"].setdefault(kind, {})[bs] = {"cpu_s": c, "texts_per_cpu_s":
                                                         len(texts) / c}
                print(f"batch {kind:7s} bs {bs:4d}  {len(texts)} synthetic texts  {c:.2f} "
                      f"CPU-s  {len(texts) / c:.1f} texts/CPU-s", flush=True)
            enc.batch_size = 64
            if kind == "int8":  # int8 activations are scaled per batch: a text alone vs batched
                few = sets.get("llava13b", texts)[:100]
                alone = np.concatenate([enc.encode([t], use_cache=False) for t in few])
                batched = enc.encode(few, use_cache=False)
                cos = (alone * batched).sum(1)
                res["batch"]["int8_alone_vs_batched_cos_min"] = float(cos.min())
                print(f"int8 one text alone vs in a batch of 64: cosine min {cos.min():.5f} "
                      f"mean {cos.mean():.5f}", flush=True)
    res["load_end"] = os.getloadavg()
    res["cpu_s_total"] = cpu()
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    print(f"total {cpu():.1f} CPU-s; load {res['load_start'][0]:.1f} -> {res['load_end'][0]:.1f}")


if __name__ == "__main__":
    main()
