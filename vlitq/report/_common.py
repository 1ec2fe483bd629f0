"""Shared pieces of the HTML / Markdown renderings: indicator order and labels, number
formatting, escaping (HTML, Markdown, JSON inside ``<script>``), the page skeleton and plotly.js.

Everything that comes from a dataset (task names, responses, error reasons, file names, even
parameter values) is untrusted text: it goes through :func:`esc` (HTML), :func:`md_escape`
(Markdown) or :func:`script_json` (JSON embedded in a ``<script>`` block), never raw.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Iterable
from typing import Any

import polars as pl

#: The paper's Table 4, in its order: (indicator, label, abbreviation).
PAPER_INDICATORS: tuple[tuple[str, str, str], ...] = (
    ("matching", "Matching degree", "MD"),
    ("correctness", "Correctness", "C"),
    ("task_diversity", "Task diversity", "T"),
    ("instruction_diversity", "Instruction diversity", "I"),
    ("response_diversity", "Response diversity", "R"),
    ("elements", "Object / granularity complexity", "O/G"),
    ("llm_complexity", "Instruction complexity", "IC"),
    ("balance", "Balance", "B"),
)
PAPER_NAMES = tuple(n for n, _, _ in PAPER_INDICATORS)
_LABELS = {n: (label, abbr) for n, label, abbr in PAPER_INDICATORS}
ARROWS = {"up": "↑", "down": "↓"}
#: Columns of ``Report.samples`` that are not scores.
BASE_COLUMNS = ("sample_id", "task", "language", "read_error")


def label(name: str) -> str:
    """Human label of an indicator: the paper's name and abbreviation where it has one.

    >>> label("matching"), label("duplicates")
    ('Matching degree (MD)', 'duplicates')
    """
    if name in _LABELS:
        lab, abbr = _LABELS[name]
        return f"{lab} ({abbr})"
    return name


def arrow(direction: str | None) -> str:
    return ARROWS.get(direction or "", "")


def order_indicators(names: Iterable[str], principles: dict[str, str | None] | None = None
                     ) -> list[str]:
    """The paper's indicators first in Table-4 order, then the rest by principle and name.

    >>> order_indicators(["duplicates", "balance", "matching", "image_check"],
    ...                  {"duplicates": "diversity", "image_check": "correctness"})
    ['matching', 'balance', 'image_check', 'duplicates']
    """
    names = list(dict.fromkeys(names))
    principles = principles or {}
    first = [n for n in PAPER_NAMES if n in names]
    rest = sorted((n for n in names if n not in PAPER_NAMES),
                  key=lambda n: (principles.get(n) or "~", n))
    return first + rest


def is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))


def fmt(v: Any, digits: int = 4) -> str:
    """Compact display of a value.

    >>> fmt(None), fmt(3), fmt(1234567), fmt(0.123456), fmt(float("nan")), fmt(True)
    ('n/a', '3', '1,234,567', '0.1235', 'n/a', 'yes')
    """
    if is_missing(v):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.{digits}g}"
    return str(v)


def fmt_delta(v: Any) -> str:
    """Signed display of a difference.

    >>> fmt_delta(1.5), fmt_delta(-0.25), fmt_delta(None)
    ('+1.5', '-0.25', '')
    """
    if is_missing(v):
        return ""
    return ("+" if v > 0 else "") + fmt(float(v))


def esc(value: Any) -> str:
    """HTML-escape any value for text and (double- or single-quoted) attribute contexts.

    >>> esc('"><img src=x onerror=alert(1)>')
    '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape("" if value is None else str(value), quote=True)


def plot_text(value: Any) -> str:
    """Escape text that plotly draws: plotly reads ``<b>``, ``<a href>`` ... in labels and
    decodes ``&lt; &gt; &amp;`` (not ``&quot;``), so ``<``/``>``/``&`` are escaped, quotes not.

    >>> plot_text('<a href="javascript:x()">t</a>')
    '&lt;a href="javascript:x()"&gt;t&lt;/a&gt;'
    """
    return html.escape("" if value is None else str(value), quote=False)


def clean_json(obj: Any) -> Any:
    """``obj`` with NaN/inf replaced by None and non-JSON types made strings."""
    if isinstance(obj, float):
        return None if is_missing(obj) else obj
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "item"):  # numpy scalars
        return clean_json(obj.item())
    return str(obj)


