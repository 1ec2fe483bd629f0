import json
import shutil

import pytest
from click.testing import CliRunner

from vlitq.cli import main


@pytest.fixture
def llava_file(tmp_path, photo_dir):
    img = tmp_path / "images"
    shutil.copytree(photo_dir, img)
    recs = []
    for i, name in enumerate(["astronaut", "coffee", "chelsea", "rocket", "broken"]):
        recs.append({"id": f"r{i}", "image": f"{name}.jpg", "conversations": [
            {"from": "human", "value": f"<image>\nWhat is shown in picture {i}?"},
            {"from": "gpt", "value": f"A {name}. " + "more " * i
             + ("<script>window.__pwned=1</script>" if i == 1 else "")}]})
    path = tmp_path / "data.json"
    path.write_text(json.dumps(recs))
    return path, img


def _ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_score_then_report_html_md_json(tmp_path, llava_file):
    data, img = llava_file
    r = CliRunner()
    out = tmp_path / "rep"
    # `vlitq score --report` now hands the dataset over: thumbnails in the drill-down
    _ok(r.invoke(main, ["score", str(data), "--image-root", str(img), "--scorers",
                        "text_stats,image_check", "--out", str(out), "--report",
                        str(tmp_path / "direct.html"), "--no-cache", "--quiet"]))
    direct = (tmp_path / "direct.html").read_text()
    assert "data:image/jpeg;base64," in direct and "<script>window.__pwned" not in direct

    _ok(r.invoke(main, ["report", str(out), "--out", str(tmp_path / "r.html"), "--data",
                        str(data), "--image-root", str(img), "--examples", "2"]))
    page = (tmp_path / "r.html").read_text()
    assert "data:image/jpeg;base64," in page and "What is shown in picture" in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page

    _ok(r.invoke(main, ["report", str(out), "--out", str(tmp_path / "r.md")]))
    assert "| image_check |" in (tmp_path / "r.md").read_text()
    _ok(r.invoke(main, ["report", str(out), "--out", str(tmp_path / "r.json")]))
    assert json.loads((tmp_path / "r.json").read_text())["n_samples"] == 5


def test_compare_cli(tmp_path, make_paper_report):
    make_paper_report().save(tmp_path / "v1")
    make_paper_report(shift=1.0).save(tmp_path / "v2")
    r = CliRunner()
    _ok(r.invoke(main, ["report", str(tmp_path / "v1"), str(tmp_path / "v2"), "--compare",
                        "--out", str(tmp_path / "c.md")]))
    md = (tmp_path / "c.md").read_text()
    assert "v1 vs v2" in md and "Δ v2" in md
    _ok(r.invoke(main, ["report", str(tmp_path / "v1"), str(tmp_path / "v2"), "--compare",
                        "--name", "old", "--name", "new", "--out", str(tmp_path / "c.html"),
                        "--plotlyjs", "none"]))
    assert "scatterpolar" in (tmp_path / "c.html").read_text()
    _ok(r.invoke(main, ["report", str(tmp_path / "v1"), str(tmp_path / "v2"), "--compare",
                        "--out", str(tmp_path / "c.json")]))
    assert json.loads((tmp_path / "c.json").read_text())["names"] == ["v1", "v2"]


def test_cli_usage_errors(tmp_path, make_paper_report):
    make_paper_report().save(tmp_path / "v1")
    make_paper_report().save(tmp_path / "v2")
    r = CliRunner()
    res = r.invoke(main, ["report", str(tmp_path / "v1"), str(tmp_path / "v2"), "--out",
                          str(tmp_path / "x.html")])
    assert res.exit_code != 0 and "--compare" in res.output
    res = r.invoke(main, ["report", str(tmp_path / "v1"), "--out", str(tmp_path / "x.pdf")])
    assert res.exit_code != 0 and ".html, .md or .json" in res.output
    (tmp_path / "empty").mkdir()
    res = r.invoke(main, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "x.md")])
    assert res.exit_code != 0 and "cannot load" in res.output
