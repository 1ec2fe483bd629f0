"""Per-sample scorers: batch in, batch out.

A scorer is called as ``scorer(batch) -> dict[str, list]`` where ``batch`` is a ``dict`` of
equal-length lists (the dataset's columns plus ``image_root`` and ``allow_outside_root``). It
writes the column ``<name>``, the column ``<name>_error`` (null where the sample was scored), and
optionally extra columns prefixed ``<name>_``. It never drops rows. The same object therefore
runs in the local engine, in ``datasets.Dataset.map(batched=True)`` and in Ray's
``map_batches``.

Subclasses implement :meth:`Scorer.score_batch` (and usually :meth:`Scorer.load`). Per-sample
problems are reported in the error column; an exception from ``score_batch`` makes the base
class retry the batch one sample at a time so one bad sample cannot sink its neighbours; a
failure to load the model marks every sample with that reason and is not retried per batch.

Errors have a **cause**. A defect of the sample (a broken image, an empty response) is cause
``"sample"``: the sample was looked at and found wanting. A component that could not run (its
model is missing, failed to load, a judge server is down) is cause ``"component"``: the sample
was *not evaluated*, and nothing is known about it. A component error is written as a reason
starting with :data:`NOT_EVALUATED` (see :func:`component_error`), so the cause travels with the
text through every engine, the report's ``errors`` table and saved reports;
:func:`error_cause` reads it back. Load failures and :class:`ComponentError` raised from
``score_batch`` get it automatically.
"""
from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from vlitq.cache import EXECUTION_PARAMS
from vlitq.registry import Component

logger = logging.getLogger("vlitq")


#: Leading text of a component error's reason: the sample was not evaluated.
NOT_EVALUATED = "not evaluated: "

#: The error causes, as they appear in ``Report.errors["cause"]``.
CAUSES = ("sample", "component")


def component_error(reason: str) -> str:
    """The reason for a sample that a component could not evaluate (cause ``"component"``).

    >>> component_error("matching: could not load: OSError: no weights")
    'not evaluated: matching: could not load: OSError: no weights'
    >>> error_cause(component_error("judge down"))
    'component'
    """
    reason = str(reason)
    return reason if reason.startswith(NOT_EVALUATED) else NOT_EVALUATED + reason


def error_cause(reason: str | None) -> str | None:
    """``"component"`` for a reason made by :func:`component_error`, ``"sample"`` for any
    other error, None for no error.

    >>> error_cause("image 1: cannot identify image file"), error_cause(None)
    ('sample', None)
    """
    if reason is None or reason == "":
        return None
    return "component" if str(reason).startswith(NOT_EVALUATED) else "sample"


class ComponentError(RuntimeError):
    """Raised by a scorer when it could not run (model, server, resources), as opposed to a
    sample that is defective. Every sample of the batch is marked *not evaluated*; the batch is
    not retried sample by sample."""


class ScorerLoadError(ComponentError):
    """The scorer's model or resources could not be loaded; every sample gets this reason."""


