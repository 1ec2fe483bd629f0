"""``vlitq filter`` and ``vlitq check``: quality control and release gates from the shell."""
from __future__ import annotations

import json
import sys

import click


def load_rules_file(path: str | None) -> dict:
    """A rules file: ``[rules]``, optional ``[strategy]``, ``[config]``, ``[gate]`` and
    ``scorers = [...]``; a file without a ``rules`` table is taken as the rules themselves."""
    if not path:
        return {}
    from vlitq.config import load_config

    raw = _load_any(path)
    if "rules" not in raw and not any(k in raw for k in ("strategy", "gate", "config")):
        return {"rules": load_config(raw)}
    return raw


def _load_any(path: str) -> dict:
    if path.endswith(".toml"):
        try:
            import tomllib
        except ModuleNotFoundError:
            import tomli as tomllib
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    if path.endswith((".yaml", ".yml")):
        import yaml

        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def components_for(columns, extra=()) -> list[str] | None:
    """Scorers/indicators that produce ``columns`` (None → the defaults)."""
    from vlitq import registry

    names = registry.names()
    need = []
    for col in columns:
        if col == "errors":
            continue
        match = [n for n in names if col == n or col.startswith(n + "_")]
        if match:
            best = max(match, key=len)
            if best not in need:
                need.append(best)
    for e in extra:
        if e not in need:
            need.append(e)
    return need or None


def _report(path, fmt, image_root, from_report, spec, quiet):
    import vlitq
    from vlitq.data.formats import FormatError

    try:
        ds = vlitq.read(path, format=fmt, image_root=image_root)
    except (FormatError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if from_report:
        return ds, vlitq.Report.load(from_report)
    rules = spec.get("rules", {}) or {}
    strat = spec.get("strategy") or {}
    cols = list(rules) + list((strat.get("weights") or {}))
    if strat.get("name") in ("balanced", "quota"):
        cols.append("tasks")
    names = spec.get("scorers") or components_for(cols, extra=list(spec.get("config", {})))
    rep = vlitq.score(ds, names, config=spec.get("config"), progress=not quiet)
    return ds, rep


@click.command("filter")
@click.argument("path", type=click.Path(exists=True))
@click.option("--rules", "rules_path", type=click.Path(exists=True),
              help="TOML/YAML/JSON: [rules] {column: {op: value}}, [strategy], [config], [gate].")
@click.option("--out", required=True, type=click.Path(), help="Where to write the kept subset.")
@click.option("--out-format", default=None, help="Format of the subset (default: the source's; "
              "'llava' for trainers).")
@click.option("--manifest", default=None, type=click.Path(),
              help="Manifest path (default: OUT.manifest.json).")
@click.option("--format", "fmt", default=None)
@click.option("--image-root", default=None, type=click.Path())
@click.option("--from-report", default=None, type=click.Path(exists=True),
              help="Use a saved report (vlitq score --out) instead of scoring again.")
@click.option("--strategy", default=None, help="balanced | top_k | diverse | quota (overrides file).")
@click.option("--n", "n", default=None, type=int, help="Samples to select with --strategy.")
@click.option("--seed", default=0, show_default=True)
@click.option("--quiet", is_flag=True)
def filter_cmd(path, rules_path, out, out_format, manifest, fmt, image_root, from_report,
               strategy, n, seed, quiet):
    """Select a subset of the dataset at PATH by rules; write it and a manifest of every drop.

    Exits with status 1 when the rules file has a [gate] the kept subset does not pass."""
    import vlitq
    from vlitq.select.gate import check

    spec = load_rules_file(rules_path)
    if strategy:
        spec["strategy"] = {**(spec.get("strategy") or {}), "name": strategy}
    if n is not None:
        spec.setdefault("strategy", {})["n"] = n
    ds, rep = _report(path, fmt, image_root, from_report, spec, quiet)
    try:
        sel = vlitq.filter(rep, spec.get("rules"), strategy=spec.get("strategy"), dataset=ds,
                           seed=seed)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    paths = sel.write(out, ds, format=out_format, manifest=manifest, report=rep)
    click.echo(f"kept {len(sel.kept)} of {sel.n_input} samples -> {paths['data']}")
    for reason, count in sel.drop_counts().items():
        click.echo(f"  dropped {count:>6}  {reason}")
    click.echo(f"manifest -> {paths['manifest']}")
    if spec.get("gate"):
        sub_rep = vlitq.Report(samples=rep.samples.filter(
            rep.samples["sample_id"].is_in(sel.kept)), info=rep.info)
        import polars as pl

        sub_rep.indicators = pl.DataFrame(
            [{"indicator": k, "value": v} for k, v in sel.indicators_after.items()],
            schema={"indicator": pl.Utf8, "value": pl.Float64}).join(
            rep.indicators.drop("value"), on="indicator", how="left")
        res = check(sub_rep, spec["gate"])
        click.echo(res.summary())
        if not res.passed:
            sys.exit(1)


@click.command("check")
@click.argument("path", type=click.Path(exists=True))
@click.option("--gate", "gate_path", required=True, type=click.Path(exists=True),
              help="TOML/YAML/JSON {name: {op: value}} (or a [gate] table).")
@click.option("--format", "fmt", default=None)
@click.option("--image-root", default=None, type=click.Path())
@click.option("--from-report", default=None, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--quiet", is_flag=True)
def check_cmd(path, gate_path, fmt, image_root, from_report, as_json, quiet):
    """Release gate: exit 1 when the dataset at PATH fails a condition of the gate."""
    from vlitq.select.gate import check

    raw = _load_any(gate_path)
    gate = raw.get("gate", raw)
    spec = {"config": raw.get("config", {}), "scorers": raw.get("scorers")}
    if not spec["scorers"]:
        names = components_for([g.split(".")[0] for g in gate if g not in ("n_samples",)])
        spec["scorers"] = names
    _, rep = _report(path, fmt, image_root, from_report, spec, quiet)
    try:
        res = check(rep, gate)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(res.checks.to_dicts(), indent=1) if as_json else res.summary())
    if not res.passed:
        sys.exit(1)


commands = [filter_cmd, check_cmd]
