"""``vlitq.filter``: turn a report's columns into a kept subset, with a reason for every drop."""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from vlitq.select.rules import error_count_column, evaluate, parse_rules
from vlitq.select.selection import DROP_SCHEMA, Selection
from vlitq.select import strategies as _st

STRATEGIES = ("balanced", "diverse", "top_k", "quota")


def _fmt(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def filter(report, rules: dict | None = None, *, strategy: dict | str | None = None,
           dataset=None, seed: int = 0) -> Selection:
    """Select samples from a scored dataset.

    Parameters
    ----------
    report : Report
        From :func:`vlitq.score` (its per-sample columns are what rules test).
    rules : dict, optional
        ``{column: {op: value}}`` (see :mod:`vlitq.select.rules`), applied in order; a sample
        is dropped by the first rule it fails. A rules file's ``[rules]`` table has this shape.
    strategy : dict or str, optional
        Applied to the survivors: ``{"name": "balanced", "n": 1000}``,
        ``{"name": "top_k", "n": 1000, "weights": {"matching": 1, "elements": 0.5}}``,
        ``{"name": "diverse", "threshold": 0.1, "weights": {...}, "n": None,
        "model": "all-MiniLM-L6-v2"}`` (needs ``dataset`` for the texts), or
        ``{"name": "quota", "per_task": 200, "weights": {...}}`` (at most that many per task,
        best first; random when no weights).
    dataset : Dataset, optional
        Needed by ``diverse`` (texts to embed).
    seed : int
        Seed of every random choice (``balanced``, ``quota`` without weights).

    Examples
    --------
    >>> import vlitq
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> ds = Dataset.from_records([make_sample(str(i), [("Q?", "a" * i)]) for i in range(1, 6)])
    >>> rep = vlitq.score(ds, ["text_stats"], cache=False, progress=False)
    >>> sel = vlitq.filter(rep, {"text_stats": {"min": 3}})
    >>> sel.kept, sel.dropped["rule"].to_list()
    (['3', '4', '5'], ['text_stats >= 3', 'text_stats >= 3'])
    """
    samples = report.samples
    ids = samples["sample_id"].to_list()
    alive = np.ones(len(ids), dtype=bool)
    drops: list[dict] = []
    parsed = parse_rules(rules)
    keep_null = {r.column: bool(r.value) for r in parsed if r.op == "keep_null"}
    for rule in parsed:
        if rule.op == "keep_null":
            continue
        if rule.column == "errors":
            values = error_count_column(samples)
        elif rule.column in samples.columns:
            values = samples[rule.column]
        else:
            raise KeyError(f"rule on {rule.column!r}: no such column in the report "
                           f"(columns: {', '.join(samples.columns)})")
        # quantiles are taken over the samples still alive, in rule order
        sub = values.filter(pl.Series(alive))
        mask_sub, thr = evaluate(rule, sub, keep_null.get(rule.column, False))
        mask = np.ones(len(ids), dtype=bool)
        mask[np.flatnonzero(alive)] = mask_sub.to_numpy()
        newly = alive & ~mask
        vals = values.to_list()
        for i in np.flatnonzero(newly):
            drops.append({"sample_id": ids[i], "stage": "rule", "rule": rule.describe(thr),
                          "column": rule.column, "value": _fmt(vals[i]),
                          "threshold": _fmt(thr)})
        alive &= mask
    strat = _normalise_strategy(strategy)
    if strat is not None:
        kept_ids, why = _apply_strategy(strat, report, dataset, [ids[i] for i in
                                                                  np.flatnonzero(alive)], seed)
        kept_set = set(kept_ids)
        for i in np.flatnonzero(alive):
            sid = ids[i]
            if sid not in kept_set:
                drops.append({"sample_id": sid, "stage": strat["name"],
                              "rule": why.get(sid, f"not selected by {strat['name']}"),
                              "column": None, "value": None, "threshold": None})
                alive[i] = False
    sel = Selection(
        kept=[ids[i] for i in np.flatnonzero(alive)],
        dropped=pl.DataFrame(drops, schema=DROP_SCHEMA),
        rules=rules or {},
        strategy=strat,
        n_input=len(ids),
        indicators_before={r["indicator"]: r["value"]
                           for r in report.indicators.iter_rows(named=True)},
    )
    return sel


def _normalise_strategy(strategy) -> dict | None:
    if strategy is None:
        return None
    if isinstance(strategy, str):
        strategy = {"name": strategy}
    strategy = dict(strategy)
    if strategy.get("name") not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy.get('name')!r}; use one of {STRATEGIES}")
    return strategy


