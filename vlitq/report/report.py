"""The result of :func:`vlitq.score`: data, not prints."""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from typing import Any

import polars as pl

INDICATOR_SCHEMA = {
    "indicator": pl.Utf8,
    "value": pl.Float64,
    "direction": pl.Utf8,
    "principle": pl.Utf8,
    "kind": pl.Utf8,
    "n": pl.Int64,
    "details": pl.Utf8,
}
ERROR_SCHEMA = {
    "sample_id": pl.Utf8,
    "scorer": pl.Utf8,
    "reason": pl.Utf8,
    "cause": pl.Utf8,
    "file": pl.Utf8,
    "index": pl.Int64,
}
ARROWS = {"up": "↑", "down": "↓", None: ""}


def _with_cause(errors: pl.DataFrame) -> pl.DataFrame:
    """Errors of a report saved before errors had a cause: derive it from the reason."""
    if "cause" in errors.columns:
        return errors
    from vlitq.scorers.base import error_cause

    cause = [("sample" if sc == "read" else error_cause(r))
             for sc, r in zip(errors["scorer"].to_list(), errors["reason"].to_list())]
    errors = errors.with_columns(pl.Series("cause", cause, dtype=pl.Utf8))
    return errors.select([c for c in ERROR_SCHEMA if c in errors.columns])


