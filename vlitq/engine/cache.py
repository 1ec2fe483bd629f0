"""Deprecated alias of :mod:`vlitq.cache` (the cache is a module of its own, used by every
component, not only by the engine). Kept so ``from vlitq.engine.cache import Cache`` still
works."""
from vlitq.cache import Cache, Store, as_cache  # noqa: F401

__all__ = ["Cache", "Store", "as_cache"]
