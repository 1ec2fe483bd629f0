"""``vlitq filter`` and ``vlitq check``: quality control and release gates from the shell.

Both take the same data and run options as ``vlitq score`` (``--config/--set/--no-cache/
--cache-dir/--allow-outside-root/...``), load configuration through the one loader, run what
their rules and gates name, and exit 0 (passed), 1 (a gate condition failed) or 2 (the rules,
the gate or the run is misconfigured or could not be evaluated) — never with a traceback.
"""
from __future__ import annotations

import sys

import click

from vlitq._cli import (
    Misconfigured,
    cache_arg,
    data_options,
    misconfiguration_is_exit_2,
    read_dataset,
    run_config,
    run_options,
)

#: Tables a rules file may hold.
RULES_TABLES = ("rules", "strategy", "config", "gate", "scorers")
#: Tables a gate file may hold (besides the gate's conditions themselves).
GATE_TABLES = ("gate", "config", "scorers")
#: Columns every report has without running a component.
BASE_COLUMNS = ("sample_id", "task", "language", "read_error", "errors")


def _unknown_tables(raw: dict, allowed, what: str, path: str) -> None:
    import difflib

    bad = [k for k in raw if k not in allowed]
    if bad:
        k = bad[0]
        close = difflib.get_close_matches(k, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        raise Misconfigured(f"{path}: unknown table [{k}]{hint}; a {what} file holds "
                            f"{', '.join('[' + a + ']' for a in allowed)}")


def load_rules_file(path: str | None) -> dict:
    """A rules file: ``[rules]``, optional ``[strategy]``, ``[config]``, ``[gate]`` and
    ``scorers = [...]``; any other top-level table (``[gates]``) is an error. A file with none
    of these tables is taken as the rules themselves."""
    if not path:
        return {}
    from vlitq.config import read_file

    raw = read_file(path)
    if not any(k in raw for k in RULES_TABLES):
        return {"rules": raw}
    _unknown_tables(raw, RULES_TABLES, "rules", path)
    if "gate" in raw and not raw["gate"]:
        raise Misconfigured(f"{path}: [gate] is empty: it would pass anything")
    return raw


def load_gate_file(path: str) -> dict:
    """A gate file: ``[gate]`` with optional ``[config]`` and ``scorers``, or the gate's
    conditions at the top level."""
    from vlitq.config import read_file

    raw = read_file(path)
    if "gate" in raw:
        _unknown_tables(raw, GATE_TABLES, "gate", path)
        gate = raw["gate"]
    else:
        gate = {k: v for k, v in raw.items() if k not in ("config", "scorers")}
    return {"gate": gate, "config": raw.get("config") or {}, "scorers": raw.get("scorers")}


def components_for(columns, extra=()) -> list[str] | None:
    """Scorers/indicators that produce ``columns`` (None → the defaults)."""
    from vlitq import registry
    from vlitq.select.filter import owner_of

    names = registry.names()
    need = []
    for col in columns:
        if col == "errors":
            continue
        best = owner_of(col, names)
        if best and best not in need:
            need.append(best)
    for e in extra:
        if e not in need:
            need.append(e)
    return need or None


def plan(spec: dict) -> tuple[list[str], bool]:
    """(components to run, whether to add the defaults) for a rules/gate spec.

    Every column a rule names, every weight of the strategy, the task labeller for task-based
    strategies and everything a gate condition names is run; a rule or gate on ``errors``
    (defects found by any scorer) also runs the defaults unless ``scorers`` lists what to run.
    """
    from vlitq import registry
    from vlitq.select.filter import owner_of
    from vlitq.select.gate import needs
    from vlitq.select.rules import parse_rules
    from vlitq.select.strategies import create_strategy

    names = registry.names()
    rules = spec.get("rules") or {}
    parse_rules(rules)
    want: list[str] = []

    def add(n):
        if n and n not in want:
            want.append(n)

    for col in rules:
        if col in BASE_COLUMNS:
            continue
        owner = owner_of(col, names)
        if owner is None:
            from vlitq.select.filter import _suggest_column

            raise Misconfigured(f"rule on {col!r}: no component writes this column"
                                f"{_suggest_column(col, names)}")
        add(owner)
    strat = spec.get("strategy")
    if strat:
        s = create_strategy(strat)
        for col in (getattr(s, "weights", None) or {}):
            add(owner_of(col, names))
        if s.name in ("balanced", "quota"):
            add("tasks")
    gate = spec.get("gate")
    if gate is not None:
        for n in needs(gate):
            add(n)
    for n in spec.get("config") or {}:
        add(n)
    explicit = list(spec.get("scorers") or [])
    wants_errors = "errors" in rules or "errors" in (gate or {})
    run = explicit + [n for n in want if n not in explicit]
    return run, (not explicit and (wants_errors or not run))


def _score(ds, spec, cfg, cache, quiet):
    import vlitq
    from vlitq.api import build_components

    names, defaults = plan(spec)
    comps = build_components(names, cfg, with_defaults=defaults)
    return vlitq.score(ds, comps, cache=cache, progress=not quiet)


def _load_report(path, ds):
    import vlitq
    from vlitq.select.filter import check_aligned

    try:
        rep = vlitq.Report.load(path)
    except (OSError, ValueError) as exc:
        raise Misconfigured(f"cannot load the report {path}: {exc}") from None
    try:
        check_aligned(rep, ds)
    except ValueError as exc:
        raise Misconfigured(f"--from-report {path}: {exc}") from None
    return rep


@click.command("filter")
@click.argument("path", type=click.Path(exists=True))
@click.option("--rules", "rules_path", type=click.Path(exists=True),
              help="TOML/YAML/JSON: [rules] {column: {op: value}}, [strategy], [config], [gate].")
@click.option("--out", required=True, type=click.Path(), help="Where to write the kept subset.")
@click.option("--out-format", default=None, help="Format of the subset (default: the source's; "
              "'llava' for trainers).")
@click.option("--manifest", default=None, type=click.Path(),
              help="Manifest path (default: OUT.manifest.json).")
@data_options
@run_options
@click.option("--from-report", default=None, type=click.Path(exists=True),
              help="Use a saved report (vlitq score --out) instead of scoring again.")
@click.option("--strategy", default=None,
              help="balanced | top_k | diverse | quota (overrides the file).")
@click.option("--n", "n", default=None, type=int, help="Samples to select with --strategy.")
@click.option("--seed", default=0, show_default=True)
@click.option("--quiet", is_flag=True)
def filter_cmd(path, rules_path, out, out_format, manifest, fmt, image_root, allow_outside_root,
               read_opts, config, assignments, cache_dir, no_cache, from_report, strategy, n,
               seed, quiet):
    """Select a subset of the dataset at PATH by rules; write it and a manifest of every drop.

    \b
    Exit status:
      0  the subset was written (and its [gate], if any, passed)
      1  the rules file's [gate] failed on the kept subset
      2  misconfigured or not evaluated: malformed rules file, unknown table, column, operator,
         scorer or parameter; a rule whose column's component could not run (model missing)
         on samples it would decide, or that was never computed. Nothing is written then.
    """
    import vlitq
    from vlitq.select.gate import check

    with misconfiguration_is_exit_2(catch_all=True):
        spec = load_rules_file(rules_path)
        if strategy:
            spec["strategy"] = {**(spec.get("strategy") or {}), "name": strategy}
        if n is not None:
            spec.setdefault("strategy", {})["n"] = n
        cfg = run_config(config, assignments, base=spec.get("config"))
        ds = read_dataset(path, fmt, image_root, allow_outside_root, read_opts)
        cache = cache_arg(no_cache, cache_dir)
        rep = _load_report(from_report, ds) if from_report else _score(ds, spec, cfg, cache,
                                                                       quiet)
        sel = vlitq.filter(rep, spec.get("rules"), strategy=spec.get("strategy"), dataset=ds,
                           seed=seed)
        paths = sel.write(out, ds, format=out_format, manifest=manifest, report=rep,
                          cache=cache)
        click.echo(f"kept {len(sel.kept)} of {sel.n_input} samples -> {paths['data']}")
        for reason, count in sel.drop_counts().items():
            click.echo(f"  dropped {count:>6}  {reason}")
        for col, ne in sel.not_evaluated.items():
            if col == "errors":
                click.echo(f"  note: {', '.join(ne['components'])} did not run on {ne['n']} "
                           f"samples (not evaluated, not counted as defects)")
                continue
            click.echo(f"  {'kept' if ne['action'] == 'keep' else 'dropped'} {ne['n']:>6}  "
                       f"not evaluated by {col}: {ne['reason']}")
        click.echo(f"manifest -> {paths['manifest']}")
        res = None
        if spec.get("gate") is not None:
            res = check(_subset_report(rep, sel), spec["gate"])
            click.echo(res.summary())
    if res is not None and res.exit_code:
        sys.exit(res.exit_code)


def _subset_report(rep, sel):
    """The report restricted to the kept rows, with the indicators recomputed on them.

    Per-sample errors are taken from the kept rows' error columns (rows, not ids: a dropped
    sample sharing its id with a kept one brings none of its errors along)."""
    import polars as pl

    import vlitq
    from vlitq.report.report import ERROR_SCHEMA
    from vlitq.scorers.base import error_cause

    rows = sel.kept_rows
    samples = rep.samples[rows] if rows else rep.samples.clear()
    ids = samples["sample_id"].to_list()
    by_column = {}
    for c in samples.columns:
        if c == "read_error":
            by_column[c] = "read"
        elif c.endswith("_error") and c[:-len("_error")] in (rep.info.get("components") or {}):
            by_column[c] = c[:-len("_error")]
    errs = []
    for c, who in by_column.items():
        for sid, e in zip(ids, samples[c].to_list()):
            if e:
                errs.append({"sample_id": sid, "scorer": who, "reason": e,
                             "cause": "sample" if who == "read" else error_cause(e),
                             "file": None, "index": None})
    others = rep.errors.filter(~pl.col("scorer").is_in(list(by_column.values()))
                               & pl.col("sample_id").is_in(pl.Series(ids, dtype=pl.Utf8)
                                                           .implode()))
    errors = pl.concat([pl.DataFrame(errs, schema=ERROR_SCHEMA),
                        others.select(list(ERROR_SCHEMA))])
    sub = vlitq.Report(samples=samples, errors=errors, info=rep.info)
    sub.indicators = pl.DataFrame(
        [{"indicator": k, "value": v} for k, v in sel.indicators_after.items()],
        schema={"indicator": pl.Utf8, "value": pl.Float64}).join(
        rep.indicators.drop("value"), on="indicator", how="left").select(
        rep.indicators.columns)
    return sub


@click.command("check")
@click.argument("path", type=click.Path(exists=True))
@click.option("--gate", "gate_path", required=True, type=click.Path(exists=True),
              help="TOML/YAML/JSON {name: {op: value}} (or a [gate] table).")
@data_options
@run_options
@click.option("--from-report", default=None, type=click.Path(exists=True),
              help="Use a saved report (vlitq score --out) instead of scoring again.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--quiet", is_flag=True)
def check_cmd(path, gate_path, fmt, image_root, allow_outside_root, read_opts, config,
              assignments, cache_dir, no_cache, from_report, as_json, quiet):
    """Release gate: test the dataset at PATH against the conditions of a gate file.

    The gate names what it needs and it is run: `errors.image_check` runs image_check,
    `matching` runs matching, `errors` (defects found by any scorer) runs the defaults unless
    the file lists `scorers`. Each condition prints whether it passed, failed or could not be
    evaluated, why (value against threshold, the component's problem) and, where the value
    comes from samples, the first sample ids behind it.

    \b
    Exit status:
      0  every condition passed
      1  a condition failed (the data does not meet the gate)
      2  the gate or the run is misconfigured or could not be evaluated: malformed gate file,
         empty gate, unknown name (errors.image_chek), operator or parameter, a component
         that could not run (model missing) or a value that could not be computed
    """
    from vlitq.select.gate import check, result_json

    with misconfiguration_is_exit_2(catch_all=True):
        spec = load_gate_file(gate_path)
        cfg = run_config(config, assignments, base=spec.get("config"))
        spec["rules"] = {}
        plan(spec)  # names are checked before anything is read or run
        ds = read_dataset(path, fmt, image_root, allow_outside_root, read_opts)
        rep = (_load_report(from_report, ds) if from_report
               else _score(ds, spec, cfg, cache_arg(no_cache, cache_dir), quiet))
        res = check(rep, spec["gate"])
        click.echo(result_json(res) if as_json else res.summary())
    if res.exit_code:
        sys.exit(res.exit_code)


commands = [filter_cmd, check_cmd]
