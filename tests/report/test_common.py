import json

from vlitq.report._common import Figures, md_escape, order_indicators, script_json


def test_script_json_cannot_close_its_block():
    nasty = {"t": "</script><script>alert(1)</script><!-- & \u2028 \u2029"}
    text = script_json(nasty)
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == nasty


def test_script_json_has_no_nan():
    assert json.loads(script_json({"x": float("nan"), "y": [float("inf"), 1.0]})) == \
        {"x": None, "y": [None, 1.0]}


def test_figures_embed_raw_text_safely():
    figs = Figures(True)
    figs.add([{"type": "bar", "x": ["</script><script>window.__pwned=1</script>"]}], {})
    out = figs.scripts("none")
    assert "</script><script>window" not in out
    assert out.count("</script>") == 2  # the JSON block and the runner


def test_md_escape_keeps_table_cells_whole():
    cell = md_escape("a | b\nc <b>x</b> [l](javascript:1) `c` _e_ **s**")
    assert "|" not in cell.replace("\\|", "")
    assert "\n" not in cell and "<" not in cell and "](" not in cell.replace("\\](", "")
    assert "**" not in cell.replace("\\*", "")


def test_order_puts_table_4_first():
    names = ["balance", "zeta", "matching", "alpha", "llm_complexity", "correctness"]
    assert order_indicators(names, {"alpha": "shape", "zeta": "correctness"}) == \
        ["matching", "correctness", "llm_complexity", "balance", "zeta", "alpha"]
