"""Release gates: a gate runs what it names; exit 0 = passed, 1 = a condition failed, 2 = the gate
or the run is misconfigured or could not be evaluated — one case per test, no tracebacks."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vlitq
from vlitq import registry
from vlitq.cli import main
from vlitq.config import ConfigError
from vlitq.data.dataset import Dataset, make_sample
from vlitq.scorers.base import Scorer
from vlitq.select.gate import check, needs, parse_gate


class _NeedsModel(Scorer):
    """A scorer whose model is missing: every sample is *not evaluated*."""

    name = "_needs_model"
    inputs = ("turns",)
    cacheable = False

    def __init__(self):
        pass

    def load(self):
        raise FileNotFoundError("no weights at /models/missing")

    def score_batch(self, batch):  # pragma: no cover - never reached
        return {self.name: [1.0] * len(batch["turns"])}


@pytest.fixture
def needs_model():
    registry.register(_NeedsModel)
    yield _NeedsModel
    registry.unregister(_NeedsModel.name)


@pytest.fixture
def data(tmp_path):
    """Three good samples, one broken and one missing image, one empty response."""
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{k}.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not an image")
    recs = [{"id": f"good{k}", "image": f"{k}.png", "conversations": [
        {"from": "human", "value": f"<image>\nWhat is shown in picture {k}?"},
        {"from": "gpt", "value": "Coloured noise, nothing else. " * (k + 1)}]} for k in range(3)]
    recs += [
        {"id": "broken", "image": "broken.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is this?"},
            {"from": "gpt", "value": "A tree."}]},
        {"id": "missing", "image": "nope.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat colour?"},
            {"from": "gpt", "value": "Blue."}]},
        {"id": "empty", "conversations": [
            {"from": "human", "value": "Say something."}, {"from": "gpt", "value": ""}]},
    ]
    p = tmp_path / "data.json"
    p.write_text(json.dumps(recs))
    return p


def _gate(tmp_path, text, name="gate.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _check(*args):
    r = CliRunner().invoke(main, ["check", *map(str, args), "--quiet"])
    assert "Traceback" not in r.output
    return r


# ------------------------------------------------------------------------ exit 0 and 1
def test_gate_runs_what_it_names(data, tmp_path):
    # only text_stats is listed, but the gate names image_check: it must run, and fail
    g = _gate(tmp_path, 'scorers = ["text_stats"]\n[gate]\n"errors.image_check" = { max = 0 }\n'
                        'text_stats = { min = 1 }\n')
    r = _check(data, "--gate", g)
    assert r.exit_code == 1, r.output
    line = next(ln for ln in r.output.splitlines() if "errors.image_check" in ln)
    assert "FAIL" in line and "= 2" in line and "broken" in line and "missing" in line
    assert "[ok  ] text_stats" in r.output


def test_gate_passes_with_exit_0(data, tmp_path):
    g = _gate(tmp_path, '[gate]\nn_samples = { min = 6 }\n"errors.text_stats" = { max = 1 }\n')
    r = _check(data, "--gate", g)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("gate PASSED")
    assert "passed: 1 <= 1" in r.output and "empty" in r.output  # which sample, even on a pass


def test_gate_json_output(data, tmp_path):
    g = _gate(tmp_path, '[gate]\n"errors.image_check" = { max = 0 }\n')
    r = CliRunner().invoke(main, ["check", str(data), "--gate", g, "--quiet", "--json"])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["status"] == "failed" and out["exit_code"] == 1
    (c,) = out["checks"]
    assert c["status"] == "failed" and sorted(c["samples"]) == ["broken", "missing"]


# ------------------------------------------------------------------------ exit 2
@pytest.mark.parametrize("text, message", [
    ('[gate]\n"errors.image_chek" = { max = 0 }\n', "did you mean image_check"),
    ("", "empty"),
    ("[gate]\n", "empty"),
    ('[gate]\nerrors = { atmost = 0 }\n', "unknown operator 'atmost'"),
    ('[gate]\nerrors = { max = "zero" }\n', "needs a number"),
    ("[gate\nerrors = { max = 0 }\n", "not valid TOML"),
    ('[gates]\nerrors = { max = 0 }\n', "not an indicator"),
    ('[gate]\nmatchng = { min = 1 }\n', "did you mean matching"),
    ('[gate]\nerrors = { max = 0 }\n[config]\ntext_stats = { batch_size = 4 }\n',
     "text_stats: unknown parameter 'batch_size'"),
])
def test_misconfigured_gate_exits_2(data, tmp_path, text, message):
    r = _check(data, "--gate", _gate(tmp_path, text))
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert len(r.output.strip().splitlines()) == 1  # one clean line


def test_unknown_set_parameter_exits_2(data, tmp_path):
    g = _gate(tmp_path, '[gate]\ntext_stats = { min = 1 }\n')
    r = _check(data, "--gate", g, "--set", "text_stats.batch_size=4")
    assert r.exit_code == 2 and "unknown parameter 'batch_size'" in r.output


def test_missing_model_is_not_evaluated(data, tmp_path, needs_model):
    g = _gate(tmp_path, '[gate]\n_needs_model = { min = 0 }\n"errors._needs_model" = '
                        '{ max = 0 }\nn_samples = { min = 1 }\n')
    r = _check(data, "--gate", g)
    assert r.exit_code == 2, r.output
    assert "NOT EVALUATED" in r.output and "no weights at /models/missing" in r.output
    assert "[ok  ] n_samples" in r.output


def test_errors_gate_not_evaluated_when_a_component_could_not_run(data, tmp_path, needs_model):
    g = _gate(tmp_path, 'scorers = ["text_stats", "_needs_model"]\n[gate]\nerrors = { max = 9 }\n')
    r = _check(data, "--gate", g)
    assert r.exit_code == 2 and "defect count is incomplete" in r.output, r.output


def test_real_missing_clip_weights_exit_2(data, tmp_path):
    pytest.importorskip("open_clip")
    g = _gate(tmp_path, '[gate]\nmatching = { min = 20 }\n')
    r = _check(data, "--gate", g, "--set", f"matching.model={tmp_path / 'no-such-clip'}")
    assert r.exit_code == 2, r.output
    assert "matching did not run" in r.output


def test_unknown_detail_figure_is_not_evaluated(data, tmp_path):
    g = _gate(tmp_path, '[gate]\n"duplicates.no_such_figure" = { max = 1 }\n')
    r = _check(data, "--gate", g)
    assert r.exit_code == 2 and "no figure 'no_such_figure'" in r.output, r.output


# ------------------------------------------------------------------------ Python API
def test_parse_and_needs():
    assert needs({"errors.image_check": {"max": 0}, "balance": {"max": 15},
                  "response_diversity.noise_share": {"max": 0.3}, "errors": {"max": 0}}) == [
        "image_check", "balance", "response_diversity"]
    with pytest.raises(ConfigError, match="empty"):
        parse_gate({})
    with pytest.raises(ConfigError):
        parse_gate({"errors": {}})


def test_check_states_and_exit_codes():
    ds = Dataset.from_records([make_sample("a", [("Q?", "")]), make_sample("b", [("Q?", "A.")])])
    rep = vlitq.score(ds, ["text_stats"], cache=False, progress=False)
    res = check(rep, {"errors": {"max": 0}, "n_samples": {"min": 2}})
    assert (res.passed, res.exit_code, res.status) == (False, 1, "failed")
    row = res.checks.row(0, named=True)
    assert row["samples"] == ["a"] and "1 > 0" in row["why"]
    # a component that was not run is "not evaluated", not a zero
    res = check(rep, {"errors.image_check": {"max": 0}})
    assert res.exit_code == 2 and "image_check did not run" in res.checks["why"][0]
    assert check(rep, {"n_samples": {"min": 2}}).exit_code == 0


def test_help_states_exit_codes_and_commands_share_run_options():
    r = CliRunner().invoke(main, ["check", "--help"])
    assert r.exit_code == 0
    for line in ("0  every condition passed", "1  a condition failed", "2  the gate or the run"):
        assert line in r.output
    for cmd in ("score", "filter", "check"):
        out = CliRunner().invoke(main, [cmd, "--help"]).output
        for opt in ("--config", "--set", "--no-cache", "--allow-outside-root", "--cache-dir"):
            assert opt in out, (cmd, opt)


def test_score_unknown_parameter_is_one_line_exit_2(data):
    r = CliRunner().invoke(main, ["score", str(data), "--scorers", "text_stats", "--set",
                                  "llm_complexity.batch_size=4", "--quiet"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.strip().splitlines() == [
        r.output.strip()] and "llm_complexity: unknown parameter 'batch_size'" in r.output
