"""Score a small VLIT dataset and render its report (HTML, Markdown, JSON, saved data).

    # the bundled LLaVA example (when present), images resolved from the file's folder
    python examples/make_report.py examples/data/llava/llava.json --out report.html

    # no data at hand: builds a 48-sample LLaVA-format demo from scikit-image's photos
    python examples/make_report.py --out report.html

    # then, e.g. after changing the data, compare two saved reports
    vlitq report before/ after/ --compare --out comparison.html

The HTML is one self-contained file (plotly.js inlined, ~5 MB): open it in any browser, no
network needed. Rendered files are not committed; this script is the way to make them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

#: Components that run offline with what `pip install "vlitq[all]"` brings; the rest of
#: vlitq's defaults need model weights (CLIP, an MLLM judge) that you point them at.
OFFLINE = ("text_stats", "image_check", "duplicates", "language", "instruction_type",
           "elements", "tasks", "task_diversity", "balance", "instruction_diversity",
           "response_diversity")

QUESTIONS = ("What is shown in this picture?", "Describe the image in detail.",
             "What colour is the main object?", "How many objects can you count?",
             "What might happen next in this scene?", "Is there any text in the image?")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "horse",
          "hubble_deep_field", "page", "text", "clock")


def make_demo(folder: str, n: int = 48) -> str:
    """Write a LLaVA-format JSON file with ``n`` samples over scikit-image's photos."""
    import numpy as np
    import skimage.data
    from PIL import Image

    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    for name in PHOTOS:
        a = np.asarray(getattr(skimage.data, name)())
        if a.dtype == bool:
            a = (a * 255).astype("uint8")
        Image.fromarray(a).save(os.path.join(folder, "images", f"{name}.jpg"), quality=85)
    # one unreadable image, so the error summary has something to show
    with open(os.path.join(folder, "images", "truncated.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0 truncated")
    rng = np.random.default_rng(0)
    recs = []
    for i in range(n):
        photo = PHOTOS[i % len(PHOTOS)] if i != 7 else "truncated"
        q = QUESTIONS[int(rng.integers(len(QUESTIONS)))]
        detail = " ".join(rng.choice(["bright", "small", "round", "dark", "old", "metal",
                                      "soft", "blurry", "sharp", "distant"],
                                     size=int(rng.integers(2, 40))))
        answer = f"The picture shows the {photo.replace('_', ' ')}; it looks {detail}."
        recs.append({"id": f"demo-{i:03d}", "image": f"images/{photo}.jpg", "conversations": [
            {"from": "human", "value": f"<image>\n{q}"}, {"from": "gpt", "value": answer}]})
    path = os.path.join(folder, "demo.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(recs, fh, indent=1)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", help="dataset file (default: build a demo)")
    ap.add_argument("--format", default=None, help="input format (default: detected)")
    ap.add_argument("--image-root", default=None,
                    help="folder of relative image paths (default: the data file's folder)")
    ap.add_argument("--scorers", default=None,
                    help="comma-separated components (default: the offline-capable ones)")
    ap.add_argument("--out", default="report.html", help="HTML report to write")
    ap.add_argument("--markdown", default=None, help="also write a Markdown summary here")
    ap.add_argument("--json", default=None, help="also write the JSON summary here")
    ap.add_argument("--save", default=None, help="also save the report data (for vlitq report)")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vlitq-demo-") as tmp:
        data = args.data
        if data is None:
            data = make_demo(tmp)
            print(f"demo dataset written to {data}")
        return _report(args, data)


def _report(args, data: str) -> int:
    import vlitq

    image_root = args.image_root or os.path.dirname(os.path.abspath(data))
    ds = vlitq.read(data, format=args.format, image_root=image_root)
    if args.scorers:
        names = [s.strip() for s in args.scorers.split(",") if s.strip()]
    else:
        known = set(vlitq.components())
        names = [n for n in OFFLINE if n in known]
    print(f"scoring {len(ds)} samples with {', '.join(names)}")
    rep = vlitq.score(ds, names, progress=False)
    rep.info.setdefault("name", args.title or os.path.basename(data))
    print(rep.summary())
    rep.to_html(args.out, dataset=ds, title=args.title)
    print(f"HTML report: {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)")
    if args.markdown:
        rep.to_markdown(args.markdown)
        print(f"Markdown summary: {args.markdown}")
    if args.json:
        rep.to_json(args.json)
        print(f"JSON summary: {args.json}")
    if args.save:
        rep.save(args.save)
        print(f"report data: {args.save} (render again with: vlitq report {args.save} "
              "--out report.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
