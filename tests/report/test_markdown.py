import re


def _table_rows(md, header_start):
    lines = md.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _cells(row):
    # split on pipes that are not escaped
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_indicator_table_with_arrows_in_table_4_order(make_paper_report):
    md = make_paper_report().to_markdown()
    rows = _table_rows(md, "| principle | indicator")
    assert len(rows) == 2 + 9
    ncol = len(_cells(rows[0]))
    assert all(len(_cells(r)) == ncol for r in rows)
    names = [_cells(r)[1] for r in rows[2:]]
    assert names[:3] == ["**Matching degree (MD)**", "**Correctness (C)**",
                         "**Task diversity (T)**"]
    assert names[7] == "**Balance (B)**" and names[8] == "duplicates"
    arrows = {_cells(r)[1]: _cells(r)[3] for r in rows[2:]}
    assert arrows["**Balance (B)**"] == "↓" and arrows["**Matching degree (MD)**"] == "↑"
    assert "noise_share=0.25" in md


def test_tasks_errors_warnings_and_escaping(scored, payloads):
    md = scored.to_markdown(max_error_rows=5)
    task_rows = _table_rows(md, "| task |")
    ncol = len(_cells(task_rows[0]))
    assert all(len(_cells(r)) == ncol for r in task_rows), task_rows
    assert len(task_rows) == 2 + scored.tasks.height
    for raw in payloads.raw:
        assert raw not in md
    assert "<" not in md and ">" not in md.replace("&gt;", "")
    err_rows = _table_rows(md, "| scorer | defects (sample) |")
    # every scorer with errors, its defects and its not-evaluated samples apart
    counts = {_cells(r)[0]: (_cells(r)[1], _cells(r)[3]) for r in err_rows[2:]}
    defects, missing = scored.error_counts(cause="sample"), scored.error_counts(cause="component")
    assert counts == {k: (str(defects.get(k, 0)), str(missing.get(k, 0)))
                      for k in scored.error_counts()}
    assert "### Warnings" in md and "window.\\_\\_pwned=7" in md
    detail_rows = _table_rows(md, "| sample | scorer | cause | reason |")
    assert {_cells(r)[2] for r in detail_rows[2:]} <= {"sample", "component"}
    assert len(detail_rows) == 2 + min(5, scored.errors.height) and scored.errors.height >= 3


def test_writes_file_and_heading_level(tmp_path, make_paper_report):
    p = tmp_path / "card.md"
    text = make_paper_report(name="v2").to_markdown(p, heading_level=3, max_tasks=2)
    assert p.read_text(encoding="utf-8") == text
    assert text.startswith("### v2\n") and "#### Indicators" in text
    assert "… and 1 more tasks." in text
