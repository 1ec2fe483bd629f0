"""Planted imbalance raises balance monotonically.

Seven instruction families; the first family is made r times larger than the others
(r = 1, 2, 4, 8, 16; 12 samples per other family). With given labels, balance (variance of the
task shares in %) must rise strictly with r and match the closed form; with labels predicted by
embedding clusters (no LLM, k fixed at 7) the rise is printed and its rank correlation with r
asserted (Spearman rho >= 0.9).

Run: python metrics/balance/validate.py
(CI: VLITQ_VALIDATE_FAST=1 uses r = 1, 4, 16 — the same assertions on three points.)
"""
import os

from scipy.stats import spearmanr

import vlitq
from vlitq.data.dataset import Dataset
from vlitq.data.synthetic_tasks import make_task_family_samples
from vlitq.cache import Cache
from vlitq.indicators.tasks import Tasks
from vlitq.models.text import SentenceEncoder

cache = Cache(enabled=False)
enc = SentenceEncoder(cache=cache)  # loaded once, embeddings cached in memory
base, ratios = 12, [1, 2, 4, 8, 16]
if os.environ.get("VLITQ_VALIDATE_FAST") == "1":
    ratios = [1, 4, 16]
given, pred = [], []
for r in ratios:
    sizes = [base * r] + [base] * 6
    ds = Dataset.from_records(make_task_family_samples(sizes, seed=0))
    g = vlitq.score(ds, ["tasks", "balance"], cache=cache, progress=False)
    p = vlitq.score(ds, [Tasks(task_source="embedding", encoder=enc, n_clusters=7), "balance"],
                    cache=cache, progress=False)
    n = sum(sizes)
    shares = [100 * s / n for s in sizes]
    closed = sum((x - 100 / 7) ** 2 for x in shares) / 7
    given.append(g.indicator("balance"))
    pred.append(p.indicator("balance"))
    print(f"ratio {r:2d}: balance given={given[-1]:8.2f} (closed form {closed:8.2f}), "
          f"imbalance ratio={g.details('balance')['imbalance_ratio']:.0f}; "
          f"embedding labels={pred[-1]:8.2f} (ARI {p.details('tasks')['ari']:.2f})")
    assert abs(given[-1] - closed) < 1e-9
assert all(a < b for a, b in zip(given, given[1:])), given
rho = spearmanr(ratios, pred).statistic
print(f"Spearman rho(ratio, balance on embedding labels) = {rho:.2f}")
assert rho >= 0.9 and pred[-1] > pred[0], pred
