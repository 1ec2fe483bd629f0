"""The validity suite in full mode (vlitq.validity): every metamorphic check on the planted
sets at n = 400 with a 300-step matching model, on the bundled example, and on the real corpus
in ``$VLITQ_REAL_DATA`` (or the folder given) when it exists. Prints every figure, the table
of properties × components, wall time and peak RSS; writes the checks as JSON with --json.

    python benchmarks/validity.py [--fast] [--real DIR] [--json out.json]
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
    args = ap.parse_args(argv)
    t0 = time.time()
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
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
