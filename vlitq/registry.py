"""One registry for per-sample scorers and dataset-level indicators, keyed by ``name``.

Modules under :mod:`vlitq.scorers` and :mod:`vlitq.indicators` register their classes with
:func:`register`; :func:`discover` imports those modules (each must be light to import: heavy
packages are imported inside methods).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, ClassVar

_REGISTRY: dict[str, type] = {}
_DISCOVERED = False
_PACKAGES = ("vlitq.scorers", "vlitq.indicators")
# modules whose classes declare the optional hooks' defaults (see Component.overrides)
_BASES = ("vlitq.registry", "vlitq.scorers.base", "vlitq.indicators.base")


class Component:
    """Base of scorers and indicators: keyword-only constructor args, introspectable params.

    Subclasses set ``name`` (the column prefix), ``principle``, ``direction`` ("up", "down" or
    None) and ``requires`` (the extras they need, shown by ``vlitq scorers``). Constructors only
    store their arguments (scikit-learn style); models load on first use.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "component"
    principle: ClassVar[str | None] = None
    direction: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"  # bump when the meaning of the output changes (cache key)
    description: ClassVar[str] = ""

    def __init__(self):
        pass

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args/**kwargs")
            names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as currently set (feeds cache keys and ``Report.info``)."""
        return {n: getattr(self, n) for n in self._param_names()}

    def model_id(self) -> str | None:
        """Identifier of the model used (name + revision), or None for model-free components."""
        return None

    # ----- optional hooks: declared here so callers never probe with getattr/hasattr --------
    def estimate_cost(self, dataset) -> dict[str, Any]:
        """What running on ``dataset`` would cost, for ``vlitq score --dry-run``: at least
        ``{"calls": n}`` (model calls); judges add tokens. Model-free components cost nothing."""
        return {"calls": 0}

    @classmethod
    def overrides(cls, hook: str) -> bool:
        """Whether this class implements the optional ``hook`` itself (not the base default).

        >>> Component.overrides("estimate_cost")
        False
        """
        for klass in cls.__mro__:
            if hook in vars(klass):
                return klass.__module__ not in _BASES
        return False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def register(cls: type) -> type:
    """Class decorator adding a scorer or indicator to the registry; duplicate names fail.

    >>> @register
    ... class _Demo(Component):
    ...     name = "_demo_doctest"
    >>> get("_demo_doctest") is _Demo
    True
    >>> @register
    ... class _Demo2(Component):
    ...     name = "_demo_doctest"
    Traceback (most recent call last):
    ...
    ValueError: a component named '_demo_doctest' is already registered (_Demo)
    >>> unregister("_demo_doctest")
    """
    name = getattr(cls, "name", "")
    if not name or not isinstance(name, str):
        raise ValueError(f"{cls.__name__} must set a class attribute 'name'")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(
            f"a component named {name!r} is already registered ({_REGISTRY[name].__name__})"
        )
    cls._param_names()  # fail early on **kwargs
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def discover() -> None:
    """Import every module of the scorer and indicator packages (once)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    for pkg_name in _PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{pkg_name}.{mod.name}")
    _DISCOVERED = True


def get(name: str) -> type:
    """The class registered under ``name``."""
    if name not in _REGISTRY:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        from vlitq.config import UnknownComponentError

        known = ", ".join(sorted(n for n in _REGISTRY if not n.startswith("_")))
        raise UnknownComponentError(
            f"unknown scorer or indicator {name!r}; known: {known}") from None


def names(kind: str | None = None) -> list[str]:
    """Registered names, optionally only ``kind`` ("scorer" or "indicator")."""
    discover()
    return sorted(n for n, c in _REGISTRY.items() if kind is None or c.kind == kind)


def create(name: str, params: dict | None = None) -> Component:
    """Instantiate ``name`` with ``params``; unknown parameters fail with the valid ones listed."""
    cls = get(name)
    params = dict(params or {})
    check_params(cls, params)
    return cls(**params)


def check_params(cls: type, params: dict) -> None:
    """Refuse parameters ``cls`` does not take, listing the valid ones (one line).

    >>> from vlitq.registry import get
    >>> check_params(get("text_stats"), {"batch_size": 4})
    Traceback (most recent call last):
    ...
    vlitq.config.UnknownParameterError: text_stats: unknown parameter 'batch_size'; valid: max_chars
    """
    from vlitq.config import UnknownParameterError

    valid = cls._param_names()
    bad = [k for k in params if k not in valid]
    if bad:
        word = "parameter" if len(bad) == 1 else "parameters"
        raise UnknownParameterError(
            f"{cls.name}: unknown {word} {', '.join(map(repr, bad))}; valid: "
            f"{', '.join(valid) or '(none)'}")