@dataclass
class Report:
    """Quality report of one dataset.

    Attributes
    ----------
    samples : polars.DataFrame
        One row per sample: ``sample_id``, ``task``/``language`` where known, and every
        per-sample column (``<scorer>``, ``<scorer>_error``, ``<scorer>_*``).
    indicators : polars.DataFrame
        One row per dataset-level indicator: ``indicator``, ``value``, ``direction`` ("up" /
        "down"), ``principle``, ``kind`` ("scorer" mean or "indicator"), ``n`` (samples that
        entered it), ``details`` (JSON of further figures).
    tasks : polars.DataFrame
        One row per task: ``task``, ``n``, ``share`` and a column per per-task indicator.
    errors : polars.DataFrame
        One row per problem: ``sample_id``, ``scorer`` ("read" for input problems), ``reason``,
        ``cause`` — ``"sample"`` (a defect of the sample: unreadable record, broken image,
        empty response) or ``"component"`` (the component could not run: model missing, load
        failure; the sample was *not evaluated*) — ``file``, ``index``.
    info : dict
        Models, versions, parameters, seconds per component, cache hits, warnings.
    """

    samples: pl.DataFrame
    indicators: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INDICATOR_SCHEMA))
    tasks: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"task": pl.Utf8}))
    errors: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ERROR_SCHEMA))
    info: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- access
    def indicator(self, name: str) -> float | None:
        """The dataset-level value of ``name`` (None if missing or not computable)."""
        row = self.indicators.filter(pl.col("indicator") == name)
        return None if row.is_empty() else row["value"][0]

    def details(self, name: str) -> dict:
        row = self.indicators.filter(pl.col("indicator") == name)
        if row.is_empty() or row["details"][0] is None:
            return {}
        return json.loads(row["details"][0])

    @property
    def warnings(self) -> list[str]:
        return list(self.info.get("warnings", []))

    def error_counts(self, cause: str | None = None) -> dict[str, int]:
        """Number of errors per scorer ("read" = input problems); only those of ``cause``
        (``"sample"`` or ``"component"``) when given."""
        errors = self.errors
        if cause is not None:
            errors = errors.filter(pl.col("cause") == cause)
        if errors.is_empty():
            return {}
        g = errors.group_by("scorer").len().sort("scorer")
        return dict(zip(g["scorer"].to_list(), g["len"].to_list()))

    def to_pandas(self):
        """Per-sample columns as a pandas DataFrame (needs pandas)."""
        return self.samples.to_pandas()

    def to_dict(self) -> dict[str, Any]:
        """Dataset-level content as plain JSON-able data (for pipelines)."""
        inds = {}
        for r in self.indicators.iter_rows(named=True):
            inds[r["indicator"]] = {
                "value": r["value"], "direction": r["direction"], "principle": r["principle"],
                "kind": r["kind"], "n": r["n"],
                "details": json.loads(r["details"]) if r["details"] else {},
            }
        return {
            "n_samples": self.samples.height,
            "indicators": inds,
            "tasks": self.tasks.to_dicts(),
            "error_counts": self.error_counts(),
            "info": self.info,
        }

    def to_json(self, path: str | os.PathLike | None = None, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, default=str, ensure_ascii=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> str:
        """Save to a folder: ``samples.parquet``, ``indicators.parquet``, ``tasks.parquet``,
        ``errors.parquet`` and ``info.json``."""
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        self.samples.write_parquet(os.path.join(path, "samples.parquet"))
        self.indicators.write_parquet(os.path.join(path, "indicators.parquet"))
        self.tasks.write_parquet(os.path.join(path, "tasks.parquet"))
        self.errors.write_parquet(os.path.join(path, "errors.parquet"))
        with open(os.path.join(path, "info.json"), "w", encoding="utf-8") as fh:
            json.dump(self.info, fh, indent=2, default=str, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Report":
        path = os.fspath(path)
        with open(os.path.join(path, "info.json"), encoding="utf-8") as fh:
            info = json.load(fh)
        return cls(
            samples=pl.read_parquet(os.path.join(path, "samples.parquet")),
            indicators=pl.read_parquet(os.path.join(path, "indicators.parquet")),
            tasks=pl.read_parquet(os.path.join(path, "tasks.parquet")),
            errors=_with_cause(pl.read_parquet(os.path.join(path, "errors.parquet"))),
            info=info,
        )

    # ---------------------------------------------------------------- display
    def to_html(self, path: str | os.PathLike | None = None, **options) -> str:
        """Self-contained HTML report (plotly inlined); written to ``path`` when given."""
        from vlitq.report.html import render_html

        text = render_html(self, **options)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_markdown(self, path: str | os.PathLike | None = None, **options) -> str:
        """Markdown summary (for a pull request or a dataset card)."""
        from vlitq.report.markdown import render_markdown

        text = render_markdown(self, **options)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def summary(self) -> str:
        """A short plain-text summary."""
        lines = [f"vlitq report: {self.samples.height} samples"]
        for r in self.indicators.iter_rows(named=True):
            v = "n/a" if r["value"] is None else f"{r['value']:.4g}"
            lines.append(f"  {r['indicator']:<24} {v:>10} {ARROWS.get(r['direction'], '')}")
        ec = self.error_counts(cause="sample")
        if ec:
            lines.append("  errors: " + ", ".join(f"{k}={v}" for k, v in ec.items()))
        ne = self.error_counts(cause="component")
        if ne:
            lines.append("  not evaluated (component could not run): "
                         + ", ".join(f"{k}={v}" for k, v in ne.items()))
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = []
        for r in self.indicators.iter_rows(named=True):
            v = "n/a" if r["value"] is None else f"{r['value']:.4g}"
            rows.append(
                f"<tr><td>{esc(r['indicator'])}</td><td style='text-align:right'>{esc(v)}</td>"
                f"<td>{esc(ARROWS.get(r['direction'], ''))}</td>"
                f"<td>{esc(r['principle'] or '')}</td></tr>"
            )
        ec = self.error_counts()
        err = ", ".join(f"{esc(k)}: {v}" for k, v in ec.items()) or "none"
        warn = "".join(f"<li>{esc(w)}</li>" for w in self.warnings)
        return (
            f"<div class='vlitq-report'><b>vlitq report</b> — {self.samples.height} samples"
            "<table><thead><tr><th>indicator</th><th>value</th><th></th><th>principle</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p>errors: {err}</p>{f'<ul>{warn}</ul>' if warn else ''}</div>"
        )
