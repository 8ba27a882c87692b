"""Result images: small real files drawn with Pillow (imported lazily, so only the emulator needs it).

Each image is a diagonal gradient with a stripe pattern whose colours derive from a hash of the prompt and
the image's index; its long side is :data:`LONG_SIDE` pixels and its shape follows the requested aspect
ratio (``"16:9"``, a preset such as ``landscape_16_9`` / ``portrait_4_3`` / ``square_hd``, else square).
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Callable

from kiecore.errors import UsageError

LONG_SIDE = 256

#: Output format words (as requests spell them) -> (Pillow format, file extension, content type).
FORMATS: dict[str, tuple[str, str, str]] = {
    "png": ("PNG", "png", "image/png"),
    "jpg": ("JPEG", "jpg", "image/jpeg"),
    "jpeg": ("JPEG", "jpeg", "image/jpeg"),
    "webp": ("WEBP", "webp", "image/webp"),
}

#: Content type by file extension, for the file host.
CONTENT_TYPES: dict[str, str] = {ext: content_type for _, ext, content_type in FORMATS.values()}

_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$")
_PRESET = re.compile(r"^(landscape|portrait)_(\d+)_(\d+)$")


def format_for(word: str | None) -> tuple[str, str, str]:
    """``(Pillow format, extension, content type)`` for an output-format word; unknown words give PNG."""
    return FORMATS.get((word or "png").strip().lower(), FORMATS["png"])


def size_for(aspect: str | None) -> tuple[int, int]:
    """``(width, height)`` for an aspect ratio or size preset, the long side :data:`LONG_SIDE` pixels."""
    width, height = 1.0, 1.0
    text = (aspect or "").strip().lower()
    ratio = _RATIO.match(text)
    preset = _PRESET.match(text)
    if ratio:
        width, height = float(ratio.group(1)), float(ratio.group(2))
    elif preset:
        long_side, short_side = float(preset.group(2)), float(preset.group(3))
        long_side, short_side = max(long_side, short_side), min(long_side, short_side)
        width, height = (long_side, short_side) if preset.group(1) == "landscape" else (short_side, long_side)
    if width <= 0 or height <= 0:
        width, height = 1.0, 1.0
    scale = LONG_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def require_pillow() -> None:
    """Nothing when Pillow can be imported; else :class:`UsageError` (one line: what to install), so that an
    emulator without it fails before it starts, not at its first image."""
    try:
        from PIL import Image  # noqa: F401
    except ImportError:
        raise UsageError(
            "the emulator draws its images with Pillow, which is not installed: install kiecore[emulator],"
            " or pip install Pillow"
        ) from None


def render(prompt: str, index: int, size: tuple[int, int], pillow_format: str) -> bytes:
    """The encoded bytes of image ``index`` for ``prompt`` (same inputs, same pixels)."""
    from PIL import Image, ImageChops, ImageDraw  # lazy: Pillow is the emulator's dependency only

    digest = hashlib.sha256(f"{index}:{prompt}".encode()).digest()
    start, end = digest[0:3], digest[3:6]
    vertical = Image.linear_gradient("L")
    diagonal = ImageChops.add(vertical, vertical.rotate(90), scale=2.0).resize(size)
    channels = [diagonal.point(_ramp(a, b)) for a, b in zip(start, end, strict=True)]
    image = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(image)
    width, height = size
    step = 16 + digest[6] % 32
    stripe = tuple(255 - value for value in digest[7:10])
    for offset in range(-height, width, step):
        draw.line([(offset, 0), (offset + height, height)], fill=stripe, width=2)
    out = io.BytesIO()
    image.save(out, format=pillow_format)
    return out.getvalue()


def _ramp(low: int, high: int) -> list[int]:
    return [round(low + (high - low) * value / 255) for value in range(256)]


class ImageCache:
    """Encoded images by key, each drawn once on first request (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[object, bytes] = {}

    def get(self, key: object, draw: Callable[[], bytes]) -> bytes:
        with self._lock:
            cached = self._images.get(key)
        if cached is not None:
            return cached
        data = draw()
        with self._lock:
            return self._images.setdefault(key, data)

    def clear(self) -> None:
        with self._lock:
            self._images.clear()
