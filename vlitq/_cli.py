"""What ``vlitq score``, ``vlitq filter`` and ``vlitq check`` share: the same data and run
options (``--format/--image-root/--allow-outside-root/--read-option`` and
``--config/--set/--cache-dir/--no-cache``), one configuration loader
(:func:`vlitq.config.load_run_config`) and one way to report a misconfiguration: a one-line
message and exit status 2 (:class:`Misconfigured`), never a traceback."""
from __future__ import annotations

import contextlib
import functools

import click

#: Exit status of a run that is misconfigured or could not be evaluated.
EXIT_MISCONFIGURED = 2


class Misconfigured(click.ClickException):
    """A one-line error with exit status 2: the command, not the data, must be fixed."""

    exit_code = EXIT_MISCONFIGURED

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def data_options(f):
    """``--format``, ``--image-root``, ``--allow-outside-root``, ``--read-option``."""
    opts = [
        click.option("--format", "fmt", default=None, help="Input format (default: detected)."),
        click.option("--image-root", default=None, type=click.Path(),
                     help="Folder of relative images."),
        click.option("--allow-outside-root", is_flag=True,
                     help="Allow image paths that resolve outside the image root."),
        click.option("--read-option", "read_opts", multiple=True, metavar="KEY=VALUE",
                     help="Format option, e.g. the flat field mapping: "
                          "--read-option instruction=question."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def run_options(f):
    """``--config``, ``--set``, ``--cache-dir``, ``--no-cache``."""
    opts = [
        click.option("--config", default=None, type=click.Path(exists=True),
                     help="TOML/YAML/JSON file: {name: {param: value}}."),
        click.option("--set", "assignments", multiple=True, metavar="NAME.PARAM=VALUE",
                     help="Override one parameter (repeatable)."),
        click.option("--cache-dir", default=None, type=click.Path(), help="Cache folder."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the disk cache."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def parse_read_options(pairs) -> dict:
    """``["instruction=question", "split=train"]`` → ``{"instruction": "question", ...}``."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise Misconfigured(f"--read-option: expected KEY=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


def read_dataset(path, fmt, image_root, allow_outside_root, read_opts, *, ray: bool = False):
    """Read PATH with the data options; an unreadable dataset is exit 2. With ``ray``, PATH is
    only listed here (:class:`~vlitq.engine.ray.RayFiles`): Ray tasks read it."""
    from vlitq.data.formats import FormatError, read

    if ray:
        from vlitq.engine.ray import RayFiles as read  # same options, files read in Ray tasks
    try:
        return read(path, format=fmt, image_root=image_root,
                    allow_outside_root=allow_outside_root, **parse_read_options(read_opts))
    except (FormatError, ValueError, OSError, TypeError) as exc:
        raise Misconfigured(f"cannot read {path}: {exc}") from None


def run_config(config, assignments, base=None) -> dict:
    """The one configuration loader: ``base`` (a rules/gate file's ``[config]``), then
    ``--config``, then ``--set``; unknown components/parameters are exit 2."""
    from vlitq.config import ConfigError, load_run_config

    try:
        return load_run_config(config, list(assignments), base=base)
    except ConfigError as exc:
        raise Misconfigured(str(exc)) from None


def cache_arg(no_cache: bool, cache_dir):
    return False if no_cache else (cache_dir or True)


@contextlib.contextmanager
def misconfiguration_is_exit_2(catch_all: bool = False):
    """Turn configuration problems (and, with ``catch_all``, any failure) into exit 2.

    A release gate must never exit 1 — "the data failed" — because the run crashed.
    """
    from vlitq.config import ConfigError
    from vlitq.select.rules import NotEvaluatedError

    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
        raise
    except (ConfigError, NotEvaluatedError) as exc:
        raise Misconfigured(str(exc)) from None
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise Misconfigured(f"{type(exc).__name__}: {str(exc).strip(chr(39) + chr(34))}") \
            from None
    except Exception as exc:
        if not catch_all:
            raise
        raise Misconfigured(f"the run failed: {type(exc).__name__}: {exc}") from None


def exit_2_on_misconfiguration(catch_all: bool = False):
    """Decorator form of :func:`misconfiguration_is_exit_2`."""
    def deco(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            with misconfiguration_is_exit_2(catch_all):
                return f(*args, **kwargs)
        return wrapper
    return deco
