"""``instruction_diversity`` (I): Ego-Splitting clusters of each task's word co-occurrence graph.

Per task: every instruction → content-word tokens (lower-cased; stop words of spaCy's English
list and stopwordsiso's Chinese list removed; instructions containing CJK characters are
segmented with jieba) → a weighted word co-occurrence graph (an edge between two distinct words
of one instruction, weight = number of instructions holding both) → Ego-Splitting
(:func:`vlitq.graph.ego_splitting`) → number of (overlapping) clusters of at least
``min_cluster_size`` words. Dataset value = mean over tasks; per-task values go to
``Report.tasks``.

Also per task, M2BIT's figure: mean pairwise edit distance between the task's instructions
(normalised Levenshtein by default, 0 = identical, 1 = nothing in common), on a seeded sample of
``edit_max_instructions`` when the task has more.
"""
from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from vlitq._utils import iter_values
from vlitq import text as vtext
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register

logger = logging.getLogger("vlitq")


def has_cjk(text: str) -> bool:
    """True when ``text`` holds a CJK ideograph (then it is segmented with jieba);
    :func:`vlitq.text.has_cjk`.

    >>> has_cjk("描述这张图片"), has_cjk("Describe the image.")
    (True, False)
    """
    return vtext.has_cjk(text)


def default_stop_words() -> frozenset:
    """spaCy's English stop words (stopwordsiso's English list if spaCy is missing) plus
    stopwordsiso's Chinese list (:func:`vlitq.text.stop_words`)."""
    return vtext.stop_words(("en", "zh"))


def tokenize(text: str, stop_words: Iterable[str] | None = None) -> list[str]:
    """Content words of ``text``: lower-cased word tokens (jieba segmentation when the text has
    CJK characters), without stop words and without tokens that hold no letter
    (:func:`vlitq.text.content_words`).

    >>> tokenize("Describe the 2 dogs in this image!", stop_words={"the", "in", "this"})
    ['describe', 'dogs', 'image']
    """
    return vtext.content_words(text, stop_words)


def cooccurrence_graph(token_lists: Iterable[Sequence[str]], *,
                       max_words: int | None = None) -> tuple[dict[str, dict[str, float]], int]:
    """Weighted word co-occurrence graph ``{word: {other: count}}``.

    Each token list (one instruction) adds 1 to the weight of every pair of its distinct words;
    a list with one distinct word adds an isolated node. ``max_words`` keeps the first that many
    distinct words of a list; the number of lists cut is returned beside the graph.

    >>> g, cut = cooccurrence_graph([["red", "bus"], ["red", "bus", "street"], ["cat"]])
    >>> g["red"], g["cat"], cut
    ({'bus': 2.0, 'street': 1.0}, {}, 0)
    """
    adj: dict[str, dict[str, float]] = {}
    cut = 0
    counts = Counter(tuple(dict.fromkeys(t)) for t in token_lists)  # same instruction: once
    for words, mult in counts.items():
        if max_words is not None and len(words) > max_words:
            words = words[:max_words]
            cut += mult
        for w in words:
            adj.setdefault(w, {})
        for a, b in itertools.combinations(words, 2):
            adj[a][b] = adj[a].get(b, 0.0) + mult
            adj[b][a] = adj[b].get(a, 0.0) + mult
    return {w: dict(sorted(adj[w].items())) for w in sorted(adj)}, cut


def mean_edit_distance(texts: Sequence[str], *, normalised: bool = True,
                       max_texts: int | None = 1000, seed: int = 0) -> float | None:
    """Mean pairwise Levenshtein distance over distinct pairs (i < j) of ``texts``.

    ``normalised``: distance / length of the longer text (0..1). Above ``max_texts`` texts a
    seeded random sample of that size is used. None for fewer than two texts.

    >>> round(mean_edit_distance(["abcd", "abcd", "wxyz"]), 4)
    0.6667
    """
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    texts = list(texts)
    if len(texts) < 2:
        return None
    if max_texts is not None and len(texts) > max_texts:
        rng = np.random.default_rng(seed)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), max_texts, replace=False))]
    scorer = Levenshtein.normalized_distance if normalised else Levenshtein.distance
    m = process.cdist(texts, texts, scorer=scorer, dtype=np.float64, workers=1)
    iu = np.triu_indices(len(texts), k=1)
    return float(m[iu].mean())


