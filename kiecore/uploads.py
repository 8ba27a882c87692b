"""Local images uploaded before their create is sent: once per content, upload host and key.

A client's :class:`Uploader` sends each file with the stream upload (docs/kie-api-notes.md §1.5) through a
:class:`~kiecore.transport.Transport` of its own to the upload host (``Client(upload_url=...)``,
``$KIE_UPLOAD_URL``, or :data:`DEFAULT_UPLOAD_URL` when the API host is the live one): the key goes there as
to the API host, over https unless loopback, and nowhere else. The upload is retried like a status query
(connection errors, 429, 5xx), since uploading twice costs nothing.

Uploads are remembered by the SHA-256 of the bytes, with the upload host and the key's fingerprint, for
:data:`CACHE_SECONDS` (Kie deletes uploads after 3 days): in the journal when the client has one
(:meth:`Journal.cached_upload <kiecore.journal.Journal.cached_upload>`), so other clients and later runs reuse
them, and in memory for the client's lifetime. Generations that need the same bytes at once share one upload.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kiecore.errors import APIError, KieError, ParseError, TransportError, UploadError, UsageError
from kiecore.localimages import MAX_IMAGE_BYTES, LocalImage, NotAnImageFile, read_image
from kiecore.model import Profile
from kiecore.transport import Sender
from kiecore.wire.uploads import parse_upload_reply, stream_upload_request, upload_error

if TYPE_CHECKING:
    from kiecore.journal import Journal

#: Kie's upload host, the default for a client of the live API host (https://api.kie.ai).
DEFAULT_UPLOAD_URL = "https://kieai.redpandaai.co"
#: How long an uploaded file's URL is reused, in seconds: 2 days, well inside the 3 days Kie keeps uploads.
CACHE_SECONDS = 2 * 24 * 3600.0
#: The folder (``uploadPath``) uploads go to on the upload host.
UPLOAD_PATH = "kiecore/images"
#: How long :meth:`Client.upload <kiecore.client.Client.upload>` waits for one upload unless told, in seconds.
UPLOAD_TIMEOUT_SECONDS = 300.0


class Uploader:
    """Uploads the local images of one client: one upload host (``upload_url``), one key (only its
    ``key_fingerprint`` is kept). ``sender`` gives the transport to the upload host, built on first use.
    Thread-safe. ``now`` is the wall clock the cache ages by."""

    def __init__(
        self,
        sender: Callable[[], Sender],
        *,
        upload_url: str,
        key_fingerprint: str,
        journal: Journal | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.upload_url = upload_url.rstrip("/")
        self.key_fingerprint = key_fingerprint
        self.journal = journal
        self._sender = sender
        self._now = now
        self._host = urlsplit(self.upload_url).netloc or self.upload_url
        self._lock = threading.Lock()
        self._memory: dict[str, tuple[str, float]] = {}  # sha256 -> (download URL, uploaded at)
        self._flights: dict[str, Future[str]] = {}  # sha256 -> the upload in progress

    def upload(self, path: Path, *, max_bytes: int = MAX_IMAGE_BYTES, deadline: float | None = None) -> str:
        """The URL of the image at ``path`` on the upload host, uploading it unless the same bytes were uploaded
        within :data:`CACHE_SECONDS` (or are being uploaded right now: that upload's outcome is this one's).
        ``deadline`` (the transport's clock) bounds the upload. Raises :class:`UsageError` if the file is no
        longer an image of at most ``max_bytes``, :class:`UploadError` (or :class:`AuthenticationError`) if the
        upload fails."""
        try:
            image = read_image(path, max_bytes)
        except NotAnImageFile as problem:
            raise UsageError(f"cannot upload {problem}") from None
        key = image.sha256
        with self._lock:
            remembered = self._memory.get(key)
            if remembered is not None and self._fresh(remembered[1]):
                return remembered[0]
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not owner:
            return flight.result()
        try:
            url, uploaded_at = self._cached(key) or (self._send(image, deadline), self._now())
            with self._lock:
                self._memory[key] = (url, uploaded_at)
            flight.set_result(url)
            return url
        except BaseException as error:
            flight.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._flights[key]

    def _fresh(self, uploaded_at: float) -> bool:
        return self._now() - uploaded_at < CACHE_SECONDS

    def _cached(self, key: str) -> tuple[str, float] | None:
        """The journal's record of these bytes at this host with this key, if fresh (a journal that cannot be
        read is no cache)."""
        if self.journal is None:
            return None
        with contextlib.suppress(KieError):
            return self.journal.cached_upload(
                self.upload_url, self.key_fingerprint, key, newer_than=self._now() - CACHE_SECONDS
            )
        return None

    def _send(self, image: LocalImage, deadline: float | None) -> str:
        sender = self._sender()
        name = f"{image.sha256[:16]}.{image.extension}"  # the content's name, never the local one
        request = stream_upload_request(image.data, file_name=name, upload_path=UPLOAD_PATH, mime_type=image.mime_type)
        what = f"{image.path.name} to {self._host}"
        try:
            reply = sender.send(request, profile=Profile.LIVE, idempotent=True, deadline=deadline)
        except APIError as error:
            code = error.code if error.code is not None else error.http_status or 0
            raise upload_error(code, error.kie_message, host=self._host, http_status=error.http_status) from None
        except (TransportError, ParseError) as error:
            raise UploadError(f"could not upload {what}: {error}") from None
        url = parse_upload_reply(reply, host=self._host, redact=sender.redact).download_url
        if self.journal is not None:
            with contextlib.suppress(KieError):  # a cache that cannot be written costs a second upload at most
                self.journal.record_upload(self.upload_url, self.key_fingerprint, image.sha256, url)
        return url
