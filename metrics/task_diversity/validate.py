"""task_diversity counts the task families a dataset really has.

Subsets with 2, 3, ..., 7 of the seven instruction families (`vlitq.data.synthetic_tasks`),
20 samples per family:
- with the given labels, task_diversity equals the number of families exactly;
- with labels predicted without an LLM (embedding clusters, packaged MiniLM), the counts follow
  the true numbers (Spearman rho asserted > 0.8) and the ARI of each subset is printed.
LLM-mode (TagGPT with SmolLM2) figures are in metrics/tasks/validate.py.

Run: python metrics/task_diversity/validate.py
(CI: VLITQ_VALIDATE_FAST=1 uses subsets of 2, 4 and 7 families — the same assertions.)
"""
import os

from scipy.stats import spearmanr

import vlitq
from vlitq.data.dataset import Dataset
from vlitq.data.synthetic_tasks import FAMILIES, make_task_family_samples
from vlitq.cache import Cache
from vlitq.indicators.tasks import Tasks
from vlitq.models.text import SentenceEncoder

fams = list(FAMILIES)
cache = Cache(enabled=False)  # in-memory: embeddings shared across subsets
enc = SentenceEncoder(cache=cache)  # loaded once
true, given, pred = [], [], []
ks = list(range(2, len(fams) + 1))
if os.environ.get("VLITQ_VALIDATE_FAST") == "1":
    ks = [2, 4, len(fams)]
for k in ks:
    ds = Dataset.from_records(make_task_family_samples(20, seed=k, families=fams[:k]))
    g = vlitq.score(ds, ["tasks", "task_diversity"], cache=cache, progress=False)
    p = vlitq.score(ds, [Tasks(task_source="embedding", encoder=enc), "task_diversity"],
                    cache=cache, progress=False)
    d = p.details("tasks")
    ent = p.details("task_diversity")["entropy"]
    true.append(k)
    given.append(g.indicator("task_diversity"))
    pred.append(p.indicator("task_diversity"))
    print(f"{k} families: given labels -> {given[-1]:.0f}; embedding labels -> {pred[-1]:.0f} "
          f"(ARI {d['ari']:.2f}, entropy {ent:.2f})")
assert given == true, given
rho = spearmanr(true, pred).statistic
print(f"Spearman rho(true families, embedding-mode task_diversity) = {rho:.2f}")
assert rho > 0.8
