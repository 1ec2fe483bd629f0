"""The end-to-end quality-control example (examples/qc/run.sh) runs from the CLI as documented."""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_qc_example_end_to_end(tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    out = subprocess.run(["bash", os.path.join(ROOT, "examples", "qc", "run.sh"), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert text.count("gate FAILED") == 1 and text.count("gate PASSED") == 2
    m = json.loads((tmp_path / "kept.jsonl.manifest.json").read_text())
    assert m["n_kept"] + m["n_dropped"] == m["n_input"]
    kept = [json.loads(line) for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert [r["id"] for r in kept] == m["kept"]
    assert "Balance" in (tmp_path / "compare.md").read_text()
