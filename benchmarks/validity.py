"""The validity suite in full mode (vlitq.validity): every metamorphic check on the planted
sets at n = 400 with a 300-step matching model, on the bundled example, and on the real corpus
in ``$VLITQ_REAL_DATA`` (or the folder given) when it exists. Prints every figure, the table
of properties × components, wall time and peak RSS; writes the checks as JSON with --json.

    python benchmarks/validity.py [--fast] [--real DIR] [--json out.json] [--cards]

``--cards`` (re)writes the "Validity" section of every card ``metrics/<name>/README.md`` with
the figures of this run.
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from vlitq import validity  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true", help="CI size instead of the full mode")
    ap.add_argument("--real", default=os.environ.get("VLITQ_REAL_DATA"),
                    help="folder of real VLIT files (default: $VLITQ_REAL_DATA)")
    ap.add_argument("--no-matching", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--cards", action="store_true",
                    help="write the figures into the Validity section of every card")
    ap.add_argument("--from-json", default=None,
                    help="take the checks of an earlier run (its --json) instead of running")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.from_json:
        import dataclasses

        keys = {f.name for f in dataclasses.fields(validity.Check)}
        with open(args.from_json, encoding="utf-8") as fh:
            checks = [validity.Check(**{k: v for k, v in d.items() if k in keys})
                      for d in json.load(fh)]
        for c in checks:  # the declarations as they are now
            c.expected, c.reason = validity.declared(c.component, c.property)
    else:
        checks = validity.run_suite(fast=args.fast, real_data=args.real,
                                    matching=not args.no_matching)
    print()
    print(validity.table(checks))
    bad = [c for c in checks if not c.ok]
    print(f"\n{len(checks)} checks, {sum(c.holds for c in checks)} hold, "
          f"{sum(not c.expected for c in checks)} declared not to hold, {len(bad)} unexpected")
    for c in bad:
        print("UNEXPECTED:", c.line())
    print(f"wall {time.time() - t0:.0f} s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(validity.as_dicts(checks), fh, indent=1, default=str)
    if args.cards:
        mode = "fast (n = 120)" if args.fast else "full (n = 400)"
        write_cards(checks, mode, args.real)
    return 1 if bad else 0


def _card_of(component: str) -> str:
    base = component.split(" (")[0]
    return "response_diversity" if base == "response_diversity_rarefied" else base


def write_cards(checks, mode: str, real: str | None) -> None:
    """Replace (or append) the ``## Validity`` section of every card with this run's checks."""
    from vlitq import registry

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "metrics")
    date = time.strftime("%Y-%m-%d", time.gmtime())
    for name in registry.names():
        path = os.path.join(root, name, "README.md")
        if not os.path.exists(path):
            continue
        mine = [c for c in checks if _card_of(c.component) == name]
        lines = ["## Validity", "",
                 f"Measured by the validity suite (`vlitq.validity`; `python "
                 f"benchmarks/validity.py`, {mode} mode, {date}). Data: *planted* = generated "
                 "homogeneous set (instructions with modifiers from three task families, "
                 "responses naming distinct scenes, easy-vqa images); *example* = "
                 "`examples/data/llava/llava.json`; *easy-vqa* = easy-vqa test images with "
                 "their true caption; other names are files of the real corpus"
                 + (f" (`{os.path.basename(os.path.normpath(real))}/`, see its README for "
                    "repository, commit and licence)" if real else "") + ". "
                 "Verdicts: holds / does NOT hold; `*` = not guaranteed (declared, either "
                 "outcome accepted).", ""]
        if name in validity.NOT_MEASURED:
            lines += [f"Not measured by the suite: {validity.NOT_MEASURED[name]}.", ""]
        if mine:
            lines += ["| property | data | verdict | figure |", "|---|---|---|---|"]
            for c in mine:
                verdict = ("holds" if c.holds else "**does NOT hold**") + \
                    ("*" if c.expected is None else "")
                comp = "" if c.component == name else f"{c.component}: "
                fig = (comp + c.figure).replace("|", "/")
                lines.append(f"| {c.property} | {c.data} | {verdict} | {fig} |")
            lines.append("")
        decl = [(k, v) for k, v in {**validity.DOES_NOT_HOLD, **validity.NOT_GUARANTEED}.items()
                if _card_of(k[0]) == name]
        if decl:
            lines.append("Declared in `vlitq.validity` (what this indicator does not hold, "
                         "and why):")
            lines += [f"- {k[0]} / {k[1]}: "
                      f"{'does not hold' if k in validity.DOES_NOT_HOLD else 'not guaranteed'}"
                      f" — {v}." for k, v in decl]
            lines.append("")
        section = "\n".join(lines)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        start = text.find("\n## Validity")
        if start >= 0:
            nxt = text.find("\n## ", start + 5)
            text = text[:start].rstrip("\n") + "\n\n" + section + \
                (text[nxt:] if nxt >= 0 else "\n")
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"card updated: metrics/{name}/README.md ({len(mine)} checks)")


if __name__ == "__main__":
    sys.exit(main())
