"""Configuration: one shape everywhere, ``{component_name: {param: value}}``.

The same mapping is accepted as a Python dict, a TOML / YAML / JSON file, and on the CLI as
``--set matching.model=ViT-B-32`` pairs.
"""
from __future__ import annotations

import json
import os
from typing import Any


def load_config(config: "dict | str | os.PathLike | None") -> dict[str, dict[str, Any]]:
    """Normalise ``config`` to ``{name: {param: value}}``.

    >>> load_config({"matching": {"model": "ViT-B-32"}})
    {'matching': {'model': 'ViT-B-32'}}
    >>> load_config(None)
    {}
    """
    if config is None:
        return {}
    if isinstance(config, dict):
        data = config
    else:
        path = os.fspath(config)
        with open(path, "rb") as fh:
            raw = fh.read()
        if path.endswith(".toml"):
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(raw.decode("utf-8"))
        elif path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(raw) or {}
        else:
            data = json.loads(raw)
    out = {}
    for k, v in data.items():
        if v is None:
            v = {}
        if not isinstance(v, dict):
            raise ValueError(f"config: {k!r} must map to a table of parameters, got {v!r}")
        out[str(k)] = dict(v)
    return out


def parse_assignments(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["matching.model=ViT-B-32", "matching.batch_size=8"]`` → config mapping; values are
    parsed as JSON when they parse, else kept as strings.

    >>> parse_assignments(["matching.batch_size=8", "matching.model=ViT-B-32"])
    {'matching': {'batch_size': 8, 'model': 'ViT-B-32'}}
    """
    out: dict[str, dict[str, Any]] = {}
    for p in pairs:
        if "=" not in p or "." not in p.split("=", 1)[0]:
            raise ValueError(f"expected name.param=value, got {p!r}")
        key, val = p.split("=", 1)
        name, param = key.split(".", 1)
        try:
            value: Any = json.loads(val)
        except ValueError:
            value = val
        out.setdefault(name, {})[param] = value
    return out


def merge(*configs: dict) -> dict:
    out: dict[str, dict] = {}
    for c in configs:
        for k, v in (c or {}).items():
            out.setdefault(k, {}).update(v)
    return out
