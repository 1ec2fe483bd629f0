"""``image_check``: every image decodes; its size and aspect ratio."""
from __future__ import annotations

from vlitq.data.images import ImageError, open_image
from vlitq.registry import register
from vlitq.scorers.base import Scorer


@register
class ImageCheck(Scorer):
    """Whether all of a sample's images can be read and decoded.

    Columns: ``image_check`` (True when every image decodes; null for text-only samples),
    ``image_check_min_side`` (smallest side in pixels over the images), ``image_check_max_aspect``
    (largest long/short side ratio), ``image_check_error`` (which image failed and why: missing
    file, corrupt data, path escaping the image root, decompression bomb, too small or too
    elongated). The dataset value is the percentage of samples whose images all decode.

    Parameters
    ----------
    min_side : int
        Images with a side shorter than this are flagged.
    max_aspect : float
        Images more elongated than this are flagged.
    """

    name = "image_check"
    principle = "correctness"
    direction = "up"
    extra_columns = ("min_side", "max_aspect")
    inputs = ("images",)
    aggregate = "share_true"
    batch_size = 64

    def __init__(self, *, min_side: int = 16, max_aspect: float = 20.0):
        self.min_side = min_side
        self.max_aspect = max_aspect

    def score_batch(self, batch):
        out = {c: [] for c in self.output_columns()}
        for i, refs in enumerate(batch["images"]):
            refs = refs or []
            root = batch.get("image_root", [None] * len(batch["images"]))[i]
            allow = batch.get("allow_outside_root", [False] * len(batch["images"]))[i]
            if not refs:
                for c in out:
                    out[c].append(None)
                continue
            problems, sides, aspects = [], [], []
            for k, ref in enumerate(refs, start=1):
                try:
                    img = open_image(ref, root, allow, mode=None)
                except ImageError as exc:
                    problems.append(f"image {k}: {exc}")
                    continue
                w, h = img.size
                sides.append(min(w, h))
                aspects.append(max(w, h) / max(1, min(w, h)))
                if min(w, h) < self.min_side:
                    problems.append(f"image {k}: {w}x{h} is smaller than min_side={self.min_side}")
                if aspects[-1] > self.max_aspect:
                    problems.append(f"image {k}: aspect ratio {aspects[-1]:.1f} > {self.max_aspect}")
            decoded_all = len(sides) == len(refs)
            out["image_check"].append(decoded_all)
            out["image_check_min_side"].append(min(sides) if sides else None)
            out["image_check_max_aspect"].append(round(max(aspects), 4) if aspects else None)
            out["image_check_error"].append("; ".join(problems) or None)
        return out
