"""Image references: resolve, read bytes, decode — lazily, one image at a time.

A reference is a string: a file path (relative to the dataset's ``image_root`` or absolute) or a
``data:`` URI holding base64 bytes (formats that inline images, such as M3IT and MIMIC-IT, are
read into this form). Bad images raise :class:`ImageError` with a short reason; the engine turns it
into a per-sample error, never a crash.
"""
from __future__ import annotations

import base64
import binascii
import functools
import io
import os
import re
import stat
import warnings

from vlitq._utils import blake2b


class ImageError(Exception):
    """An image could not be read or decoded; ``str(exc)`` is the reason shown in reports."""


def to_data_uri(data: bytes | str, mime: str = "image/*") -> str:
    """Wrap raw bytes (or a bare base64 string) as a ``data:`` URI reference.

    >>> to_data_uri(b"abc")
    'data:image/*;base64,YWJj'
    """
    if isinstance(data, (bytes, bytearray)):
        data = base64.b64encode(bytes(data)).decode("ascii")
    return f"data:{mime};base64,{data}"


def is_inline(ref: str) -> bool:
    return ref.startswith("data:")


MISSING_PREFIX = "missing:"


def missing_ref(reason: str) -> str:
    """A reference standing for an image the data names but does not hold.

    Readers use it (e.g. a MIMIC-IT image id absent from the image file) so the sample keeps
    its place and the image scorers report ``reason``.

    >>> read_image_bytes(missing_ref("image id 'X1' is not in images.json"))
    Traceback (most recent call last):
    ...
    vlitq.data.images.ImageError: image not available: image id 'X1' is not in images.json
    """
    return MISSING_PREFIX + reason


def resolve_path(ref: str, image_root: str | None, allow_outside_root: bool = False) -> str:
    """Absolute path of a path reference; refuses paths escaping ``image_root``.

    >>> resolve_path("../etc/passwd", "/data/images")
    Traceback (most recent call last):
    ...
    vlitq.data.images.ImageError: image path escapes the image root: '../etc/passwd'
    """
    check_path(ref)
    if image_root is None:
        return os.path.abspath(ref)
    root = _realpath_cached(image_root)
    try:
        path = os.path.realpath(os.path.join(root, ref))
    except (OSError, ValueError) as exc:
        raise ImageError(f"image path cannot be resolved: {ref[:200]!r} ({exc})") from None
    if not allow_outside_root and os.path.commonpath([root, path]) != root:
        raise ImageError(f"image path escapes the image root: {ref!r}")
    return path


@functools.lru_cache(maxsize=64)
def _realpath_cached(path: str) -> str:
    return os.path.realpath(path)


DEFAULT_MAX_IMAGE_BYTES = 64 * 2**20


def max_image_bytes() -> int:
    """The size cap for one image file (or inline image), checked before anything is read.

    64 MiB unless the environment variable ``VLITQ_MAX_IMAGE_BYTES`` sets another number of
    bytes (``0`` or less: no cap). Every image reader of vlitq goes through
    :func:`read_image_bytes`, so the cap holds for every scorer.

    >>> max_image_bytes() == int(os.environ.get("VLITQ_MAX_IMAGE_BYTES", 64 * 2**20))
    True
    """
    v = os.environ.get("VLITQ_MAX_IMAGE_BYTES")
    if v is None or not v.strip():
        return DEFAULT_MAX_IMAGE_BYTES
    try:
        return int(float(v))
    except ValueError:
        return DEFAULT_MAX_IMAGE_BYTES


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def check_path(ref: str) -> None:
    r"""Refuse references no image file can have (a NUL byte, an absurd length).

    >>> check_path("img/a" + chr(0) + ".jpg")
    Traceback (most recent call last):
    ...
    vlitq.data.images.ImageError: image path holds a NUL byte: 'img/a\x00.jpg'
    """
    if "\x00" in ref:
        raise ImageError(f"image path holds a NUL byte: {ref[:200]!r}")
    if len(ref) > 4096:
        raise ImageError(f"image path of {len(ref)} characters is longer than any file system's")


