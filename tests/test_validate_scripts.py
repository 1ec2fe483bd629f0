"""Every indicator card's evidence is checked: each ``metrics/<name>/validate.py`` runs here as
a subprocess in its fast mode (``VLITQ_VALIDATE_FAST=1``: smaller planted data, same
assertions) and must exit 0. A validate.py whose claim fails exits non-zero (an assertion), and
so fails this test. New cards are picked up automatically.

Measured on 2 shared CPU cores (the sum is printed by ``--durations``); see the README section
"Filtering, selection and release gates" / the report of issue #17 for the figures.
"""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "metrics", "*", "validate.py")))
#: Seconds one script may take in fast mode before it counts as a failure (a hang).
TIMEOUT = 300


def test_every_card_has_a_validate_script():
    cards = sorted(glob.glob(os.path.join(ROOT, "metrics", "*", "README.md")))
    assert SCRIPTS, "no metrics/*/validate.py found"
    # chair_i shares chair's validation (one scorer writes both)
    missing = [c for c in cards if not os.path.exists(os.path.join(os.path.dirname(c),
                                                                   "validate.py"))
               and os.path.basename(os.path.dirname(c)) != "chair_i"]
    assert not missing, missing


@pytest.mark.parametrize("script", SCRIPTS,
                         ids=[os.path.basename(os.path.dirname(s)) for s in SCRIPTS])
def test_validate_script_holds(script, tmp_path):
    env = dict(os.environ, VLITQ_VALIDATE_FAST="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", VLITQ_DISABLE_PROGRESS_BARS="1",
               VLITQ_CACHE_HOME=str(tmp_path / "cache"), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    try:
        r = subprocess.run([sys.executable, script], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish in {TIMEOUT} s (fast mode): "
                    f"{(exc.stdout or '')[-2000:]}")
    assert r.returncode == 0, (f"{script} exited {r.returncode}: its claim does not hold\n"
                               f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