class Scorer(Component):
    """Base class of per-sample scorers.

    Class attributes
    ----------------
    name : str
        Column name; also ``<name>_error`` and ``<name>_*`` extra columns.
    extra_columns : tuple of str
        Names (without the prefix) of extra output columns, e.g. ``("agreement",)`` →
        ``<name>_agreement``.
    inputs : tuple of str
        Batch columns the result depends on; their content (and, for ``images``, the image
        bytes) forms the cache key.
    cacheable : bool
        Whether results are cached on disk (off for scorers cheaper than a cache lookup).
    batch_size : int
        Default number of samples per call.
    aggregate : str
        How the dataset-level value is formed from the column: ``"mean"``, ``"share_true"``
        (100 × share of True) or ``"none"``.
    execution_params : frozenset of str
        Constructor parameters that change how the scorer runs, not what it computes
        (batch size, device, workers, timeouts...): they stay out of the cache key, so
        changing them recomputes nothing. Default :data:`vlitq.cache.EXECUTION_PARAMS`.
    """

    kind: ClassVar[str] = "scorer"
    extra_columns: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[str, ...]] = ("turns",)
    cacheable: ClassVar[bool] = True
    batch_size: ClassVar[int] = 64
    aggregate: ClassVar[str] = "mean"
    #: Parameters that do not change results (kept out of the cache key); extend per scorer.
    execution_params: ClassVar[frozenset[str]] = EXECUTION_PARAMS

    _loaded: bool = False
    _load_error: str | None = None

    # ----- to implement -------------------------------------------------------------------
    def load(self) -> None:
        """Load models/resources. Called once, before the first batch."""

    def score_batch(self, batch: dict[str, list]) -> dict[str, list]:
        """Return ``{column: list}`` for this scorer's columns (any subset; missing → null).

        A per-sample reason in ``<name>_error`` is a defect of that sample; wrap it in
        :func:`component_error` when the component, not the sample, is at fault (a request that
        failed for good). Raise :class:`ComponentError` when the whole batch could not be
        evaluated."""
        raise NotImplementedError

    # ----- optional hooks (declared so callers never probe with getattr) -------------------
    @classmethod
    def dataset_warnings(cls, samples) -> list[str]:
        """Dataset-level warnings about this scorer's column in ``samples`` (a polars frame),
        e.g. a judge whose scores collapsed to one value. Run by the ``judge_checks``
        indicator for every scorer that overrides it (``cls.overrides("dataset_warnings")``);
        scorers that see one sample at a time use it to report what only the whole dataset
        shows."""
        return []

    # ----- provided -----------------------------------------------------------------------
    @classmethod
    def output_columns(cls) -> list[str]:
        return [cls.name, f"{cls.name}_error"] + [f"{cls.name}_{c}" for c in cls.extra_columns]

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        if self._load_error is not None:
            raise ScorerLoadError(self._load_error)
        try:
            self.load()
        except Exception as exc:
            self._load_error = f"{self.name}: could not load: {type(exc).__name__}: {exc}"
            logger.error(self._load_error)
            raise ScorerLoadError(self._load_error) from exc
        self._loaded = True

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        n = _batch_len(batch)
        cols = self.output_columns()
        try:
            self.ensure_loaded()
        except ScorerLoadError as exc:
            return _all_error(cols, n, component_error(str(exc)))
        try:
            out = self.score_batch(batch)
        except ComponentError as exc:  # the component, not the samples: no per-sample retry
            return _all_error(cols, n, component_error(f"{self.name}: {exc}"))
        except Exception as exc:  # isolate the bad sample(s)
            if n <= 1:
                out = _all_error(cols, n, f"{type(exc).__name__}: {exc}")
            else:
                logger.debug("%s: batch failed (%s); retrying one by one", self.name, exc)
                parts = [self(_row_batch(batch, i)) for i in range(n)]
                out = {c: [p[c][0] for p in parts] for c in cols}
        return _complete(out, cols, n, self.name)

    def __getstate__(self):
        # Models are not shipped between processes (Ray actors, workers): they reload there.
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)


def _batch_len(batch: dict[str, Any]) -> int:
    for v in batch.values():
        return len(v)
    return 0


def _row_batch(batch: dict[str, list], i: int) -> dict[str, list]:
    return {k: v[i : i + 1] for k, v in batch.items()}


def _all_error(cols: list[str], n: int, reason: str) -> dict[str, list]:
    out = {c: [None] * n for c in cols}
    out[cols[1]] = [reason] * n
    return out


def _complete(out: dict[str, list], cols: list[str], n: int, name: str) -> dict[str, list]:
    res = {}
    for c in cols:
        v = out.get(c)
        if v is None:
            v = [None] * n
        v = list(v)
        if len(v) != n:
            raise ValueError(f"scorer {name!r} returned {len(v)} values for {c!r}, expected {n}")
        res[c] = v
    extra = set(out) - set(cols)
    if extra:
        raise ValueError(f"scorer {name!r} returned undeclared columns {sorted(extra)}")
    # NaN from a model is a failure to score, not a score
    main = res[cols[0]]
    for i, x in enumerate(main):
        if isinstance(x, float) and math.isnan(x):
            main[i] = None
            if res[cols[1]][i] is None:
                res[cols[1]][i] = "score is NaN"
    return res
