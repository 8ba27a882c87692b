"""Local image files where a model takes image URLs: which values name one, the checks they pass before anything
is sent, and their place in a request until they are uploaded.

A value of an image parameter (a :class:`~kiecore.declarations.ParamKind` ``URL`` or ``URL_LIST`` parameter,
the common ``image_urls`` included) names a local file unless it is an http(s) URL: a relative path (from the
working directory), an absolute one (``~`` expanded) or a ``file:`` URL. Any other ``scheme://`` is refused.
Once checked, a local file stands in the prepared request as its absolute ``file:`` URL (:func:`file_url`);
the engine's upload step uploads it and puts the URL it was uploaded to in its place before the create is sent
(:mod:`kiecore.uploads`). Nothing here sends anything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from kiecore.declarations import ParamKind, ParamSpec, WireSpec
from kiecore.errors import InvalidParameterError
from kiecore.imagetypes import SNIFF_BYTES, sniff
from kiecore.model import GenerationRequest

#: The largest local image accepted unless its parameter declares less (``ParamSpec.max_file_bytes``): the
#: largest input any documented model takes (30 MB: Nano Banana Pro and Nano Banana 2).
MAX_IMAGE_BYTES = 30 * 1024 * 1024
#: The formats a local image may be in, told by its first bytes (:mod:`kiecore.imagetypes`).
IMAGE_FORMATS = "PNG, JPEG, WebP or GIF"
#: The MIME type of each format, by the extension :func:`~kiecore.imagetypes.sniff` gives.
MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}

_URL_KINDS = (ParamKind.URL, ParamKind.URL_LIST)


class NotAnImageFile(ValueError):
    """Why a local file cannot be sent as an image: one line, saying what to do."""


@attrs.frozen
class LocalImage:
    """A local image as read for its upload: its bytes, their SHA-256 and the format they start with."""

    path: Path
    data: bytes = attrs.field(repr=False)
    sha256: str
    extension: str

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.extension]


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is an absolute http(s) URL string."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _url2pathname(path: str) -> str:
    """What ``urllib.request.url2pathname`` does, without importing ``urllib.request`` (http, email, ...): a
    ``file:`` URL's path as a local path."""
    if os.name == "nt":
        import nturl2path

        return nturl2path.url2pathname(path)
    return unquote(path)


def local_path(value: str) -> Path | None:
    """The absolute path of the file ``value`` names, or ``None`` for an http(s) URL; ``ValueError`` for an empty
    value, one holding a NUL, a malformed http(s) URL, a ``file:`` URL of another host, or any other ``scheme://``."""
    if not value:
        raise ValueError("empty")
    if "\x00" in value:  # no file system takes it (os.stat raises ValueError)
        raise ValueError("a NUL character")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if parts.netloc:
            return None
        raise ValueError("an http(s) URL without a host")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError("a file: URL of another host")
        return Path(os.path.abspath(_url2pathname(parts.path)))
    if "://" in value:
        raise ValueError(f"a {parts.scheme}: URL")
    return Path(os.path.abspath(os.path.expanduser(value)))


def file_url(value: Any) -> Any:
    """``value`` as a prepared request holds it: a local file as its absolute ``file:`` URL; an http(s) URL, and
    anything that is neither (which validation refuses), unchanged."""
    if not isinstance(value, str):
        return value
    try:
        path = local_path(value)
    except ValueError:
        return value
    return value if path is None else path.as_uri()


