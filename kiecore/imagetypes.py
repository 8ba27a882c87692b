"""The four image formats a result may be, recognised by their first bytes only (never by a URL or a header)."""

from __future__ import annotations

#: File extensions of the formats kiecore saves, in the order they are looked for on disk.
EXTENSIONS: tuple[str, ...] = ("png", "jpg", "webp", "gif")

#: How many leading bytes :func:`sniff` needs to tell every format apart.
SNIFF_BYTES = 12

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIFS = (b"GIF87a", b"GIF89a")


def sniff(head: bytes) -> str | None:
    """The extension (one of :data:`EXTENSIONS`) of the image starting with ``head``, or ``None`` if ``head``
    starts none of them. Give it at least :data:`SNIFF_BYTES` bytes unless the file is shorter."""
    if head.startswith(_PNG):
        return "png"
    if head.startswith(_JPEG):
        return "jpg"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(_GIFS):
        return "gif"
    return None
