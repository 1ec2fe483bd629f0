"""``languages``: how many languages a dataset holds, with per-language figures."""
from __future__ import annotations

import math
from collections import Counter

import polars as pl

from vlitq._utils import iter_values
from vlitq.indicators.base import Indicator, IndicatorContext, IndicatorResult
from vlitq.registry import register

#: Codes that never count as a language: ``und`` (undetermined), ``zxx`` (no linguistic content:
#: numbers, coordinates), ``mis`` (uncoded), ``mul`` (several).
NOT_LANGUAGES = ("und", "zxx", "mis", "mul")


@register
class Languages(Indicator):
    """Number of languages in the dataset, and the dataset's figures per language.

    Value: the number of languages (ISO 639-1; :data:`NOT_LANGUAGES` — ``und``, too little text
    to tell, ``zxx``, no linguistic content, ``mis``, ``mul`` — excluded) that hold at least
    ``min_share`` percent of the samples. Details: ``counts``, ``shares`` (%), ``entropy``
    (nats), ``undetermined`` (samples with one of those codes), ``not_languages`` (their
    counts by code), ``source`` (``given`` or
    ``detected``), ``agreement`` (% of samples whose given language matches the detected one,
    when the data declares languages and the ``language`` scorer ran) and ``per_language``:
    ``{language: {"n": ..., "<scorer>": mean, ...}}`` for every numeric per-sample column, so
    M3IT-style multilingual data can be compared language by language.

    Languages come from the ``language`` scorer's column when it ran, else from the data's own
    ``language`` column, else are detected here (:func:`vlitq.models.nlp.detect_language`).

    Parameters
    ----------
    source : {"auto", "detected", "given"}
        ``auto``: the data's declared language where it has one, else the detected one.
    min_share : float
        Languages below this share (%) are reported but not counted (one misdetected sample
        should not add a language).
    """

    name = "languages"
    principle = "language"
    direction = None
    size_dependent = True  # a count (or share of repeats) that grows with N
    requires = ("nlp",)  # py3langid, when the language scorer did not run

    def __init__(self, *, source: str = "auto", min_share: float = 1.0):
        self.source = source
        self.min_share = min_share

    def compute(self, ctx: IndicatorContext) -> IndicatorResult:
        if self.source not in ("auto", "detected", "given"):
            raise ValueError(f"source must be auto, detected or given, not {self.source!r}")
        frame, samples = ctx.dataset.frame, ctx.samples
        valid = ctx.valid_mask()
        n = len(valid)
        given = (frame["language"].to_list() if "language" in frame.columns else [None] * n)
        detected: list | None = None
        if "language_error" in samples.columns and "language" in samples.columns:
            detected = samples["language"].to_list()
        elif self.source != "given" and not (self.source == "auto" and all(given)):
            from vlitq import text as vtext
            from vlitq.models.nlp import detect_language

            detected = []
            for turns, ok in zip(iter_values(frame["turns"]), valid):
                text = "\n".join(p for p in (vtext.turn_text(t) for t in (turns or [])) if p)
                detected.append(detect_language(text)[0] if ok and text.strip() else None)
        if self.source == "given":
            langs, src = given, "given"
        elif self.source == "detected":
            langs, src = detected, "detected"
        else:
            langs = [g or d for g, d in zip(given, detected or [None] * n)]
            src = "given" if all(given) else ("detected" if not any(given) else "given+detected")
        langs = [(str(lang).lower() if lang else None) if ok else None
                 for lang, ok in zip(langs, valid)]
        counts = Counter(lang for lang in langs if lang)
        # ISO 639 codes that name no language: undetermined, no linguistic content,
        # uncoded, multiple
        not_languages = {code: counts.pop(code) for code in NOT_LANGUAGES if code in counts}
        und = sum(not_languages.values())
        total = sum(counts.values())
        shares = {k: round(100.0 * v / total, 4) for k, v in counts.most_common()} if total else {}
        value = float(sum(1 for s in shares.values() if s >= self.min_share)) if total else None
        h = sum(v / total * math.log(total / v) for v in counts.values()) if total else None
        details = {"n": total, "source": src, "counts": dict(counts.most_common()),
                   "shares": shares, "entropy": h, "undetermined": und,
                   "not_languages": not_languages,
                   "per_language": self._per_language(samples, langs)}
        pairs = [(g, d) for g, d, ok in zip(given, detected or [None] * n, valid)
                 if ok and g and d and d not in NOT_LANGUAGES and g.lower() not in NOT_LANGUAGES]
        if pairs:
            details["agreement"] = round(100.0 * sum(g.lower() == d for g, d in pairs)
                                         / len(pairs), 4)
        warnings = [] if total else ["languages: no sample has a known language"]
        return IndicatorResult(value=value, details=details, warnings=warnings)

    @staticmethod
    def _per_language(samples: pl.DataFrame, langs: list) -> dict:
        numeric = [c for c, dt in samples.schema.items()
                   if (dt.is_numeric() or dt == pl.Boolean) and not c.endswith("_error")]
        df = pl.DataFrame({"_lang": pl.Series(langs, dtype=pl.Utf8)})
        if numeric:
            df = pl.concat([df, samples.select(numeric)], how="horizontal")
        df = df.filter(pl.col("_lang").is_not_null())
        aggs = [pl.len().alias("n")] + [pl.col(c).cast(pl.Float64).mean().alias(c)
                                        for c in numeric]
        out = {}
        for row in df.group_by("_lang").agg(aggs).sort("_lang").iter_rows(named=True):
            lang = row.pop("_lang")
            out[lang] = {k: (None if v is None or (isinstance(v, float) and math.isnan(v))
                             else (round(v, 6) if isinstance(v, float) else v))
                         for k, v in row.items()}
        return out