def script_json(obj: Any) -> str:
    """JSON safe to place inside a ``<script>`` element: no ``<``, ``>``, ``&`` or line
    separators survive literally, so ``</script>`` or ``<!--`` in the data cannot end or
    change the block.

    >>> script_json({"a": "</script><script>x()</script>"})
    '{"a": "\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ex()\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(clean_json(obj), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_SPECIAL = str.maketrans({
    "\\": "\\\\", "|": "\\|", "*": "\\*", "`": "\\`", "[": "\\[", "]": "\\]",
    "#": "\\#", "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " ", "\t": " ",
})


def md_escape(value: Any) -> str:
    """Escape text for a Markdown table cell: no pipes, newlines, HTML or emphasis survive.

    >>> md_escape("a|b <script>*x*</script>")
    'a\\\\|b &lt;script&gt;\\\\*x\\\\*&lt;/script&gt;'
    >>> md_escape("image_check _em_")
    'image_check \\\\_em\\\\_'
    """
    text = ("" if value is None else str(value)).translate(_MD_SPECIAL)
    # an underscore inside a word never starts emphasis (CommonMark): leave those readable
    return _MD_UNDERSCORE.sub(r"\\_", text)


# ------------------------------------------------------------------------------ report data
def indicator_rows(report) -> list[dict]:
    """The report's indicator rows (dicts) in display order, details parsed."""
    rows = {}
    principles = {}
    for r in report.indicators.iter_rows(named=True):
        d = dict(r)
        try:
            d["details"] = json.loads(r["details"]) if r["details"] else {}
        except (TypeError, ValueError):
            d["details"] = {"details": r["details"]}
        rows[r["indicator"]] = d
        principles[r["indicator"]] = r["principle"]
    return [rows[n] for n in order_indicators(rows, principles)]


def details_text(details: dict, limit: int = 6) -> str:
    """A short ``key=value`` summary of an indicator's scalar details.

    >>> details_text({"noise_share": 0.1234567, "n": 10, "per": {"a": 1}})
    'noise_share=0.1235, n=10'
    """
    parts = []
    for k, v in (details or {}).items():
        if isinstance(v, (dict, list)):
            continue
        parts.append(f"{k}={fmt(v)}")
        if len(parts) >= limit:
            break
    return ", ".join(parts)


def error_counts_by_cause(report) -> list[tuple[str, int, int]]:
    """(scorer, defects of samples, samples the component could not evaluate) per scorer with
    errors: the two causes are told apart in every error table (a missing model is not a
    defect of the data).

    >>> import polars as pl
    >>> from vlitq.report import Report
    >>> errs = pl.DataFrame({"sample_id": ["a", "b", "b"], "scorer": ["image_check", "matching",
    ...                      "image_check"], "reason": ["broken", "not evaluated: no weights",
    ...                      "broken"], "cause": ["sample", "component", "sample"]})
    >>> error_counts_by_cause(Report(samples=pl.DataFrame({"sample_id": ["a", "b"]}),
    ...                              indicators=pl.DataFrame(), errors=errs, info={}))
    [('image_check', 2, 0), ('matching', 0, 1)]
    """
    defects = report.error_counts(cause="sample")
    missing = report.error_counts(cause="component")
    return [(k, defects.get(k, 0), missing.get(k, 0))
            for k in sorted(set(defects) | set(missing))]


def scorer_names(report) -> list[str]:
    """Per-sample scorers of the report (their main column is in ``samples``)."""
    names = []
    for r in report.indicators.iter_rows(named=True):
        if r["kind"] == "scorer":
            names.append(r["indicator"])
    for name, entry in (report.info.get("components") or {}).items():
        if isinstance(entry, dict) and entry.get("kind") == "scorer":
            names.append(name)
    return [n for n in dict.fromkeys(names) if n in report.samples.columns]


def directions(report) -> dict[str, str | None]:
    return {r["indicator"]: r["direction"] for r in report.indicators.iter_rows(named=True)}


def numeric_score_columns(samples: pl.DataFrame) -> list[str]:
    """Numeric (not boolean) per-sample columns: the ones that get a distribution plot."""
    out = []
    for c, dt in samples.schema.items():
        if c in BASE_COLUMNS or c.endswith("_error"):
            continue
        if dt.is_numeric():
            out.append(c)
    return out


