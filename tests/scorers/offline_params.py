"""Offline test parameters for scorers whose default model cannot be loaded here.

Each entry maps a component name to a dict of parameters or to a function of pytest's
``tmp_path_factory`` returning one (e.g. building a tiny model from a config and saving it).
Used by ``test_common.py``.
"""
_built: dict = {}


def _tiny_open_clip(tmp_path_factory):
    if "clip" not in _built:
        import open_clip
        import torch

        from vlitq.models.clip import save_open_clip

        cfg = {"embed_dim": 16,
               "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                              "head_width": 16},
               "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                            "layers": 1}}
        torch.manual_seed(0)
        d = tmp_path_factory.mktemp("common-clip") / "tiny"
        save_open_clip(open_clip.CLIP(**cfg), cfg, str(d))
        _built["clip"] = str(d)
    return {"model": _built["clip"], "workers": 1}


def _tiny_llava(tmp_path_factory):
    if "llava" not in _built:
        import importlib.util
        import os

        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "models", "judge_helpers.py")
        spec = importlib.util.spec_from_file_location("vlitq_test_judge_helpers", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _built["llava"] = mod.build_tiny_llava(str(tmp_path_factory.mktemp("common-llava")))
    return {"judge": _built["llava"], "k": 3}


OFFLINE_PARAMS = {
    "matching": _tiny_open_clip,
    "correctness": _tiny_llava,
}