def _open_regular(path: str, ref: str, max_bytes: int, hint: str = ""):
    """Open ``path`` for reading only if it is a regular file within the size cap.

    The checks run on ``os.stat`` before ``open`` (a FIFO would block ``open`` forever, a
    device would stream without end) and again on the opened descriptor (the file could have
    been swapped in between). ``O_NONBLOCK`` keeps even that ``open`` from waiting on a FIFO.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"image file not found: {ref!r}{hint}") from None
    except (OSError, ValueError) as exc:
        raise ImageError(f"image file unreadable: {ref!r} ({getattr(exc, 'strerror', None) or exc})"
                         ) from None
    _check_stat(st, ref, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ImageError(f"image file unreadable: {ref!r} ({exc.strerror or exc})") from None
    try:
        _check_stat(os.fstat(fd), ref, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_stat(st: os.stat_result, ref: str, max_bytes: int) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise ImageError(f"image path is a directory, not a file: {ref!r}")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a character device" if stat.S_ISCHR(mode) else
                "a block device" if stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise ImageError(f"image path is {kind}, not a regular file: {ref!r}")
    if max_bytes > 0 and st.st_size > max_bytes:
        raise ImageError(f"image file of {_mib(st.st_size)} exceeds the {_mib(max_bytes)} cap "
                         f"(VLITQ_MAX_IMAGE_BYTES): {ref!r}")


def read_image_bytes(
    ref: str, image_root: str | None = None, allow_outside_root: bool = False, *,
    max_bytes: int | None = None,
) -> bytes:
    """The encoded bytes of an image reference (no decoding).

    Paths with a NUL byte, directories, FIFOs, devices and sockets are refused before the file
    is opened, and so is a file (or inline image) larger than ``max_bytes`` (default
    :func:`max_image_bytes`), without reading it.
    """
    if not isinstance(ref, str) or not ref:
        raise ImageError("empty image reference")
    cap = max_image_bytes() if max_bytes is None else max_bytes
    if ref.startswith(MISSING_PREFIX):
        raise ImageError("image not available: " + ref[len(MISSING_PREFIX):])
    if is_inline(ref):
        comma = ref.find(",")
        if comma < 0:
            raise ImageError("invalid base64 image data: no ',' after the data: header")
        if cap > 0 and (len(ref) - comma - 1) * 3 // 4 > cap:
            raise ImageError(f"inline image of about {_mib((len(ref) - comma) * 3 // 4)} exceeds "
                             f"the {_mib(cap)} cap (VLITQ_MAX_IMAGE_BYTES)")
        try:
            return base64.b64decode(ref[comma + 1:], validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ImageError(f"invalid base64 image data: {exc}") from None
    if ref.startswith(("http://", "https://")):
        raise ImageError(f"remote image URL not fetched (vlitq reads local files only): "
                         f"{ref[:200]!r}")
    check_path(ref)
    path = resolve_path(ref, image_root, allow_outside_root)
    hint = (" (resolved against the current folder: pass image_root=)"
            if image_root is None and not os.path.isabs(ref) else "")
    fh = _open_regular(path, ref, cap, hint)
    with fh:
        data = fh.read(cap + 1) if cap > 0 else fh.read()
    if cap > 0 and len(data) > cap:  # grew after the check
        raise ImageError(f"image file exceeds the {_mib(cap)} cap (VLITQ_MAX_IMAGE_BYTES): {ref!r}")
    return data


def decode_image(data: bytes, *, ref: str = "", mode: str = "RGB"):
    """Decode bytes into a PIL image, keeping PIL's decompression-bomb limit on."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # PIL only warns between 1x and 2x MAX_IMAGE_PIXELS; treat that as the bomb it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()
            return img.convert(mode) if mode and img.mode != mode else img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image exceeds the pixel limit (decompression bomb?): {exc}") from None
    except Exception as exc:  # PIL raises many types for corrupt data
        what = f" {ref!r}" if ref and not is_inline(ref) else ""
        # object addresses would make the reason differ between identical runs
        msg = re.sub(r" (at|object at) 0x[0-9a-fA-F]+", "", str(exc))
        msg = re.sub(r"<_io\.BytesIO[^>]*>", "data", msg)
        raise ImageError(f"image{what} cannot be decoded: {type(exc).__name__}: {msg}") from None


def open_image(ref: str, image_root: str | None = None, allow_outside_root: bool = False,
               mode: str = "RGB"):
    """Read and decode one reference into a PIL image (RGB by default)."""
    return decode_image(read_image_bytes(ref, image_root, allow_outside_root), ref=ref, mode=mode)


def image_content_hash(
    ref: str, image_root: str | None = None, allow_outside_root: bool = False
) -> str:
    """Content hash of an image (its bytes), for cache keys; a reason string on failure.

    Failures hash to a marker of the reason, so a later fix of the file changes the key.
    """
    try:
        return blake2b(read_image_bytes(ref, image_root, allow_outside_root))
    except ImageError as exc:
        return "error:" + blake2b(str(exc))
