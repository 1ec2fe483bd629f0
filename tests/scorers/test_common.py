"""One test over every registered scorer and indicator (STYLE.md §9): constructor and params,
declared columns, determinism, bad input → error column (never an exception), cache hits on a
re-run, and the lazy-import rule.

Scorers whose default model cannot be loaded offline get their test parameters from
``OFFLINE_PARAMS`` (tiny models built from configs, or the packaged models). Every scorer must
give the good samples a value with those parameters, and no sample may be *not evaluated*
(cause "component"): a scorer whose model never loads fails here.
"""
import inspect

import numpy as np
import pytest
from PIL import Image

import vlitq
from vlitq import registry
from vlitq.data.dataset import Dataset, make_sample
from vlitq.indicators.base import Indicator
from vlitq.scorers.base import Scorer, error_cause


def _load_offline_params():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "offline_params.py")
    spec = importlib.util.spec_from_file_location("vlitq_test_offline_params", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.OFFLINE_PARAMS


OFFLINE_PARAMS = _load_offline_params()

SCORERS = [n for n in registry.names("scorer") if not n.startswith("_")]

#: Good samples on which a scorer's value is undefined by design (not a failure), and why.
UNDEFINED = {"chair": {"textonly": "no image, so no object annotations: CHAIR is undefined"}}

INDICATORS = [n for n in registry.names("indicator") if not n.startswith("_")]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(d / f"{k}.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return d


def _dataset(image_dir):
    recs = [
        make_sample("good0", [("What is in the picture?", "A small red square on grey.")],
                    ["0.jpg"], task="vqa"),
        make_sample("good1", [("Describe the image in detail.", ("Noise in many colours, "
                               "no object can be recognised.")),
                              ("Is there a dog?", "No.")], ["1.jpg"], task="caption"),
        make_sample("good2", [("How many people are there?", "Two people stand by a car.")],
                    ["2.jpg"], task="vqa"),
        make_sample("textonly", [("Translate 'cat' to French.", "chat")], [], task="text"),
        make_sample("missing", [("What colour is the bus?", "Blue.")], ["nope.jpg"], task="vqa"),
        make_sample("broken", [("What is this?", "A tree.")], ["broken.jpg"], task="vqa"),
        make_sample("empty", [("", "")], ["0.jpg"], task="vqa"),
    ]
    return Dataset.from_records(recs, image_root=str(image_dir))


def _params(name, request):
    p = OFFLINE_PARAMS.get(name)
    return p(request) if callable(p) else dict(p or {})


@pytest.mark.parametrize("name", SCORERS + INDICATORS)
def test_constructor_contract(name):
    cls = registry.get(name)
    sig = inspect.signature(cls.__init__)
    for p in list(sig.parameters.values())[1:]:
        assert p.kind == p.KEYWORD_ONLY, f"{name}: parameter {p.name} must be keyword-only"
    obj = cls()
    assert type(obj)(**obj.get_params()).get_params() == obj.get_params()
    assert cls.direction in ("up", "down", None)
    assert "_" not in cls.name or cls.name == cls.name.lower()


def _assert_good_samples_scored(name, cls, errs, main):
    """A good sample gets a value: a scorer whose model never loads (or that returns nothing)
    fails here, not pass with an error column full of load errors."""
    good = ["good0", "good1", "good2"] + ([] if "images" in cls.inputs else ["textonly"])
    good = [g for g in good if g not in UNDEFINED.get(name, {})]
    for sid in good:
        assert errs[sid] is None, f"{name}: good sample {sid} got an error: {errs[sid]}"
        assert main[sid] is not None, f"{name}: good sample {sid} got no value"
    for sid, e in errs.items():
        assert error_cause(e) != "component", f"{name}: could not run on {sid}: {e}"


def test_contract_fails_a_scorer_whose_model_never_loads(image_dir):
    class NeverLoads(Scorer):
        name = "_never_loads"

        def __init__(self):
            pass

        def load(self):
            raise OSError("weights not found")

    ds = _dataset(image_dir)
    out = NeverLoads()(ds.to_batch())
    errs = dict(zip(ds.sample_ids, out["_never_loads_error"]))
    main = dict(zip(ds.sample_ids, out["_never_loads"]))
    with pytest.raises(AssertionError, match="good sample good0 got an error"):
        _assert_good_samples_scored("_never_loads", NeverLoads, errs, main)
    assert error_cause(errs["good0"]) == "component"


@pytest.mark.parametrize("name", SCORERS)
def test_scorer_contract(name, image_dir, request, tmp_path):
    cls = registry.get(name)
    assert issubclass(cls, Scorer)
    scorer = registry.create(name, _params(name, request))
    ds = _dataset(image_dir)
    batch = ds.to_batch()
    out1 = scorer(batch)
    assert set(out1) == set(cls.output_columns())
    assert all(len(v) == len(ds) for v in out1.values())
    out2 = scorer(batch)
    assert out1 == out2, f"{name} is not deterministic"
    errs = dict(zip(ds.sample_ids, out1[f"{name}_error"]))
    main = dict(zip(ds.sample_ids, out1[name]))
    if "images" in cls.inputs:
        for bad in ("missing", "broken"):
            assert errs[bad], f"{name}: no error for the {bad} image"
    _assert_good_samples_scored(name, cls, errs, main)
    for sid in ds.sample_ids:
        if errs[sid] and cls.name not in ("text_stats",):
            assert main[sid] is None or isinstance(main[sid], (bool, int, float, str)), sid
    # through the engine with a cache: a re-run is served from the cache
    cache = str(tmp_path / "cache")
    params = _params(name, request)
    r1 = vlitq.score(ds, [registry.create(name, params)], cache=cache, progress=False)
    r2 = vlitq.score(ds, [registry.create(name, params)], cache=cache, progress=False)
    assert r1.samples.equals(r2.samples)
    if cls.cacheable:
        stats = r2.info["cache_stats"]
        hits = sum(v["hits"] for k, v in stats.items() if k.startswith(name + "/"))
        n_ok = sum(1 for e in out1[f"{name}_error"] if e is None)
        assert hits >= n_ok, f"{name}: re-run missed the cache ({stats})"


@pytest.mark.parametrize("name", INDICATORS)
def test_indicator_contract(name, image_dir, request):
    cls = registry.get(name)
    assert issubclass(cls, Indicator)
    ds = _dataset(image_dir)
    comps = [registry.create(d, _params(d, request)) for d in cls.after
             if d in registry.names()] + [registry.create(name, _params(name, request))]
    r1 = vlitq.score(ds, comps, cache=False, progress=False)
    r2 = vlitq.score(ds, comps, cache=False, progress=False)
    v1, v2 = r1.indicator(name), r2.indicator(name)
    assert v1 == v2 or (v1 is not None and v2 is not None and abs(v1 - v2) < 1e-9)
    assert not any(w.startswith(f"{name} failed") for w in r1.warnings), r1.warnings
