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
    if image_root is None:
        return os.path.abspath(ref)
    root = _realpath_cached(image_root)
    path = os.path.realpath(os.path.join(root, ref))
    if not allow_outside_root and os.path.commonpath([root, path]) != root:
        raise ImageError(f"image path escapes the image root: {ref!r}")
    return path


@functools.lru_cache(maxsize=64)
def _realpath_cached(path: str) -> str:
    return os.path.realpath(path)


def read_image_bytes(
    ref: str, image_root: str | None = None, allow_outside_root: bool = False
) -> bytes:
    """The encoded bytes of an image reference (no decoding)."""
    if not isinstance(ref, str) or not ref:
        raise ImageError("empty image reference")
    if ref.startswith(MISSING_PREFIX):
        raise ImageError("image not available: " + ref[len(MISSING_PREFIX):])
    if is_inline(ref):
        try:
            payload = ref.split(",", 1)[1]
            return base64.b64decode(payload, validate=False)
        except (IndexError, binascii.Error, ValueError) as exc:
            raise ImageError(f"invalid base64 image data: {exc}") from None
    path = resolve_path(ref, image_root, allow_outside_root)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {ref!r}") from None
    except OSError as exc:
        raise ImageError(f"image file unreadable: {ref!r} ({exc.strerror or exc})") from None


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
