"""Planting k exact copies (case/whitespace changed) must give exactly that duplicate share."""
import vlitq
from vlitq.data.dataset import Dataset, make_sample

base = [make_sample(f"s{i}", [(f"Question {i}?", f"Answer number {i}.")]) for i in range(40)]
copies = [make_sample(f"c{i}", [(f"QUESTION {i}?", f"answer   number {i}.")]) for i in range(10)]
rep = vlitq.score(Dataset.from_records(base + copies), ["duplicates"], cache=False, progress=False)
share = rep.indicator("duplicates")
print(f"duplicates: {share:.1f}% (expected {100 * 20 / 50:.1f}%)")
assert abs(share - 40.0) < 1e-9
