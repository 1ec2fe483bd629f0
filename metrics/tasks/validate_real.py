"""Task labels against real task labels, with the labels hidden (issue #14.5).

A mix of real instruction families is labelled by the default labeller (embedding clusters;
``task_source="auto"`` on data without labels) and the adjusted Rand index (ARI) between the
predicted labels and the families is printed, with the confidence figures the default run
reports without any truth (``silhouette``, ``labeller_agreement``), for each feature variant.

Families (the label is the family; a sample's instruction is what is labelled):

- ``caption``: LLaVA-Pretrain brief-caption requests (cc_blip_captions, 200);
- ``short_vqa``: easy-vqa questions (the PyPI package; 150, seeded sample);
- ``conv`` / ``detail`` / ``complex``: LLaVA-Bench COCO questions by type (30 each;
  ``complex`` = reasoning);
- ``multiple_choice``: MultiInstruct prompts with ``[Options]`` (llava-free, ~60);
- the nine LLaVA/Vicuna text-question categories (generic, knowledge, roleplay, common-sense,
  fermi, counterfactual, coding, math, writing; 80).

Needs the real-data corpus (``$VLITQ_REAL_DATA``, else ``/work/realdata`` or ``../shared/real``
beside the checkout); prints a clear reason and exits 0 without it. The CI claim of the
labeller is in ``validate.py`` (synthetic families the script builds itself).

Run: python metrics/tasks/validate_real.py
"""
import json
import os
import sys
import time

import numpy as np


def corpus_dir():
    for d in (os.environ.get("VLITQ_REAL_DATA"), "/work/realdata",
              os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "real")):
        if d and os.path.isfile(os.path.join(d, "llava_bench_coco",
                                             "coco2014_val_gpt4_qa_30x3.jsonl")):
            return d
    return None


def families(root, seed=0):
    rows = []
    for r in json.load(open(os.path.join(root, "cc_blip_captions",
                                         "blip_laion_cc_200_test_samples.json"))):
        rows.append((r["conversations"][0]["value"], "caption"))
    try:
        from easy_vqa import get_train_questions

        qs = get_train_questions()[0]
        rng = np.random.default_rng(seed)
        rows += [(qs[i], "short_vqa") for i in rng.choice(len(qs), 150, replace=False)]
    except ImportError:
        print("easy-vqa not installed: short_vqa family left out")
    for line in open(os.path.join(root, "llava_bench_coco", "coco2014_val_gpt4_qa_30x3.jsonl")):
        r = json.loads(line)
        rows.append(("<image>\n" + r["instruction"], r["type"]))
    for fn in ("train.jsonl", "test.jsonl"):
        for line in open(os.path.join(root, "multiinstruct", fn)):
            r = json.loads(line)
            if "[Options]" in r["prompt"]:
                rows.append((r["prompt"], "multiple_choice"))
    for line in open(os.path.join(root, "llava_vicuna_eval", "question.jsonl")):
        r = json.loads(line)
        rows.append((r["text"], r["category"]))
    return rows


def main():
    root = corpus_dir()
    if root is None:
        print("skipped: no real-data corpus (set VLITQ_REAL_DATA)")
        return 0
    import vlitq
    from vlitq.data.dataset import Dataset, make_sample
    from vlitq.indicators.tasks import Tasks

    rows = families(root)
    fam = [f for _, f in rows]
    print(f"{len(rows)} samples, {len(set(fam))} families: "
          + ", ".join(f"{f} {fam.count(f)}" for f in dict.fromkeys(fam)))
    recs = [make_sample(f"s{i}", [(t, "x")]) for i, (t, _) in enumerate(rows)]
    for r, f in zip(recs, fam):
        r["task"] = f
    ds = Dataset.from_records(recs)
    from sklearn.metrics import adjusted_rand_score

    for label, params in [("default (auto → embedding)", {"task_source": "embedding"}),
                          ("n_clusters = true count", {"task_source": "embedding",
                                                       "n_clusters": len(set(fam))})]:
        t0 = time.perf_counter()
        rep = vlitq.score(ds, [Tasks(**params)], cache=False, progress=False)
        d = rep.details("tasks")
        ari = adjusted_rand_score(fam, rep.samples["task_pred"].to_list())
        print(f"{label:<28} k={d['k']:>3}  ARI={ari:.3f}  silhouette={d['silhouette']}  "
              f"labeller_agreement={d['labeller_agreement']}  "
              f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
