"""The command line end to end: ``vlitq formats`` and ``vlitq score`` on the example data."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from vlitq.cli import main

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "data", "llava",
                       "llava.json")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_formats_lists_every_format():
    res = CliRunner().invoke(main, ["formats"])
    assert res.exit_code == 0
    names = [line.split()[0] for line in res.output.splitlines() if line.strip()]
    assert set(names) >= {"llava", "m3it", "mimicit", "multiinstruct", "coco_arc", "flat", "hf"}


def test_score_writes_report_and_data(tmp_path):
    out, rep = tmp_path / "out", tmp_path / "x.json"
    res = CliRunner().invoke(main, ["score", EXAMPLE, "--scorers",
                                    "text_stats,image_check,duplicates", "--out", str(out),
                                    "--report", str(rep), "--quiet",
                                    "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    assert "37 samples" in res.output and "image_check=2" in res.output
    data = json.loads(rep.read_text())
    assert data["n_samples"] == 37
    assert data["error_counts"] == {"image_check": 2, "text_stats": 1}
    assert data["indicators"]["image_check"]["value"] == pytest.approx(100 * 34 / 36)
    assert os.listdir(out)
    from vlitq.report.report import Report
    loaded = Report.load(str(out))
    assert loaded.samples.height == 37
    assert loaded.error_counts() == {"image_check": 2, "text_stats": 1}
    assert set(loaded.errors["sample_id"]) == {"bad_missing_image", "bad_corrupt_image",
                                               "bad_empty_response"}


def test_score_with_explicit_format_and_bad_file(tmp_path):
    res = CliRunner().invoke(main, ["score", EXAMPLE, "--format", "m3it", "--scorers",
                                    "text_stats", "--no-cache", "--quiet"])
    # forcing the wrong format: every record lacks M3IT fields → read errors, not a crash
    assert res.exit_code == 0, res.output
    assert "read=37" in res.output
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\x00\x01 not a dataset")
    res = CliRunner().invoke(main, ["score", str(junk), "--no-cache", "--quiet"])
    assert res.exit_code != 0
    assert "not a dataset in any known format" in res.output
    assert "Traceback" not in res.output


def test_score_subprocess(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               VLITQ_CACHE_HOME=str(tmp_path / "cache"), VLITQ_DISABLE_PROGRESS_BARS="1")
    rep = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "vlitq.cli", "score", EXAMPLE, "--scorers",
                           "text_stats,image_check,duplicates", "--report", str(rep)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert rep.exists() and "image_check" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "vlitq.cli", "score", str(tmp_path / "r.json"),
                          "--no-cache"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "not a dataset" in bad.stderr


@pytest.mark.parametrize("path", ["m3it/examples.jsonl", "llava/llava.jsonl"])
def test_score_other_example_files(path, tmp_path):
    p = os.path.join(os.path.dirname(EXAMPLE), "..", path)
    res = CliRunner().invoke(main, ["score", p, "--scorers", "text_stats,image_check",
                                    "--no-cache", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "image_check=2" in res.output
