"""Command line: ``vlitq score``, ``vlitq formats``, ``vlitq scorers`` and the commands other
subpackages contribute (``filter``/``check``, ``report``, ``tune``/``evaluate``/``correlate``)."""
from __future__ import annotations

import importlib
import json
import sys

import click

from vlitq._cli import (
    cache_arg,
    data_options,
    exit_2_on_misconfiguration,
    parse_read_options,
    read_dataset,
    run_config,
    run_options,
)

__all__ = ["main", "parse_read_options", "write_report"]

# (module, attribute) of click commands contributed by subpackages; a module that does not
# exist yet is skipped, any other import problem is an error.
_CONTRIBUTED = (
    ("vlitq.select.cli", "commands"),
    ("vlitq.report.cli", "commands"),
    ("vlitq.validate.cli", "commands"),
    ("vlitq.engine.cli", "commands"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vlitq")
def main():
    """vlitq: measure the quality of vision-language instruction-tuning datasets."""


@main.command("formats")
def formats_cmd():
    """List the dataset formats vlitq reads and writes."""
    from vlitq.data.formats import formats

    for name, desc in formats().items():
        click.echo(f"{name:<16} {desc}")


@main.command("scorers")
def scorers_cmd():
    """List per-sample scorers and dataset-level indicators."""
    from vlitq import registry

    for name in registry.names():
        cls = registry.get(name)
        req = ",".join(cls.requires) or "-"
        click.echo(f"{name:<24} {cls.kind:<10} {cls.principle or '-':<14} extras: {req}")


@main.command("score")
@click.argument("path", type=click.Path(exists=True))
@data_options
@click.option("--scorers", default=None, help="Comma-separated scorer/indicator names.")
@run_options
@click.option("--out", default=None, type=click.Path(), help="Folder to save the report data in.")
@click.option("--report", "report_path", default=None, type=click.Path(),
              help="Write the report: .html, .md or .json by extension.")
@click.option("--engine", default="local", type=click.Choice(["local", "ray"]),
              help="ray: PATH (a file, or a folder of shards) is read by Ray tasks, never "
                   "parsed on this process; scores are written as Parquet.")
@click.option("--num-actors", default=None, type=int,
              help="Ray: actors per scorer (default: cluster CPUs / 2).")
@click.option("--num-gpus", default=None, type=float,
              help="Ray: GPUs per actor (0.25-1; default 0).")
@click.option("--address", default=None, help="Ray: cluster address (e.g. auto).")
@click.option("--output-dir", default=None, type=click.Path(),
              help="Ray: where the scored rows are written as Parquet (default: a temp folder).")
@click.option("--chunk-size", default=1024, show_default=True)
@click.option("--dry-run", is_flag=True, help="Only estimate model calls and tokens.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@exit_2_on_misconfiguration()
def score_cmd(path, fmt, image_root, allow_outside_root, read_opts, scorers, config, assignments,
              cache_dir, no_cache, out, report_path, engine, num_actors, num_gpus, address,
              output_dir, chunk_size, dry_run, quiet):
    """Score the dataset at PATH and print its indicators.

    An unknown scorer or parameter (--scorers, --config, --set) is reported on one line with
    exit status 2 before anything runs. With --engine ray the files are read by Ray tasks (one
    per file of a folder of shards), as ``vlitq.score(PATH, engine="ray")`` does."""
    from vlitq.api import build_components, score

    cfg = run_config(config, assignments)
    names = [s.strip() for s in scorers.split(",") if s.strip()] if scorers else None
    comps = build_components(names, cfg)  # unknown names fail here, before any model loads
    ray_opts = {k: v for k, v in (("num_actors", num_actors), ("num_gpus", num_gpus),
                                  ("address", address), ("output_dir", output_dir))
                if v is not None}
    if ray_opts and engine != "ray":
        raise click.UsageError(f"--{next(iter(ray_opts)).replace('_', '-')} needs --engine ray")
    # with --engine ray the driver never parses PATH: Ray tasks read it
    ds = read_dataset(path, fmt, image_root, allow_outside_root, read_opts,
                      ray=engine == "ray" and not dry_run)
    if dry_run:
        click.echo(json.dumps({c.name: c.estimate_cost(ds) for c in comps}, indent=2))
        return
    rep = score(ds, comps, config=cfg, cache=cache_arg(no_cache, cache_dir), engine=engine,
                chunk_size=chunk_size, progress=not quiet, **ray_opts)
    click.echo(rep.summary())
    if out:
        rep.save(out)
        click.echo(f"report data saved to {out}")
    if report_path:
        if hasattr(ds, "gathered"):  # Ray: the light rows the Ray tasks read
            ds = ds.gathered()
        write_report(rep, report_path, dataset=ds)
        click.echo(f"report written to {report_path}")


def write_report(rep, path: str, dataset=None) -> None:
    if path.endswith(".json"):
        rep.to_json(path)
    elif path.endswith(".md"):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(rep.to_markdown())
    else:
        rep.to_html(path, dataset=dataset)


def _add_contributed() -> None:
    for mod_name, attr in _CONTRIBUTED:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:
                continue
            raise
        for cmd in getattr(mod, attr):
            main.add_command(cmd)


_add_contributed()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