def task_table(report) -> pl.DataFrame:
    """``Report.tasks`` sorted by size (largest first), or an empty frame."""
    t = report.tasks
    if t is None or t.is_empty() or "task" not in t.columns:
        return pl.DataFrame()
    if "n" in t.columns:
        t = t.sort(["n", "task"], descending=[True, False], nulls_last=True)
    first = [c for c in ("task", "n", "share") if c in t.columns]
    return t.select(first + [c for c in t.columns if c not in first])


# ------------------------------------------------------------------------------ HTML page
CSS = """
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--accent:#2f6fde;
--good:#1b7f3b;--bad:#b42318;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header.top{background:#15233b;color:#fff;padding:18px 32px}
header.top h1{margin:0;font-size:22px;font-weight:600}
header.top .sub{color:#c5d0e0;font-size:13px;margin-top:4px}
nav.toc{position:sticky;top:0;z-index:10;background:#fff;border-bottom:1px solid var(--line);
padding:8px 32px;font-size:13px}
nav.toc a{color:var(--accent);text-decoration:none;margin-right:16px}
main{max-width:1280px;margin:0 auto;padding:16px 32px 48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;
margin:16px 0}
section h2{margin:0 0 12px;font-size:18px}
section h3{margin:16px 0 8px;font-size:15px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px;
min-width:150px}
.card .v{font-size:22px;font-weight:600}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.warn .v{color:var(--bad)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7;font-weight:600;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.group td{background:#eef2f8;font-weight:600;color:#334e68}
td.dir{text-align:center;font-size:15px}
table.t4{width:auto}
table.t4 th,table.t4 td{padding:5px 14px}
.muted{color:var(--muted)}
.good{color:var(--good)}
.bad{color:var(--bad)}
.scroll{max-height:480px;overflow:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.vlitq-plot{width:100%}
.plot-note{color:var(--muted);font-style:italic}
details.drill{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:6px 10px}
details.drill>summary{cursor:pointer;font-weight:600}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.sample{border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin:8px 0;
background:#fbfcfe}
.sample .head{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap;font-size:12px}
.sample .where{font-size:11px}
.sample .head .sid{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600}
.sample .score{font-weight:600}
.thumbs{display:flex;gap:6px;flex-wrap:wrap;margin:6px 0}
.thumbs img{max-width:128px;max-height:128px;border-radius:4px;border:1px solid var(--line)}
.broken{display:inline-block;width:128px;min-height:64px;padding:6px;font-size:11px;
color:var(--bad);border:1px dashed var(--bad);border-radius:4px;overflow-wrap:anywhere}
.turn{margin:4px 0;font-size:13px}
.turn .role{font-weight:600;color:#334e68;margin-right:4px}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
ul.warnings li{color:#8a4b08;margin:2px 0}
pre.json{background:#f0f3f7;padding:8px;border-radius:4px;overflow:auto;max-height:240px;
font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
footer{color:var(--muted);font-size:12px;text-align:center;margin:24px}
@media (max-width:900px){.cols{grid-template-columns:1fr}}
"""

_PLOT_SCRIPT = """
(function(){
  var divs = document.querySelectorAll('div.vlitq-plot');
  var drawn = 0;
  for (var i = 0; i < divs.length; i++) {
    var d = divs[i];
    var spec = document.getElementById(d.getAttribute('data-spec'));
    if (!spec) { continue; }
    if (typeof Plotly === 'undefined') {
      d.textContent = 'Plots need plotly.js, which this file does not include.';
      d.className += ' plot-note';
      continue;
    }
    try {
      var fig = JSON.parse(spec.textContent);
      var cfg = {displaylogo: false, responsive: true,
                 modeBarButtonsToRemove: ['select2d', 'lasso2d']};
      for (var k in (fig.config || {})) { cfg[k] = fig.config[k]; }
      Plotly.newPlot(d, fig.data, fig.layout, cfg);
      drawn++;
    } catch (e) {
      d.textContent = 'This plot could not be drawn: ' + e;
      d.className += ' plot-note';
    }
  }
  document.documentElement.setAttribute('data-vlitq-plots-drawn', String(drawn));
})();
"""


