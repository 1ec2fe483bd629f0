"""The Ray engine leaves Ray as it found it: a local instance it started is shut down once the
scores are written (its daemons and workers would otherwise stay beside the driver while the
indicators run); one the caller started stays up."""
import json

import pytest

import vlitq

ray = pytest.importorskip("ray")


def _data(tmp_path):
    recs = [{"id": f"s{i}", "conversations": [{"from": "human", "value": f"Question {i % 3}?"},
                                              {"from": "gpt", "value": "yes " * (i % 4 + 1)}]}
            for i in range(12)]
    p = tmp_path / "d.json"
    p.write_text(json.dumps(recs))
    return str(p)


def test_ray_started_by_the_run_is_shut_down(tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    p = _data(tmp_path)
    names = ["text_stats", "duplicates"]
    local = vlitq.score(p, names, cache=False, progress=False)
    rr = vlitq.score(p, names, cache=False, progress=False, engine="ray", num_actors=1)
    assert not ray.is_initialized()
    assert rr.samples.equals(local.samples)
    assert rr.indicators.equals(local.indicators)


def test_ray_started_by_the_caller_stays_up(tmp_path):
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        vlitq.score(_data(tmp_path), ["text_stats"], cache=False, progress=False,
                    engine="ray", num_actors=1)
        assert ray.is_initialized()
    finally:
        ray.shutdown()
