"""Release gates: dataset-level conditions a report must meet (``vlitq check``).

A gate has the rules' shape, on dataset-level names instead of per-sample columns::

    matching = { min = 28 }          # Report.indicator("matching") >= 28
    balance = { max = 15 }
    errors = { max = 0 }             # samples' defects (errors of cause "sample"), all scorers
    "errors.image_check" = { max = 2 }   # defects found by image_check
    n_samples = { min = 1000 }
    "response_diversity.noise_share" = { max = 0.3 }   # a figure in an indicator's details

A gate **names what it needs**: :func:`needs` lists the components its names refer to, and
``vlitq check`` runs them. Names are checked before anything runs (:func:`parse_gate`): an
unknown name, an unknown operator, a non-numeric threshold or an empty gate is a
:class:`~vlitq.config.ConfigError`.

Each condition ends in one of three states: ``passed``, ``failed``, or ``not evaluated`` —
the value could not be computed (the component did not run or could not load its model, the
indicator returned no value, the figure is not in its details). A gate passes only when every
condition passed; :attr:`GateResult.exit_code` is 0 (passed), 1 (a condition failed) or 2 (a
condition could not be evaluated: the run, not the data, has to be fixed first).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from vlitq.config import ConfigError

_CMP = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_ALIAS = {"min": ">=", "max": "<=", "eq": "==", "ne": "!="}
#: Names a gate may use besides components: the sample count and the defect count.
SPECIAL = ("n_samples", "errors")
#: How many sample ids a condition's explanation names.
SHOW_IDS = 5

CHECK_SCHEMA = {"name": pl.Utf8, "op": pl.Utf8, "threshold": pl.Float64, "value": pl.Float64,
                "status": pl.Utf8, "passed": pl.Boolean, "why": pl.Utf8,
                "samples": pl.List(pl.Utf8)}


@dataclass(frozen=True)
class Condition:
    """One gate condition: ``name op threshold``."""

    name: str
    op: str
    threshold: float

    @property
    def component(self) -> str | None:
        """The component this condition needs (None for ``n_samples`` and ``errors``)."""
        if self.name in SPECIAL:
            return None
        if self.name.startswith("errors."):
            target = self.name.split(".", 1)[1]
            return None if target == "read" else target
        from vlitq import registry

        if self.name in registry.names():
            return self.name
        return self.name.split(".", 1)[0]


def parse_gate(gate) -> list[Condition]:
    """Check a gate and return its conditions, refusing what cannot be a gate.

    >>> parse_gate({"errors.image_check": {"max": 0}, "n_samples": {"min": 10}})
    [Condition(name='errors.image_check', op='<=', threshold=0.0), Condition(name='n_samples', op='>=', threshold=10.0)]
    >>> parse_gate({"errors.image_chek": {"max": 0}})
    Traceback (most recent call last):
    ...
    vlitq.config.ConfigError: gate 'errors.image_chek': no scorer or indicator 'image_chek' (did you mean image_check?)
    >>> parse_gate({})
    Traceback (most recent call last):
    ...
    vlitq.config.ConfigError: the gate is empty: it would pass anything; give at least one condition
    """
    from vlitq import registry

    if not isinstance(gate, dict):
        raise ConfigError(f"a gate is a table {{name: {{op: value}}}}, got {gate!r}")
    if not gate:
        raise ConfigError("the gate is empty: it would pass anything; give at least one "
                          "condition")
    known = registry.names()
    out = []
    for name, conds in gate.items():
        if not isinstance(conds, dict) or not conds:
            raise ConfigError(f"gate {name!r}: expected {{op: value}}, e.g. {{max = 0}}, "
                              f"got {conds!r}")
        if name.startswith("errors."):
            target = name.split(".", 1)[1]
            if target != "read" and target not in known:
                raise ConfigError(f"gate {name!r}: no scorer or indicator {target!r}"
                                  f"{_suggest(target, known + ['read'])}")
        elif name not in SPECIAL and name not in known:
            head = name.split(".", 1)[0]
            if "." not in name or head not in known:
                raise ConfigError(f"gate {name!r}: not an indicator, 'errors', "
                                  f"'errors.<scorer>' or 'n_samples'"
                                  f"{_suggest(head, known + list(SPECIAL))}")
        for op, thr in conds.items():
            o = _ALIAS.get(op, op)
            if o not in _CMP:
                raise ConfigError(f"gate {name!r}: unknown operator {op!r}; use "
                                  f"min/max/>=/<=/>/</==/!=")
            if isinstance(thr, bool) or not isinstance(thr, (int, float)):
                raise ConfigError(f"gate {name!r}: {op} needs a number, got {thr!r}")
            out.append(Condition(name, o, float(thr)))
    return out


def _suggest(word: str, choices) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def needs(gate) -> list[str]:
    """The components a gate's conditions need, in order (``vlitq check`` runs them).

    >>> needs({"errors.image_check": {"max": 0}, "text_stats": {"min": 5},
    ...        "n_samples": {"min": 1}})
    ['image_check', 'text_stats']
    """
    out: list[str] = []
    for c in parse_gate(gate):
        comp = c.component
        if comp is not None and comp not in out:
            out.append(comp)
    return out


@dataclass
class GateResult:
    """Outcome of :func:`check`: one row per condition in ``checks`` — ``name``, ``op``,
    ``threshold``, ``value``, ``status`` ("passed", "failed", "not evaluated"), ``passed``,
    ``why`` (a sentence) and ``samples`` (the first ids behind the value, where it comes from
    samples)."""

    passed: bool
    checks: pl.DataFrame

    @property
    def evaluated(self) -> bool:
        """Whether every condition could be evaluated."""
        return not (self.checks["status"] == "not evaluated").any()

    @property
    def status(self) -> str:
        if not self.evaluated:
            return "not evaluated"
        return "passed" if self.passed else "failed"

    @property
    def exit_code(self) -> int:
        """0 passed, 1 a condition failed, 2 a condition could not be evaluated."""
        return {"passed": 0, "failed": 1, "not evaluated": 2}[self.status]

    def summary(self) -> str:
        head = {"passed": "gate PASSED", "failed": "gate FAILED",
                "not evaluated": "gate NOT EVALUATED (the run must be fixed first)"}
        lines = [head[self.status]]
        mark = {"passed": "ok  ", "failed": "FAIL", "not evaluated": "N/A "}
        for r in self.checks.iter_rows(named=True):
            v = "n/a" if r["value"] is None else f"{r['value']:.6g}"
            lines.append(f"  [{mark[r['status']]}] {r['name']} = {v} (required {r['op']} "
                         f"{r['threshold']:g}): {r['why']}")
        return "\n".join(lines)

    def to_dicts(self) -> list[dict]:
        return self.checks.to_dicts()


def _ids(sids) -> list[str]:
    return [str(s) for s in list(sids)[:SHOW_IDS]]


def _id_text(sids, total: int | None = None) -> str:
    sids = list(sids)
    total = len(sids) if total is None else total
    if not sids:
        return ""
    more = f" and {total - SHOW_IDS} more" if total > SHOW_IDS else ""
    return ", ".join(_ids(sids)) + more


def _strip(reason: str, limit: int = 400) -> str:
    from vlitq.scorers.base import NOT_EVALUATED

    reason = str(reason)
    reason = reason.removeprefix(NOT_EVALUATED)
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def _component_problem(report, name: str) -> str | None:
    """Why component ``name`` produced nothing usable, or None when it ran."""
    comps = report.info.get("components") or {}
    errors = report.errors
    if "cause" in errors.columns:
        comp = errors.filter((pl.col("scorer") == name) & (pl.col("cause") == "component"))
        if comp.height:
            return (f"{name} did not run on {comp.height} samples: "
                    f"{_strip(comp['reason'][0])} (e.g. "
                    f"{_id_text(comp['sample_id'].to_list(), comp.height)})")
    failed = [w for w in report.warnings if w.startswith(f"{name} failed")]
    if failed:
        return failed[0]
    if name not in comps and name not in report.indicators["indicator"].to_list():
        return f"{name} did not run (add it to the components run)"
    return None


def _evaluate(report, c: Condition) -> tuple[float | None, str | None, list[str], str]:
    """(value, problem that stops evaluation, sample ids behind the value, what it is)."""
    errors = report.errors
    has_cause = "cause" in errors.columns
    defects = errors.filter(pl.col("cause") == "sample") if has_cause else errors
    if c.name == "n_samples":
        return float(report.samples.height), None, [], "samples"
    if c.name == "errors":
        if has_cause:
            comp = errors.filter(pl.col("cause") == "component")
            if comp.height:
                who = sorted(set(comp["scorer"].to_list()))
                return (None, f"{', '.join(who)} could not run on {comp.height} samples "
                        f"({_strip(comp['reason'][0])}): the defect count is incomplete",
                        [], "")
        sids = defects["sample_id"].unique(maintain_order=True).to_list()
        return float(defects.height), None, sids, f"defects in {len(sids)} samples"
    if c.name.startswith("errors."):
        target = c.name.split(".", 1)[1]
        if target != "read":
            problem = _component_problem(report, target)
            if problem:
                return None, problem, [], ""
        mine = defects.filter(pl.col("scorer") == target)
        sids = mine["sample_id"].unique(maintain_order=True).to_list()
        return float(mine.height), None, sids, f"{target} defects in {len(sids)} samples"
    comp = c.component
    problem = _component_problem(report, comp) if comp else None
    names = report.indicators["indicator"].to_list()
    if c.name in names:
        v = report.indicator(c.name)
        if v is None:
            warn = [w for w in report.warnings if w.startswith(c.name)]
            return None, problem or (warn[0] if warn else f"{c.name} has no value"), [], ""
        if problem and comp == c.name:  # a mean over the samples it could score
            return None, problem, [], ""
        return float(v), None, _samples_against(report, c), c.name
    if problem:
        return None, problem, [], ""
    ind, key = c.name.split(".", 1) if "." in c.name else (c.name, "")
    if ind not in names:
        return None, f"{ind} did not run", [], ""
    d = report.details(ind)
    if key not in d or isinstance(d[key], bool) or not isinstance(d[key], (int, float)):
        figs = sorted(k for k, v in d.items() if isinstance(v, (int, float))
                      and not isinstance(v, bool))
        return None, (f"no figure {key!r} in {ind}'s details (figures: "
                      f"{', '.join(figs) or 'none'})"), [], ""
    return float(d[key]), None, [], f"{ind}'s {key}"


def _samples_against(report, c: Condition) -> list[str]:
    """For a scorer's mean: the samples whose own value fails the condition (worst first)."""
    s = report.samples
    if c.name not in s.columns or not s[c.name].dtype.is_numeric():
        return []
    vals = s.select(["sample_id", c.name]).drop_nulls()
    bad = vals.filter(~_CMP[c.op](pl.col(c.name), c.threshold))
    if bad.is_empty():
        return []
    desc = c.op in ("<=", "<")
    return bad.sort(c.name, descending=desc)["sample_id"].cast(pl.Utf8).to_list()


