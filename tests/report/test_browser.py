"""The report in a real browser: headless Chromium opens the HTML file from disk (no network),
runs its scripts, and we check that the plots drew, that none of the injected payloads ran, and
that the screenshot is not blank."""
import base64
import hashlib
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

# Appended to a copy of the report. The hidden <img> is a positive control: its handler must
# run when the page has no Content-Security-Policy (so "pwned=0" there shows the escaping works)
# and must be blocked when the page keeps its policy (so the policy is in force).
CONTROL = '<img src="x" onerror="window.__control=1" style="display:none">'
PROBE_JS = """
window.addEventListener('load', function () { setTimeout(function () {
  document.title = 'probe pwned=' + (window.__pwned || 0) +
    ' control=' + (window.__control || 0) +
    ' plots=' + document.querySelectorAll('div.vlitq-plot').length +
    ' drawn=' + document.querySelectorAll('div.vlitq-plot .plot-container').length +
    ' svgs=' + document.querySelectorAll('div.vlitq-plot svg.main-svg').length +
    ' bars=' + document.querySelectorAll('div.vlitq-plot g.point path').length;
}, 500); });
"""
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')


def _probed(html, keep_csp):
    assert len(CSP_META.findall(html)) == 1
    if keep_csp:  # allow the probe script by its hash, as the page allows its own
        digest = base64.b64encode(hashlib.sha256(PROBE_JS.encode()).digest()).decode()
        html = html.replace("script-src ", f"script-src &#x27;sha256-{digest}&#x27; ", 1)
    else:
        html = CSP_META.sub("", html)
    end = html.rindex("</body>")
    return html[:end] + CONTROL + f"<script>{PROBE_JS}</script>" + html[end:]


def _chromium():
    for name in (os.environ.get("VLITQ_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _run_chromium(binary, page, profile, screenshot):
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
           "--virtual-time-budget=5000", "--window-size=1280,2400",
           f"--screenshot={screenshot}", "--dump-dom", page.as_uri()]
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _open(html, tmp_path, *, csp_modes):
    """Open a probed copy of ``html`` in headless Chromium per mode (page policy kept or
    removed), the browsers running side by side: {keep_csp: (probe state, screenshot, DOM)}."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium; "
                    ".ci/run installs it)")

    def one(keep_csp):
        tag = "csp" if keep_csp else "nocsp"
        page = tmp_path / f"probe-{tag}.html"
        page.write_text(_probed(html, keep_csp), encoding="utf-8")
        shot = tmp_path / f"page-{tag}.png"
        dom = _run_chromium(binary, page, tmp_path / f"profile-{tag}", shot)
        m = re.search(r"<title>probe ([^<]*)</title>", dom)
        assert m, "the probe did not run: " + dom[:500]
        state = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
        return state, img, dom

    with ThreadPoolExecutor(max_workers=len(csp_modes)) as pool:
        return dict(zip(csp_modes, pool.map(one, csp_modes)))


def _blue_pixels(img, rgb=(47, 111, 222)):
    return int((np.abs(img - np.array(rgb)).sum(axis=2) < 30).sum())


@pytest.mark.slow
def test_report_in_headless_chromium(tmp_path, bundled_dataset, payloads):
    import vlitq

    rep = vlitq.score(bundled_dataset, ["text_stats", "image_check", "duplicates"], cache=False,
                      progress=False)
    rep.info.setdefault("warnings", []).append(payloads.warning_script)
    assert rep.errors.height >= 3  # the bad samples show in the error summary
    # every sample in the drill-down, so every payload is on the page
    html = rep.to_html(dataset=bundled_dataset, title="browser test",
                       n_examples=len(bundled_dataset))
    n_plots = html.count('class="vlitq-plot"')
    assert n_plots >= 5

    runs = _open(html, tmp_path, csp_modes=(False, True))
    # 1. escaping alone: the page's Content-Security-Policy removed
    state, img, dom = runs[False]
    assert state["control"] == 1, state  # handlers do run here ...
    assert state["pwned"] == 0, state  # ... but none of the dataset's payloads did
    assert state["plots"] == n_plots
    assert state["drawn"] == n_plots, state  # every plot drew
    assert state["svgs"] >= n_plots and state["bars"] > 0, state
    assert f'data-vlitq-plots-drawn="{n_plots}"' in dom
    # the payloads are in the page as text, not as elements
    assert "window.__pwned=1&lt;/script&gt;" in dom
    assert "<script>window.__pwned" not in dom
    # a real picture, not a blank page: varied pixels, and the plots' blue covers an area
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img.std() > 20, "the screenshot is blank"
    assert _blue_pixels(img) > 5000

    # 2. the page as shipped: its policy blocks inline handlers (the control) and still lets
    #    plotly and the page's own script draw every plot
    state, img, dom = runs[True]
    assert state["control"] == 0 and state["pwned"] == 0, state
    assert state["drawn"] == n_plots and state["bars"] > 0, state
    assert _blue_pixels(img) > 5000


@pytest.mark.slow
def test_comparison_in_headless_chromium(tmp_path, make_paper_report):
    bad = '<img src=x onerror="window.__pwned=8">'
    a = make_paper_report(tasks=("caption", "vqa", bad), name="v1")
    b = make_paper_report(tasks=("caption", "vqa", bad, "ocr"), shift=2.0, name="v2")
    from vlitq.report import compare

    html = compare([a, b]).to_html()
    state, img, dom = _open(html, tmp_path, csp_modes=(True,))[True]
    assert state["control"] == 0 and state["pwned"] == 0, state
    assert state["plots"] == 2 and state["drawn"] == 2, state  # radar + task shares
    assert "polarlayer" in dom  # the radar drew as a polar plot
    assert img.std() > 20 and _blue_pixels(img) > 2000