class Figures:
    """Collects plotly figure specs (plain dicts) and emits their placeholders and script."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.specs: list[tuple[str, dict]] = []

    def add(self, data: list[dict], layout: dict, *, height: int = 280,
            modebar: bool = True) -> str:
        """Placeholder ``<div>`` for one figure (or '' when plots are off).

        Text in ``data``/``layout`` must already be escaped with :func:`plot_text`.
        """
        if not self.enabled:
            return ""
        k = len(self.specs)
        lay = {"height": height, "margin": {"l": 50, "r": 16, "t": 36, "b": 40},
               "font": {"size": 11}, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff"}
        lay.update(layout)
        if isinstance(lay.get("title"), dict):
            lay["title"] = {"x": 0.0, "xanchor": "left", "xref": "paper", **lay["title"]}
        spec = {"data": data, "layout": lay}
        if not modebar:
            spec["config"] = {"displayModeBar": False}
        self.specs.append((f"vlitq-fig-{k}", spec))
        return (f'<div class="vlitq-plot" id="vlitq-plot-{k}" data-spec="vlitq-fig-{k}" '
                f'style="height:{int(height)}px"></div>')

    def scripts(self, plotlyjs: str) -> str:
        if not self.enabled or not self.specs:
            return ""
        parts = [f'<script type="application/json" id="{sid}">{script_json(spec)}</script>'
                 for sid, spec in self.specs]
        if plotlyjs == "inline":
            parts.append(f"<script>{_plotly_source()}</script>")
        elif plotlyjs == "cdn":
            parts.append(f'<script src="https://cdn.plot.ly/plotly-{_plotly_js_version()}.min.js"'
                         ' charset="utf-8"></script>')
        parts.append(f"<script>{_PLOT_SCRIPT}</script>")
        return "\n".join(parts)


def plotly_available() -> bool:
    from vlitq._dependencies import is_available

    return is_available("plotly")


def _plotly_source() -> str:
    from plotly.offline import get_plotlyjs

    # plotly.js holds no "</script" today; make sure a future build cannot end the block early.
    return get_plotlyjs().replace("</script", "<\\/script")


def _plotly_js_version() -> str:
    try:
        from plotly.offline import get_plotlyjs_version

        return get_plotlyjs_version()
    except ImportError:  # pragma: no cover - very old plotly
        return "latest"


def resolve_plots(plots: bool | None, plotlyjs: str) -> bool:
    """Whether to draw plots: requested (None = when plotly is installed) and possible."""
    if plotlyjs not in ("inline", "cdn", "none"):
        raise ValueError(f"plotlyjs must be 'inline', 'cdn' or 'none', not {plotlyjs!r}")
    if plots is False:
        return False
    have = plotly_available() if plotlyjs == "inline" else True
    if plots and not have:
        from vlitq._dependencies import import_optional

        import_optional("plotly", purpose="plots in HTML reports")
    return have


def content_security_policy(scripts: str) -> str:
    """A policy allowing exactly the page's own scripts (by SHA-256 of their text, plus the
    plotly CDN URL when linked), inline styles and ``data:`` images — nothing else.

    A second line of defence behind escaping: were a payload ever to slip through, an injected
    ``<script>`` or ``onerror=`` handler would still not run, and nothing is fetched.

    >>> content_security_policy("<script>go()</script>").split("; ")[1]
    "script-src 'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw='"
    """
    allowed = [f"'sha256-{base64.b64encode(hashlib.sha256(m.encode('utf-8')).digest()).decode()}'"
               for m in re.findall(r"<script>(.*?)</script>", scripts, flags=re.DOTALL)]
    allowed += re.findall(r'<script src="(https://[^"]+)"', scripts)
    return "; ".join([
        "default-src 'none'", f"script-src {' '.join(allowed) or chr(39) + 'none' + chr(39)}",
        "style-src 'unsafe-inline'", "img-src data: blob:", "font-src data:",
        "base-uri 'none'", "form-action 'none'"])


def page(title: str, subtitle: str, nav: list[tuple[str, str]], body: str, scripts: str,
         footer: str) -> str:
    """The whole HTML document; every argument except ``body``/``scripts`` is plain text."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" "
        f"content=\"{esc(content_security_policy(scripts))}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header class=\"top\"><h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div>"
        f"</header><nav class=\"toc\">{links}</nav><main>{body}</main>"
        f"<footer>{esc(footer)}</footer>\n{scripts}\n</body></html>\n"
    )


def html_table(header: list[str], rows: list[list[str]], numeric: Iterable[int] = (),
               cls: str = "") -> str:
    """A table from already-escaped cell HTML; ``header`` is plain text."""
    numeric = set(numeric)
    th = "".join(f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
                 for i, h in enumerate(header))
    body = []
    for r in rows:
        body.append("<tr>" + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(r)) + "</tr>")
    return f'<table class="{esc(cls)}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'
