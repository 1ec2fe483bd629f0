"""The everyday API: :func:`score`."""
from __future__ import annotations

import os
from collections.abc import Sequence

from vlitq import registry
from vlitq.config import load_config
from vlitq.data.dataset import Dataset

#: What ``score()`` runs when no scorers are named: every registered component that is in this
#: list. Heavy-model scorers that cannot run offline by default (MLLM correctness, LLM
#: complexity) are opt-in.
DEFAULT_COMPONENTS = (
    "text_stats", "image_check", "language", "instruction_type", "elements", "matching",
    "duplicates", "tasks", "task_diversity", "balance", "instruction_diversity",
    "response_diversity",
)


def build_components(scorers: Sequence | None, config: dict, *,
                     with_defaults: bool = False) -> list:
    """Instantiate the named components (or the defaults) with their config.

    ``scorers=None`` means the defaults (:data:`DEFAULT_COMPONENTS`) plus any component named
    in ``config``; ``with_defaults=True`` adds those to the named ones (``vlitq filter`` and
    ``check`` use it when a rule or gate on ``errors`` needs every default scorer besides what
    the other conditions name). Unknown names and parameters raise
    :class:`~vlitq.config.ConfigError` (also a ``KeyError`` / ``TypeError``).
    """
    config = load_config(config)
    if scorers is None or with_defaults:
        known = set(registry.names())
        names = [n for n in DEFAULT_COMPONENTS if n in known]
        names += [n for n in config if n not in names]
        given = {(x if isinstance(x, str) else x.name): x for x in (scorers or [])}
        ordered = [given.pop(n, n) for n in names]
        scorers = ordered + list(given.values())
    out = []
    for s in scorers:
        if isinstance(s, str):
            out.append(registry.create(s, config.get(s)))
        else:
            out.append(s)
    # judge-based scorers cannot see the whole dataset; their collapse checks run as the
    # judge_checks indicator, added whenever such a scorer runs
    names_now = {c.name for c in out}
    if "judge_checks" not in names_now and any(type(c).overrides("dataset_warnings")
                                                for c in out):
        out.append(registry.create("judge_checks"))
    seen = set()
    for c in out:
        if c.name in seen:
            raise ValueError(f"{c.name!r} is requested twice")
        seen.add(c.name)
    return out


def score(dataset, scorers: Sequence | None = None, *, config=None, cache=True,
          engine: str = "local", chunk_size: int = 1024, progress: bool = True,
          format: str | None = None, image_root: str | None = None, stream: bool = False,
          read_options: dict | None = None, **engine_options):
    """Score a VLIT dataset and return a :class:`~vlitq.report.Report`.

    Parameters
    ----------
    dataset : Dataset, str or path
        A dataset from :func:`vlitq.read`, or a file/folder to read (``format`` and
        ``image_root`` are then passed to :func:`vlitq.read`).
    scorers : list of str or components, optional
        Names of per-sample scorers and dataset-level indicators (``vlitq scorers`` lists them),
        or configured instances. Default: :data:`DEFAULT_COMPONENTS` plus any named in
        ``config``.
    config : dict or path, optional
        ``{name: {param: value}}``, or a TOML / YAML / JSON file of that shape.
    cache : bool, str or Cache
        True: the default cache folder; a path: that folder; False: no disk cache.
    engine : {"local", "ray"}
    chunk_size : int
        Samples processed (and cached) together; bounds memory.
    progress : bool
        Show progress bars (also silenced by ``VLITQ_DISABLE_PROGRESS_BARS=1``).
    read_options : dict, optional
        Passed to :func:`vlitq.read` when ``dataset`` is a path: format options such as the
        ``flat`` field mapping (``{"instruction": "question", "response": "answer"}``) or
        ``allow_outside_root``.
    stream : bool
        When ``dataset`` is a path: read it chunk by chunk instead of all at once, so image
        data (inline base64 included) is held for one chunk at a time.

    Examples
    --------
    >>> import vlitq
    >>> from vlitq.data.dataset import Dataset, make_sample
    >>> ds = Dataset.from_records([make_sample("a", [("Describe it.", "A red bus.")])])
    >>> r = vlitq.score(ds, ["text_stats"], cache=False, progress=False)
    >>> r.samples["text_stats"].to_list()
    [10]
    """
    from vlitq.cache import as_cache

    if engine == "ray" and (isinstance(dataset, (str, os.PathLike)) or (
            isinstance(dataset, (list, tuple)) and dataset
            and all(isinstance(p, (str, os.PathLike)) for p in dataset))):
        # the Ray engine reads the files in Ray tasks: nothing is parsed on the driver
        from vlitq.engine.ray import RayFiles

        dataset = RayFiles(dataset, format=format, image_root=image_root,
                           **(read_options or {}))
    elif stream and isinstance(dataset, (str, os.PathLike)):
        from vlitq.engine.stream import StreamingDataset

        dataset = StreamingDataset(dataset, format=format, image_root=image_root,
                                   **(read_options or {}))
    elif not isinstance(dataset, Dataset) and not hasattr(dataset, "gathered"):
        from vlitq.data.formats import read

        dataset = read(dataset, format=format, image_root=image_root, **(read_options or {}))
    cfg = load_config(config)
    components = build_components(scorers, cfg)
    c = as_cache(cache)
    if engine == "local":
        from vlitq.engine.local import run

        return run(dataset, components, c, chunk_size=chunk_size, show_progress=progress,
                   **engine_options)
    if engine == "ray":
        from vlitq.engine.ray import run as ray_run

        return ray_run(dataset, components, c, chunk_size=chunk_size, show_progress=progress,
                       **engine_options)
    raise ValueError(f"unknown engine {engine!r}; use 'local' or 'ray'")