def check(report, gate: dict) -> GateResult:
    """Test ``report`` against ``gate`` (``{name: {op: value}}``).

    A condition whose value cannot be computed is *not evaluated* (never passed, never a
    verdict on the data); see :attr:`GateResult.exit_code`.

    >>> import vlitq
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> rep = vlitq.score(Dataset.from_records([make_sample("a", [("Q?", "")])]),
    ...                   ["text_stats"], cache=False, progress=False)
    >>> res = check(rep, {"errors": {"max": 0}})
    >>> res.passed, res.exit_code
    (False, 1)
    >>> print(res.summary())
    gate FAILED
      [FAIL] errors = 1 (required <= 0): failed: 1 > 0; defects in 1 samples: a
    """
    rows = []
    for c in parse_gate(gate):
        v, problem, sids, what = _evaluate(report, c)
        if problem is not None or v is None:
            status, why = "not evaluated", problem or "no value"
            sids = []
        else:
            ok = _CMP[c.op](v, c.threshold)
            status = "passed" if ok else "failed"
            rel = {">=": "<", "<=": ">", ">": "<=", "<": ">=", "==": "!=", "!=": "=="}[c.op]
            why = (f"passed: {v:.6g} {c.op} {c.threshold:g}" if ok
                   else f"failed: {v:.6g} {rel} {c.threshold:g}")
            if sids and (not ok or c.name.startswith("errors")):
                label = what if c.name.startswith("errors") else (
                    f"samples {'below' if c.op in ('>=', '>') else 'above'} the bar")
                why += f"; {label}: {_id_text(sids)}"
            elif what and what != c.name and what != "samples":
                why += f" ({what})"
        rows.append({"name": c.name, "op": c.op, "threshold": c.threshold, "value": v,
                     "status": status, "passed": status == "passed", "why": why,
                     "samples": _ids(sids)})
    df = pl.DataFrame(rows, schema=CHECK_SCHEMA)
    return GateResult(passed=bool(df["passed"].all()), checks=df)


def result_json(res: GateResult) -> str:
    """The gate's outcome as JSON (``vlitq check --json``)."""
    return json.dumps({"status": res.status, "exit_code": res.exit_code,
                       "checks": res.to_dicts()}, indent=1, default=str)
