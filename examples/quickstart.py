"""vlitq quickstart: read a dataset, score it, look at the report. Runs offline in seconds.

    python examples/quickstart.py

Uses the bundled example (examples/data/llava/llava.json: 37 samples over 15 real photos,
including a few bad samples on purpose) and the cheap scorers that need no model.
"""
import os
import tempfile

import vlitq
from vlitq.data import export_llava

HERE = os.path.dirname(os.path.abspath(__file__))

# 1. Read: the format is detected (explicit: vlitq.read(path, format="llava")).
ds = vlitq.read(os.path.join(HERE, "data", "llava", "llava.json"))
print(ds)
print(ds.frame.select("sample_id", "task", "images").head(3))

# 2. Score: per-sample scorers + dataset-level indicators; results are cached on disk.
report = vlitq.score(ds, ["text_stats", "image_check", "duplicates"], progress=False)
print(report.summary())

# 3. Problems: one row per problem, with the file and the record index.
print(report.errors.select("sample_id", "scorer", "reason"))

# 4. Per-sample columns, e.g. the samples whose images do not decode.
print(report.samples.filter(report.samples["image_check"] == False)  # noqa: E712
      .select("sample_id", "image_check_error"))

# 5. Keep the clean samples and write them back in the source format; or export any format
#    (here the M3IT copy, images inline as base64) as LLaVA JSON for a trainer.
bad = set(report.errors["sample_id"].to_list())
clean = ds.subset([s for s in ds.sample_ids if s not in bad])
out = tempfile.mkdtemp(prefix="vlitq-quickstart-")
clean.write(os.path.join(out, "clean.json"))
m3it = vlitq.read(os.path.join(HERE, "data", "m3it", "examples.jsonl"))
res = export_llava(m3it, os.path.join(out, "m3it_as_llava.json"))
print(f"kept {len(clean)} of {len(ds)} samples; exported {res['written']} M3IT samples with "
      f"{res['images_written']} images to {out}")
