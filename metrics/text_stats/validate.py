"""Planted empty and oversized responses must be flagged; clean samples must not be."""
import vlitq
from vlitq.data.dataset import Dataset, make_sample

clean = [make_sample(f"ok{i}", [("Describe the image.", "A dog on grass " * (i + 1))])
         for i in range(20)]
planted = [make_sample("empty", [("What is this?", "   ")]),
           make_sample("huge", [("What is this?", "x" * 200_000)]),
           make_sample("noturns", [])]
rep = vlitq.score(Dataset.from_records(clean + planted), ["text_stats"], cache=False,
                  progress=False)
flagged = set(rep.errors["sample_id"].to_list())
print("flagged:", sorted(flagged))
assert flagged == {"empty", "huge", "noturns"}, flagged
print("text_stats: planted defects 3/3 caught, 0/20 false alarms")
