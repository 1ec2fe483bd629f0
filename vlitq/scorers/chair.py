"""``chair``: CHAIR object hallucination (Rohrbach et al. 2018; M2BIT) where objects are annotated."""
from __future__ import annotations

import json
import os
import re
from collections import Counter

from vlitq._utils import blake2b, stable_json
from vlitq.registry import register
from vlitq.scorers.base import Scorer
from vlitq.text import response

_DIGITS = re.compile(r"(\d+)")


def _image_keys(ref: str) -> list:
    """Keys an image reference may be annotated under: itself, its file name, its COCO id."""
    if not isinstance(ref, str) or not ref or ref.startswith("data:"):
        return []
    base = os.path.basename(ref)
    keys: list = [ref, base]
    m = _DIGITS.findall(os.path.splitext(base)[0])
    if m:
        keys.append(int(m[-1]))  # COCO_train2014_000000123456.jpg and 000000123456.jpg -> 123456
    return keys


def load_annotations(source) -> dict:
    """Image → object names, from a dict, a JSON mapping file or a COCO instances file.

    Accepted: ``{"000000123456.jpg": ["person", "dog"], ...}`` (keys may be paths, file names
    or COCO image ids) or a COCO ``instances_*.json`` (``images`` + ``annotations`` +
    ``categories``). Keys are indexed by file name and by numeric id as well.

    >>> idx = load_annotations({"coco/train2017/000000000139.jpg": ["tv", "chair"]})
    >>> sorted(idx[139]), sorted(idx["000000000139.jpg"])
    (['chair', 'tv'], ['chair', 'tv'])
    """
    if source is None:
        return {}
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as fh:
            source = json.load(fh)
    mapping: dict = {}
    if isinstance(source, dict) and {"images", "annotations", "categories"} <= set(source):
        cats = {c["id"]: c["name"] for c in source["categories"]}
        by_id: dict[int, set] = {im["id"]: set() for im in source["images"]}
        for a in source["annotations"]:
            by_id.setdefault(a["image_id"], set()).add(cats.get(a["category_id"]))
        for im in source["images"]:
            objs = sorted(o for o in by_id.get(im["id"], ()) if o)
            mapping[im["id"]] = objs
            if im.get("file_name"):
                mapping[os.path.basename(im["file_name"])] = objs
        return mapping
    if not isinstance(source, dict):
        raise TypeError("annotations must be a dict, a JSON mapping file or a COCO instances file")
    for k, objs in source.items():
        objs = list(objs or [])
        keys = _image_keys(str(k)) or [k]
        if isinstance(k, int) or (isinstance(k, str) and k.isdigit()):
            keys.append(int(k))
        for key in keys:
            mapping.setdefault(key, []).extend(objs)
    return mapping