def _task_labels(report) -> list[str]:
    col = report.info.get("task_column", "task")
    s = report.samples
    if col in s.columns and s[col].null_count() < s.height:
        return ["unlabelled" if t is None else str(t) for t in s[col].to_list()]
    return ["all"] * s.height


def _apply_strategy(strat: dict, report, dataset, alive_ids: list[str], seed: int
                    ) -> tuple[list[str], dict[str, str]]:
    name = strat["name"]
    samples = report.samples
    pos = {sid: i for i, sid in enumerate(samples["sample_id"].to_list())}
    idx = [pos[s] for s in alive_ids]
    sub = samples[idx] if idx else samples.clear()
    seed = int(strat.get("seed", seed))
    allowed = {"balanced": {"name", "n", "seed"},
               "top_k": {"name", "n", "weights"},
               "diverse": {"name", "n", "weights", "threshold", "model", "text", "block"},
               "quota": {"name", "per_task", "weights", "seed"}}[name]
    bad = set(strat) - allowed
    if bad:
        raise ValueError(f"strategy {name!r}: unknown option(s) {sorted(bad)}; valid: {sorted(allowed)}")
    if name == "balanced":
        from vlitq.select.balanced import balanced_sample

        labels = [_task_labels(report)[i] for i in idx]
        n = int(strat["n"])
        chosen = balanced_sample(labels, n, seed=seed)
        kept = [alive_ids[i] for i in sorted(chosen)]
        return kept, {s: f"balanced: not drawn for its task (n={n}, seed={seed})"
                      for s in alive_ids}
    if name == "top_k":
        n = int(strat["n"])
        scores = _st.quality_score(sub, strat.get("weights") or {})
        kept = _st.top_k(alive_ids, scores, n)
        return kept, {s: f"top_k: not among the best {n} by {strat.get('weights')}"
                      for s in alive_ids}
    if name == "quota":
        per = int(strat["per_task"])
        labels = [_task_labels(report)[i] for i in idx]
        if strat.get("weights"):
            scores = _st.quality_score(sub, strat["weights"])
        else:
            scores = np.random.default_rng(seed).random(len(alive_ids))
        kept_i: list[int] = []
        for t in sorted(set(labels)):
            members = [i for i, l in enumerate(labels) if l == t]
            members.sort(key=lambda i: -scores[i])
            kept_i.extend(members[:per])
        kept = [alive_ids[i] for i in sorted(kept_i)]
        return kept, {s: f"quota: over {per} samples for its task" for s in alive_ids}
    # diverse
    if dataset is None:
        raise ValueError("strategy 'diverse' needs dataset= (the texts to embed)")
    from vlitq.cache import Cache
    from vlitq.models.text import SentenceEncoder

    frame = dataset.frame
    fpos = {sid: i for i, sid in enumerate(frame["sample_id"].to_list())}
    turns = frame["turns"].to_list()
    which = strat.get("text", "instruction+response")
    texts = []
    for sid in alive_ids:
        ts = turns[fpos[sid]] or []
        parts = []
        for t in ts:
            if which != "response":
                parts.append(t.get("instruction") or "")
            parts.append(t.get("response") or "")
        texts.append("\n".join(parts))
    enc = SentenceEncoder(strat.get("model", "all-MiniLM-L6-v2"), cache=Cache())
    emb = enc.encode(texts)
    weights = strat.get("weights")
    scores = (_st.quality_score(sub, weights) if weights
              else np.zeros(len(alive_ids)))
    thr = float(strat.get("threshold", 0.1))
    kept, close = _st.diverse(alive_ids, emb, scores, threshold=thr, n=strat.get("n"),
                              block=int(strat.get("block", 1024)))
    why = {}
    for sid, (other, dist) in close.items():
        why[sid] = (f"diverse: cosine distance {dist:.4f} to kept {other} <= {thr}" if other
                    else f"diverse: limit n={strat.get('n')} reached")
    return kept, why
