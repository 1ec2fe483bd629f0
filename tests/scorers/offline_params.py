"""Offline test parameters for scorers whose default model cannot be loaded here.

Each entry maps a component name to a dict of parameters or to a function of pytest's
``request`` returning one (e.g. building a tiny model from a config and saving it).
Used by ``test_common.py``.
"""
_built: dict = {}


def _tiny_open_clip(request):
    return {"model": request.getfixturevalue("tiny_open_clip_dir"), "workers": 1}


def _tiny_llava(request):
    if "llava" not in _built:
        import importlib.util
        import os

        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "models", "judge_helpers.py")
        spec = importlib.util.spec_from_file_location("vlitq_test_judge_helpers", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tmp = request.getfixturevalue("tmp_path_factory")
        _built["llava"] = mod.build_tiny_llava(str(tmp.mktemp("common-llava")))
    return {"judge": _built["llava"], "k": 3}


OFFLINE_PARAMS = {
    "matching": _tiny_open_clip,
    "correctness": _tiny_llava,
    # CHAIR needs the objects in each image; the contract's three photos get some
    "chair": {"annotations": {"0.jpg": ["person"], "1.jpg": ["dog"], "2.jpg": ["person", "car"]}},
}