def _as_names(value) -> list[str] | None:
    """An objects cell (list, JSON text or comma-separated text) as a list; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                return [str(v) for v in json.loads(s)]
            except ValueError:
                pass
        return [p.strip() for p in s.split(",") if p.strip()]
    return [str(v) for v in value if v is not None]


@register
class Chair(Scorer):
    """CHAIR object hallucination of the responses, for samples whose image objects are known.

    Objects mentioned in a sample's responses are found with a synonym list for the 80 COCO
    classes (plurals, "man/woman/people" → person, "bike" → bicycle, "tv/television" → tv, ...;
    longest phrase first, so "hot dog" is not a dog). A mention is *hallucinated* when its class is
    not among the image's annotated objects. Per sample:

    - ``chair`` (bool): CHAIR_s of the sample: at least one hallucinated object. The dataset value
      (share of True, in %) is Rohrbach's CHAIR_s over the annotated samples.
    - ``chair_i`` (float, %): 100 × hallucinated / mentioned objects (null when none is
      mentioned). The pooled dataset CHAIR_i (Σ hallucinated / Σ mentioned) is the ``chair_i``
      indicator.
    - ``chair_mentioned``, ``chair_hallucinated``: the classes; ``chair_n_mentioned``,
      ``chair_n_hallucinated``: the counts CHAIR_i is formed from; ``chair_annotated``.

    Samples without annotations get null in every column and no error (CHAIR is undefined for
    them, it is not a failure); ``chair_annotated`` is False and the ``chair_i`` indicator reports
    how many there were.

    Parameters
    ----------
    objects_column : str
        Column with the COCO class names present in the sample's image(s) (a list, JSON text or
        comma-separated text). Used when non-null.
    annotations : str, dict or None
        Otherwise: image → objects, as a dict, a JSON mapping file, or a COCO
        ``instances_*.json`` file; looked up by the image reference, its file name, or its COCO
        id (digits in the file name). Objects of several images are pooled.
    count : {"objects", "mentions"}
        ``"objects"`` (default, the set formula of Rohrbach et al.): each class counts once per
        sample; ``"mentions"``: every mention counts.

    Examples
    --------
    >>> c = Chair()
    >>> out = c({"sample_id": ["a"], "images": [["1.jpg"]], "objects": [["dog", "person"]],
    ...          "turns": [[{"instruction": "Describe.", "response": "A man walks a dog and a cat."}]]})
    >>> out["chair"], out["chair_i"], out["chair_hallucinated"]
    ([True], [33.3333], [['cat']])
    """

    name = "chair"
    principle = "correctness"
    direction = "down"
    extra_columns = ("i", "mentioned", "hallucinated", "n_mentioned", "n_hallucinated",
                     "annotated")
    inputs = ("turns", "objects")
    cacheable = False  # a regex pass is cheaper than a cache look-up (and needs no image bytes)
    aggregate = "share_true"
    batch_size = 1024
    description = "CHAIR_s / CHAIR_i object hallucination against annotated COCO objects"

    def __init__(self, *, objects_column: str = "objects", annotations=None,
                 count: str = "objects"):
        self.objects_column = objects_column
        self.annotations = annotations
        self.count = count

    def model_id(self) -> str | None:
        if self.annotations is None:
            return None
        if isinstance(self.annotations, (str, os.PathLike)):
            try:
                with open(self.annotations, "rb") as fh:
                    return "annotations:" + blake2b(fh.read())
            except OSError:
                return f"annotations:{self.annotations}"
        return "annotations:" + blake2b(stable_json(self.annotations))

    def load(self) -> None:
        if self.count not in ("objects", "mentions"):
            raise ValueError(f"count must be 'objects' or 'mentions', not {self.count!r}")
        self._mapping = load_annotations(self.annotations)

    def _objects_for(self, cell, refs) -> set[str] | None:
        from vlitq.scorers._coco_objects import normalise_objects

        names = _as_names(cell)
        if names is None and self._mapping:
            found = None
            for ref in refs or ():
                for key in _image_keys(ref):
                    if key in self._mapping:
                        found = (found or []) + list(self._mapping[key])
                        break
            names = found
        return None if names is None else normalise_objects(names)

    def score_batch(self, batch):
        from vlitq.scorers._coco_objects import find_mentions

        n = len(batch["sample_id"])
        cells = batch.get(self.objects_column, [None] * n)
        images = batch.get("images", [[]] * n)
        out = {c: [] for c in self.output_columns()}
        for i in range(n):
            truth = self._objects_for(cells[i], images[i])
            if truth is None:
                for col in out.values():
                    col.append(None)
                out["chair_annotated"][-1] = False
                continue
            mentions = [cls for t in (batch["turns"][i] or [])
                        for _, cls in find_mentions(response(t))]
            if self.count == "objects":
                mentions = list(dict.fromkeys(mentions))
            halluc = [m for m in mentions if m not in truth]
            out["chair"].append(bool(halluc))
            out["chair_i"].append(round(100.0 * len(halluc) / len(mentions), 4)
                                  if mentions else None)
            out["chair_mentioned"].append(sorted(set(mentions)))
            out["chair_hallucinated"].append(sorted(set(halluc)))
            out["chair_n_mentioned"].append(len(mentions))
            out["chair_n_hallucinated"].append(len(halluc))
            out["chair_annotated"].append(True)
            out["chair_error"].append(None)
        return out


def summarize(samples) -> dict:
    """Dataset CHAIR figures from a report's samples (polars frame with the ``chair_*`` columns).

    Returns ``chair_i`` (pooled, %), ``chair_s`` (%), the sample counts and the most frequent
    hallucinated classes.
    """
    need = ("chair", "chair_n_mentioned", "chair_n_hallucinated", "chair_annotated",
            "chair_hallucinated")
    missing = [c for c in need if c not in samples.columns]
    if missing:
        raise KeyError(f"samples lack {missing}: run the 'chair' scorer first")
    annotated = [bool(a) for a in samples["chair_annotated"].to_list()]
    ment = sum(x or 0 for x in samples["chair_n_mentioned"].to_list())
    hall = sum(x or 0 for x in samples["chair_n_hallucinated"].to_list())
    flags = [f for f, a in zip(samples["chair"].to_list(), annotated) if a and f is not None]
    top = Counter(c for lst in samples["chair_hallucinated"].to_list() for c in (lst or []))
    return {
        "chair_i": 100.0 * hall / ment if ment else None,
        "chair_s": 100.0 * sum(flags) / len(flags) if flags else None,
        "n_annotated": sum(annotated),
        "n_unannotated": len(annotated) - sum(annotated),
        "n_mentioned": ment,
        "n_hallucinated": hall,
        "top_hallucinated": dict(top.most_common(10)),
    }
