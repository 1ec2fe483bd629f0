"""Command line: ``vlitq score``, ``vlitq formats``, ``vlitq scorers`` and the commands other
subpackages contribute (``filter``/``check``, ``report``, ``tune``/``evaluate``/``correlate``)."""
from __future__ import annotations

import importlib
import json
import sys

import click

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
@click.option("--format", "fmt", default=None, help="Input format (default: detected).")
@click.option("--image-root", default=None, type=click.Path(), help="Folder of relative images.")
@click.option("--allow-outside-root", is_flag=True,
              help="Allow image paths that resolve outside the image root.")
@click.option("--read-option", "read_opts", multiple=True, metavar="KEY=VALUE",
              help="Format option, e.g. the flat field mapping: --read-option instruction=question.")
@click.option("--scorers", default=None, help="Comma-separated scorer/indicator names.")
@click.option("--config", default=None, type=click.Path(exists=True),
              help="TOML/YAML/JSON file: {name: {param: value}}.")
@click.option("--set", "assignments", multiple=True, metavar="NAME.PARAM=VALUE",
              help="Override one parameter (repeatable).")
@click.option("--out", default=None, type=click.Path(), help="Folder to save the report data in.")
@click.option("--report", "report_path", default=None, type=click.Path(),
              help="Write the report: .html, .md or .json by extension.")
@click.option("--cache-dir", default=None, type=click.Path(), help="Cache folder.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the disk cache.")
@click.option("--engine", default="local", type=click.Choice(["local", "ray"]))
@click.option("--chunk-size", default=1024, show_default=True)
@click.option("--dry-run", is_flag=True, help="Only estimate model calls and tokens.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def score_cmd(path, fmt, image_root, allow_outside_root, read_opts, scorers, config, assignments, out, report_path, cache_dir,
              no_cache, engine, chunk_size, dry_run, quiet):
    """Score the dataset at PATH and print its indicators."""
    from vlitq.api import score
    from vlitq.config import load_config, merge, parse_assignments
    from vlitq.data.formats import FormatError, read

    try:
        ds = read(path, format=fmt, image_root=image_root, allow_outside_root=allow_outside_root,
                  **parse_read_options(read_opts))
    except (FormatError, ValueError, OSError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    cfg = merge(load_config(config), parse_assignments(list(assignments)))
    names = [s.strip() for s in scorers.split(",")] if scorers else None
    if dry_run:
        from vlitq.api import build_components

        est = {}
        for c in build_components(names, cfg):
            f = getattr(c, "estimate_cost", None)
            est[c.name] = f(ds) if f else {"calls": 0}
        click.echo(json.dumps(est, indent=2))
        return
    cache = False if no_cache else (cache_dir or True)
    rep = score(ds, names, config=cfg, cache=cache, engine=engine, chunk_size=chunk_size,
                progress=not quiet)
    click.echo(rep.summary())
    if out:
        rep.save(out)
        click.echo(f"report data saved to {out}")
    if report_path:
        write_report(rep, report_path, dataset=ds)
        click.echo(f"report written to {report_path}")


def parse_read_options(pairs) -> dict:
    """``["instruction=question", "split=train"]`` → ``{"instruction": "question", ...}``."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise click.BadParameter(f"expected KEY=VALUE, got {p!r}", param_hint="--read-option")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


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
