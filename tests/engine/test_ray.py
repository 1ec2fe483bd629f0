import json

import pytest

import vlitq

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_ray_matches_local(tmp_path, ray_local):
    recs = [{"id": f"s{i}", "image": "missing.jpg" if i % 5 == 0 else None,
             "conversations": [{"from": "human", "value": f"Question {i % 4}?"},
                               {"from": "gpt", "value": "" if i == 3 else "answer " * (i % 6)}]}
            for i in range(40)]
    for r in recs:
        if r["image"] is None:
            del r["image"]
    p = tmp_path / "d.json"
    p.write_text(json.dumps(recs))
    names = ["text_stats", "image_check", "duplicates"]
    local = vlitq.score(str(p), names, cache=False, progress=False)
    out = tmp_path / "ray_out"
    rr = vlitq.score(str(p), names, cache=str(tmp_path / "c"), progress=False, engine="ray",
                     num_actors=1, output_dir=str(out), chunk_size=16)
    assert rr.samples.equals(local.samples)
    assert rr.indicators.equals(local.indicators)
    assert rr.errors.sort("sample_id", "scorer").equals(local.errors.sort("sample_id", "scorer"))
    assert list(out.glob("*.parquet")), "scores were not written as Parquet"
    assert rr.info["engine"] == "ray"