def problem(path: Path, max_bytes: int) -> str | None:
    """Why ``path`` cannot be sent as an image, saying what to do (``None``: it can): it must be a readable
    regular file of at most ``max_bytes`` that starts as a PNG, JPEG, WebP or GIF image does."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "no such file; give the path of an image file or an http(s) URL"
    except OSError as error:
        return _unreadable(error)
    if stat.S_ISDIR(info.st_mode):
        return "a directory, not an image file; give the path of an image file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file; give the path of an image file"
    if info.st_size > max_bytes:
        return _too_big(info.st_size, max_bytes)
    try:
        with path.open("rb") as file:
            head = file.read(SNIFF_BYTES)
    except OSError as error:
        return _unreadable(error)
    return _NOT_AN_IMAGE if sniff(head) is None else None


def check_image(name: str, value: Any, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """``value`` checked as an image: an http(s) URL as it is, a local image file as its ``file:`` URL
    (:func:`file_url`). Raises :class:`InvalidParameterError` naming ``name`` and saying what to do."""
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"{name} must be a URL or the path of an image file, got {value!r}", parameter=name, value=value, named=name
        )
    try:
        path = local_path(value)
    except ValueError:
        raise InvalidParameterError(
            f"{name} must be an http(s) URL or the path of a local image file, got {value!r}",
            parameter=name,
            value=value,
            named=name,
        ) from None
    if path is None:
        return value
    reason = problem(path, max_bytes)
    if reason is not None:
        raise InvalidParameterError(f"{name}: {value}: {reason}", parameter=name, value=value, named=name)
    return path.as_uri()


def read_image(path: Path, max_bytes: int = MAX_IMAGE_BYTES) -> LocalImage:
    """The image at ``path``, read whole (at most ``max_bytes``); :class:`NotAnImageFile` if it no longer passes
    :func:`problem`'s checks."""
    reason = problem(path, max_bytes)
    if reason is None:
        try:
            with path.open("rb") as file:
                data = file.read(max_bytes + 1)
        except OSError as error:
            reason = _unreadable(error)
        else:
            extension = sniff(data[:SNIFF_BYTES])
            if len(data) > max_bytes:
                reason = _too_big(len(data), max_bytes)
            elif extension is None:
                reason = _NOT_AN_IMAGE
            else:
                import hashlib  # only once a file is read to upload it: hashlib loads OpenSSL, off the start-up path

                return LocalImage(path, data, hashlib.sha256(data).hexdigest(), extension)
    raise NotAnImageFile(f"{path}: {reason}")


def map_images(wire: WireSpec, request: GenerationRequest, change: Callable[[str], str]) -> GenerationRequest:
    """``request`` with ``change`` applied to every string in its image parameters: the common ``image_urls``
    (where ``wire`` takes it) and each extra that ``wire`` declares as a URL or URL list (a URL list given as a
    comma-separated string becomes a list, if anything in it changes). The same request when nothing changes."""
    common = wire.for_common("image_urls")
    images = request.image_urls
    if common is not None and common.kind in _URL_KINDS:
        images = tuple(change(value) if isinstance(value, str) else value for value in images)
    extra = {}
    for name, value in request.extra.items():
        spec = wire.param(name)
        extra[name] = _changed(spec.kind, value, change) if spec is not None and spec.kind in _URL_KINDS else value
    if images == request.image_urls and extra == dict(request.extra):
        return request
    return attrs.evolve(request, image_urls=images, extra=extra)


def local_files(wire: WireSpec, request: GenerationRequest) -> list[tuple[ParamSpec, str]]:
    """Every ``file:`` URL in ``request``'s image parameters (what :func:`file_url` made of a local file), with
    the parameter it is in, in order."""
    found: list[tuple[ParamSpec, str]] = []
    common = wire.for_common("image_urls")
    if common is not None and common.kind in _URL_KINDS:
        found.extend((common, value) for value in request.image_urls if _is_file_url(value))
    for name, value in request.extra.items():
        spec = wire.param(name)
        if spec is not None and spec.kind in _URL_KINDS:
            found.extend((spec, item) for item in _strings(spec.kind, value) if _is_file_url(item))
    return found


def _is_file_url(value: Any) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme.lower() == "file"


def _strings(kind: ParamKind, value: Any) -> list[str]:
    """The strings of an image parameter's value: one URL, a list, or a URL list as a comma-separated string
    (split as validation splits it)."""
    if isinstance(value, str):
        return [value] if kind is ParamKind.URL else [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def _changed(kind: ParamKind, value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        if kind is ParamKind.URL:
            return change(value)
        parts = _strings(kind, value)
        changed = [change(part) for part in parts]
        return value if changed == parts else changed
    if isinstance(value, (list, tuple)):
        items = [change(item) if isinstance(item, str) else item for item in value]
        return value if items == list(value) else items
    return value


_NOT_AN_IMAGE = f"not a {IMAGE_FORMATS} image; convert it, or give an http(s) URL"


def _unreadable(error: OSError) -> str:
    return f"cannot be read ({error.strerror or type(error).__name__}); check the path and its permissions"


def _too_big(size: int, max_bytes: int) -> str:
    return f"{_megabytes(size)}, over the {_megabytes(max_bytes)} limit; give a smaller image"


def _megabytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.4g} MB"
    return f"{size / 1024:.4g} KB" if size >= 1024 else f"{size} bytes"
