import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_report_example_builds_a_demo_and_renders_it(tmp_path, capsys):
    pytest.importorskip("skimage")
    spec = importlib.util.spec_from_file_location(
        "make_report", os.path.join(ROOT, "examples", "make_report.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "r.html"
    assert mod.main(["--out", str(out), "--markdown", str(tmp_path / "r.md"),
                     "--save", str(tmp_path / "saved"), "--scorers",
                     "text_stats,image_check,duplicates"]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/jpeg;base64,") >= 5  # thumbnails of the demo photos
    assert "image unavailable" in page  # the deliberately truncated JPEG
    assert "| image_check |" in (tmp_path / "r.md").read_text(encoding="utf-8")
    from vlitq.report import Report

    assert Report.load(tmp_path / "saved").samples.height == 48