@register
class InstructionDiversity(Indicator):
    """Instruction diversity: mean over tasks of the number of Ego-Splitting clusters of the
    task's word co-occurrence graph; higher = more diverse.

    Parameters
    ----------
    local_clusterer, global_clusterer : {"components", "louvain", "label_propagation"}
        Clusterers of the ego-nets and of the persona graph (see :mod:`vlitq.graph.egosplit`).
        Default: label propagation locally (splits ego-nets that are connected but hold several
        word groups — connected components would not), Louvain globally.
    resolution : float
        Louvain resolution (global step; also local when the local clusterer is Louvain).
    min_cluster_size : int
        Clusters with fewer words are not counted (default 2: an isolated word — the only
        content word of its instructions — is not a cluster of co-occurring words; their number
        is reported as ``singletons``).
    seed : int
        Seed of Louvain / label propagation and of the edit-distance sample.
    stop_words : list of str, optional
        Replace the default stop words (spaCy English + stopwordsiso Chinese).
    max_words : int, optional
        Keep at most this many distinct content words per instruction (pairs grow with its
        square); instructions cut are counted in ``details["instructions_cut"]``.
    edit_max_instructions : int
        Sample size for the mean pairwise edit distance.
    edit_normalised : bool
        Normalised (0..1) or raw Levenshtein distance.

    Notes
    -----
    A multi-turn sample contributes every turn's instruction, each as its own instruction
    (edges join words of one turn's instruction).
    """

    name = "instruction_diversity"
    principle = "instruction diversity"
    direction = "up"
    size_dependent = True  # a count (or share of repeats) that grows with N
    requires = ("nlp",)
    after = ("tasks",)
    version = "1"

    def __init__(self, *, local_clusterer: str = "label_propagation",
                 global_clusterer: str = "louvain", resolution: float = 1.0,
                 min_cluster_size: int = 2, seed: int = 0,
                 stop_words: Sequence[str] | None = None, max_words: int | None = 100,
                 edit_max_instructions: int = 1000, edit_normalised: bool = True):
        self.local_clusterer = local_clusterer
        self.global_clusterer = global_clusterer
        self.resolution = resolution
        self.min_cluster_size = min_cluster_size
        self.seed = seed
        self.stop_words = stop_words
        self.max_words = max_words
        self.edit_max_instructions = edit_max_instructions
        self.edit_normalised = edit_normalised

    def task_value(self, instructions: Sequence[str]) -> dict:
        """Figures of one task's instructions (clusters, words, singletons, edit distance)."""
        from vlitq.graph.egosplit import ego_splitting

        stop = None if self.stop_words is None else {w.lower() for w in self.stop_words}
        # canonical order: the graph's node order steers label propagation and Louvain, so the
        # value must not depend on the order of the rows (the validity suite's shuffle check)
        instructions = sorted(instructions)
        tokens = [tokenize(t, stop) for t in instructions]
        graph, cut = cooccurrence_graph([t for t in tokens if t], max_words=self.max_words)
        if graph:
            res = ego_splitting(graph, local=self.local_clusterer,
                                global_=self.global_clusterer, seed=self.seed,
                                resolution=self.resolution)
            clusters = res.n_clusters(self.min_cluster_size)
            singletons = len(res.clusters) - clusters
            personas = res.n_personas
        else:
            clusters, singletons, personas = 0, 0, 0
        edit = mean_edit_distance(instructions, normalised=self.edit_normalised,
                                  max_texts=self.edit_max_instructions, seed=self.seed)
        return {"clusters": clusters, "singletons": singletons, "words": len(graph),
                "personas": personas, "edit_distance": edit, "instructions": len(instructions),
                "cut": cut}

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        frame = ctx.dataset.frame
        labels = ctx.task_labels()
        by_task = vtext.texts_by_task(iter_values(frame["turns"]), labels, ctx.valid_mask(),
                                      "instruction")
        per_task: dict[str, dict] = {}
        values, edits, warnings = [], [], []
        totals = Counter()
        for task in sorted(by_task):
            ins = by_task[task]
            if not ins:
                warnings.append(f"instruction_diversity: task {task!r} has no instruction")
                continue
            f = self.task_value(ins)
            per_task[task] = {
                "instruction_diversity": float(f["clusters"]),
                "instruction_diversity_edit_distance": f["edit_distance"],
                "instruction_diversity_words": f["words"],
                "instruction_diversity_singletons": f["singletons"],
            }
            values.append(f["clusters"])
            if f["edit_distance"] is not None:
                edits.append(f["edit_distance"])
            totals.update({k: f[k] for k in ("instructions", "words", "personas", "singletons",
                                             "cut")})
        if totals["cut"]:
            warnings.append(f"instruction_diversity: {totals['cut']} instructions had more than "
                            f"{self.max_words} distinct content words; only the first "
                            f"{self.max_words} entered the co-occurrence graph")
        value = float(np.mean(values)) if values else None
        details = {
            "n": int(sum(ctx.valid_mask())),
            "n_tasks": len(values),
            "instructions": totals["instructions"],
            "edit_distance": float(np.mean(edits)) if edits else None,
            "edit_distance_normalised": self.edit_normalised,
            "words": totals["words"],
            "personas": totals["personas"],
            "singletons": totals["singletons"],
            "instructions_cut": totals["cut"],
        }
        return IndicatorResult(value=value, details=details, per_task=per_task,
                               warnings=warnings,
                               info={"local_clusterer": self.local_clusterer,
                                     "global_clusterer": self.global_clusterer})
