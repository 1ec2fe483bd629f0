"""Configuration: one shape everywhere, ``{component_name: {param: value}}``, and one loader.

The same mapping is accepted as a Python dict, a TOML / YAML / JSON file, and on the CLI as
``--set matching.model=ViT-B-32`` pairs. :func:`read_file` is the only place a configuration,
rules or gate file is parsed (``vlitq score``, ``filter`` and ``check`` all go through it);
:func:`check_config` refuses unknown components and parameters before anything runs, with the
valid ones listed, as a :class:`ConfigError` (one line; the CLI exits with status 2).
"""
from __future__ import annotations

import json
import os
from typing import Any


class ConfigError(ValueError):
    """A configuration, rules or gate file (or ``--set``) is malformed or names something that
    does not exist. The CLI prints the message on one line and exits with status 2."""


class UnknownParameterError(ConfigError, TypeError):
    """A component was given a parameter it does not take (also a ``TypeError``, as a wrong
    keyword argument is in Python)."""


class UnknownComponentError(ConfigError, KeyError):
    """No scorer or indicator has this name (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def read_file(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML, YAML or JSON file (by extension; JSON otherwise) into a dict.

    Malformed content raises :class:`ConfigError` naming the file and the parser's message.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        if path.endswith(".toml"):
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # each parser has its own error class; all mean "malformed"
        msg = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid {_kind(path)}: {msg}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/mapping at the top, got "
                          f"{type(data).__name__}")
    return data


def _kind(path: str) -> str:
    if path.endswith(".toml"):
        return "TOML"
    if path.endswith((".yaml", ".yml")):
        return "YAML"
    return "JSON"


def load_config(config: dict | str | os.PathLike | None) -> dict[str, dict[str, Any]]:
    """Normalise ``config`` to ``{name: {param: value}}``.

    >>> load_config({"matching": {"model": "ViT-B-32"}})
    {'matching': {'model': 'ViT-B-32'}}
    >>> load_config(None)
    {}
    >>> load_config({"matching": 3})
    Traceback (most recent call last):
    ...
    vlitq.config.ConfigError: config: 'matching' must map to a table of parameters, got 3
    """
    if config is None:
        return {}
    data = config if isinstance(config, dict) else read_file(config)
    out = {}
    for k, v in data.items():
        if v is None:
            v = {}
        if not isinstance(v, dict):
            raise ConfigError(f"config: {k!r} must map to a table of parameters, got {v!r}")
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
            raise ConfigError(f"--set: expected name.param=value, got {p!r}")
        key, val = p.split("=", 1)
        name, param = key.split(".", 1)
        try:
            value: Any = json.loads(val)
        except ValueError:
            value = val
        out.setdefault(name.strip(), {})[param.strip()] = value
    return out


def merge(*configs: dict) -> dict:
    """Later configurations override earlier ones, parameter by parameter.

    >>> merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, None)
    {'a': {'x': 1, 'y': 3}}
    """
    out: dict[str, dict] = {}
    for c in configs:
        for k, v in (c or {}).items():
            out.setdefault(k, {}).update(v)
    return out


def check_config(config: dict) -> None:
    """Refuse unknown component names and parameters (the valid ones are listed).

    >>> check_config({"text_stats": {"max_chars": 10}})
    >>> check_config({"text_stats": {"batch_size": 4}})
    Traceback (most recent call last):
    ...
    vlitq.config.UnknownParameterError: text_stats: unknown parameter 'batch_size'; valid: max_chars
    """
    from vlitq import registry

    for name, params in config.items():
        registry.check_params(registry.get(name), params)


def load_run_config(config: dict | str | os.PathLike | None = None,
                    assignments: list[str] | tuple[str, ...] = (),
                    *, base: dict | None = None) -> dict[str, dict[str, Any]]:
    """The configuration of one run, checked: ``base`` (e.g. a rules file's ``[config]``),
    then the ``--config`` file, then the ``--set`` pairs, later ones winning.

    This is the one loader behind ``vlitq score``, ``vlitq filter`` and ``vlitq check``.

    >>> load_run_config(None, ["text_stats.max_chars=50"], base={"text_stats": {"max_chars": 9}})
    {'text_stats': {'max_chars': 50}}
    """
    cfg = merge(load_config(base), load_config(config),
                parse_assignments(list(assignments)))
    check_config(cfg)
    return cfg
