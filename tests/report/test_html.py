import base64
import io
import json
from html.parser import HTMLParser

import pytest

from vlitq.report import Report


class _Doc(HTMLParser):
    """Collects what matters for safety: every element with its attributes, script blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []  # (tag, attrs dict)
        self.scripts = []  # (attrs dict, text)
        self._in_script = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "script":
            self._in_script = [a, []]

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script[0], "".join(self._in_script[1])))
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script[1].append(data)
        else:
            self.text.append(data)


def parse(page):
    d = _Doc()
    d.feed(page)
    d.close()
    return d


def _assert_safe(page, payloads):
    doc = parse(page)
    # no event-handler attribute and no foreign element anywhere in the document
    for tag, attrs in doc.elements:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        assert tag not in ("svg", "iframe", "object", "embed"), tag
    # the raw payloads never appear as markup
    for raw in payloads.raw:
        assert raw not in page, raw
    # scripts: ours only — JSON data blocks (that parse) and code without a src
    for attrs, text in doc.scripts:
        assert "src" not in attrs
        if attrs.get("type") == "application/json":
            json.loads(text)
        else:
            assert attrs == {}, attrs
            for m in payloads.markers:
                assert m not in text
    return doc


def test_injections_in_text_task_ids_and_images_are_escaped(scored, photo_dataset, payloads):
    page = scored.to_html(dataset=photo_dataset)
    doc = _assert_safe(page, payloads)
    text = "".join(doc.text)
    # ... and they are shown as text to the reader
    assert payloads.response_script in text
    assert payloads.response_img in text
    assert payloads.task_attr in text
    assert payloads.warning_script in text
    # attribute contexts: the image reference sits (escaped) in a title attribute
    titles = [a.get("title") for t, a in doc.elements if t == "span" and "broken" in
              (a.get("class") or "")]
    assert payloads.image_ref_attr in titles
    # JSON in <script> blocks: the task names reach plotly intact (as escaped plot text)
    specs = [json.loads(t) for a, t in doc.scripts if a.get("type") == "application/json"]
    labels = [y for s in specs for tr in s["data"] for y in (tr.get("y") or [])
              if isinstance(y, str)]
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=4&lt;/script&gt;" in labels


def test_self_contained_no_network(scored, photo_dataset):
    page = scored.to_html(dataset=photo_dataset)
    doc = parse(page)
    assert not [a for t, a in doc.elements if t == "link"]
    for tag, attrs in doc.elements:
        for k in ("src", "href"):
            v = attrs.get(k) or ""
            assert not v.startswith(("http:", "https:", "//")), (tag, attrs)
    code = [t for a, t in doc.scripts if a.get("type") != "application/json"]
    assert any("Plotly" in t and len(t) > 1_000_000 for t in code), "plotly.js is not inlined"
    # images are embedded thumbnails, no bigger than asked
    from PIL import Image

    imgs = [a["src"] for t, a in doc.elements if t == "img"]
    assert imgs and all(s.startswith("data:image/jpeg;base64,") for s in imgs)
    for s in imgs:
        im = Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1])))
        assert max(im.size) <= 128


def test_cdn_option_is_the_only_way_to_a_url(scored):
    page = scored.to_html(plotlyjs="cdn")
    srcs = [a.get("src") for t, a in parse(page).elements if t == "script" and a.get("src")]
    assert len(srcs) == 1 and srcs[0].startswith("https://cdn.plot.ly/")
    with pytest.raises(ValueError, match="plotlyjs"):
        scored.to_html(plotlyjs="nope")


def test_broken_and_missing_images_get_placeholders(scored, photo_dataset):
    page = scored.to_html(dataset=photo_dataset, n_examples=40)
    assert "image unavailable: image &#x27;broken.jpg&#x27; cannot be decoded" in page
    assert "image unavailable: image file not found" in page
    # the inline (data: URI) image was decoded and re-encoded as a thumbnail
    assert "inline image" in page


def test_sections_content(scored, photo_dataset):
    page = scored.to_html(dataset=photo_dataset)
    for anchor in ("indicators", "tasks", "distributions", "samples", "errors", "warnings",
                   "run"):
        assert f'<section id="{anchor}">' in page
    # error summary: counts per scorer and the first rows with file and line
    assert "line 99: malformed JSON" in page
    assert "demo.json" in page
    # one histogram per numeric per-sample column
    specs = [json.loads(t) for a, t in parse(page).scripts if a.get("type") == "application/json"]
    titles = [s["layout"]["title"]["text"] for s in specs]
    for col in ("text_stats", "text_stats_response_words", "image_check_min_side",
                "duplicates_pair"):
        assert any(t.split(" ")[0] == col for t in titles), (col, titles)
    assert any("Share of samples per task" in t for t in titles)
    # a yes/no scorer gets a bar chart of its values
    bars = next(s for s in specs if s["layout"]["title"]["text"] == "image_check ↑")
    counts = dict(zip(bars["data"][0]["x"], bars["data"][0]["y"]))
    assert counts == {"true": int(scored.samples["image_check"].sum()),
                      "false": int((~scored.samples["image_check"]).sum())}
    hist = next(s for s in specs if s["layout"]["title"]["text"] == "text_stats")
    assert sum(hist["data"][0]["y"]) == scored.samples["text_stats"].drop_nulls().len()


def test_drilldown_worst_and_best_follow_the_direction(make_paper_report):
    rep = make_paper_report()
    page = rep.to_html(plots=False, n_examples=1)
    vals = rep.samples.select("sample_id", "matching").sort("matching")
    worst, best = vals["sample_id"][0], vals["sample_id"][-1]
    i_w = page.index("<h3>worst 1</h3>")
    i_b = page.index("<h3>best 1</h3>")
    assert page.index(f'<span class="sid">{worst}</span>', i_w) < i_b
    assert page.index(f'<span class="sid">{best}</span>', i_b) > i_b
    assert "Pass the dataset" in page  # no dataset given: the page says how to get the text


def test_indicator_table_follows_table_4(make_paper_report):
    page = make_paper_report().to_html(plots=False)
    labels = ["Matching degree (MD)", "Correctness (C)", "Task diversity (T)",
              "Instruction diversity (I)", "Response diversity (R)",
              "Object / granularity complexity (O/G)", "Instruction complexity (IC)",
              "Balance (B)", "duplicates"]
    pos = [page.index(f"<b>{lab}</b>") for lab in labels]
    assert pos == sorted(pos)
    section = page[page.index('<section id="indicators">'):page.index('<section id="tasks">')]
    assert section.count("↑") >= 7 and section.count("↓") >= 2
    assert "noise_share=0.25" in section


def test_degrades_to_tables_without_plotly(monkeypatch, make_paper_report):
    import vlitq.report._common as common

    monkeypatch.setattr(common, "plotly_available", lambda: False)
    page = make_paper_report().to_html()
    assert "vlitq-plot" not in page.split("<main>", 1)[1].split("</main>")[0]
    assert "<script" not in page
    assert "Summary statistics" in page and "Matching degree (MD)" in page
    assert 'pip install "vlitq[report]"' in page.replace("&quot;", '"')


def test_empty_report_renders():
    import polars as pl

    page = Report(samples=pl.DataFrame({"sample_id": []}, schema={"sample_id": pl.Utf8})).to_html()
    assert "No indicators were computed" in page and "No errors" in page


def test_to_html_writes_file(tmp_path, scored, photo_dataset):
    path = tmp_path / "r.html"
    text = scored.to_html(path, dataset=photo_dataset, title="My <data>")
    assert path.read_text(encoding="utf-8") == text
    assert "<title>My &lt;data&gt;</title>" in text


def test_odd_columns_and_values_do_not_break_rendering():
    import math

    import polars as pl

    from vlitq.report.report import INDICATOR_SCHEMA

    n = 30
    samples = pl.DataFrame({
        "sample_id": [f"x{i}" for i in range(n)],
        "chair": [i % 3 == 0 for i in range(n)],  # yes/no scorer where True is bad
        "chair_error": [None] * n,
        "chair_mentioned": [["dog", "cat"]] * n,  # list column: not plotted
        "language": [f"lang{i}" for i in range(n)],  # 30 labels > 20 shown
        "language_error": [None] * n,
        "weird": [math.nan, math.inf, -math.inf] + [float(i) for i in range(n - 3)],
        "weird_error": [None] * n,
        "empty": pl.Series([None] * n, dtype=pl.Float64),
        "empty_error": [None] * n,
        "meta": [{"a": i} for i in range(n)],
    }, schema_overrides={"chair_error": pl.Utf8, "language_error": pl.Utf8,
                         "weird_error": pl.Utf8, "empty_error": pl.Utf8})
    ind = pl.DataFrame([
        {"indicator": "chair", "value": 33.3, "direction": "down", "principle": "correctness",
         "kind": "scorer", "n": n, "details": None},
        {"indicator": "weird", "value": math.nan, "direction": "up", "principle": None,
         "kind": "scorer", "n": n, "details": "not json"},
        {"indicator": "empty", "value": None, "direction": "up", "principle": None,
         "kind": "scorer", "n": 0, "details": '{"nested": {"a": 1}, "k": 2}'},
    ], schema=INDICATOR_SCHEMA)
    info = {"components": {"language": {"kind": "scorer"}, "chair": {"kind": "scorer"}}}
    rep = Report(samples=samples, indicators=ind, info=info)
    page = rep.to_html(n_examples=2)
    assert "… 10 more values" in page
    assert 'data-spec' in page and "chair ↓" in page
    # chair: True is worse (direction down), so the worst samples are the True ones
    section = page[page.index("<h3>worst 2</h3>"):page.index("<h3>best 2</h3>")]
    assert "chair = yes" in section and "chair = no" not in section
    md = rep.to_markdown()
    assert "| n/a |" in md
