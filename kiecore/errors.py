"""Typed errors. Each carries one line for a person (``str(error)``) and an exit code for the CLI.

Hierarchy::

    KieError
    ├── UsageError                 bad input, refused before anything is sent        (exit 2)
    │   ├── InvalidParameterError  a parameter value the model does not accept
    │   ├── UnknownModelError      no installed plugin serves that model
    │   │   └── ModelNotInstalledError  a model kiecore knows, whose plugin is not installed
    │   ├── MissingAPIKeyError     KIE_API_KEY is not set
    │   ├── WrongKeyError          a journalled task was created with another key or host
    │   └── ForeignPageError       an index.html kiecore did not write is where a gallery goes
    ├── TaskBusyError              another live process is handling that task          (exit 1)
    ├── PluginError                a plugin failed to load, misbehaved, or collided   (exit 1)
    ├── ParseError                 a reply that cannot be understood                  (exit 1)
    ├── TransportError             the connection failed after retries               (exit 1)
    │   └── SubmitUncertainError   a submit may or may not have created a task
    ├── APIError                   the service refused a request                      (exit 1)
    │   ├── AuthenticationError    401                                                (exit 3)
    │   ├── InsufficientCreditsError 402                                              (exit 3)
    │   ├── UsageCapError          433: the key reached a usage cap set on it at Kie    (exit 3)
    │   ├── InvalidRequestError    400 / 422
    │   ├── NotFoundError          404
    │   ├── RateLimitedError       429 (``retry_after`` seconds, if given)
    │   ├── ServiceUnavailableError 455 / 550, and 503 on a status query (on a create: uncertain)
    │   └── ServerError            other 5xx
    ├── TaskFailedError            the task ran and failed at Kie                     (exit 4)
    ├── DeadlineExceededError      the overall deadline passed while waiting           (exit 5)
    ├── DownloadError              a result could not be fetched or saved             (exit 1)
    │   ├── LinkExpiredError       the file host refused the URL (the client asks Kie for a fresh one)
    │   └── LocalWriteError        the file could not be written here (disk full, permissions): not retried
    └── UploadError                a local image could not be uploaded: nothing was created (exit 1)

A 401 from the upload host is an :class:`AuthenticationError` (exit 3), as from the API host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from kiecore.model import TaskHandle, TaskStatus


class KieError(Exception):
    """Base of every kiecore error."""

    exit_code: int = 1


_E = TypeVar("_E", bound=BaseException)


def prefixed(error: _E, prefix: str) -> _E:
    """A copy of ``error`` whose message starts with ``prefix``, every attribute kept (``parameter``, ``code``,
    ...). The copy is made without calling the class's constructor, so any error class can be copied."""
    copied = type(error).__new__(type(error))
    copied.__dict__.update(error.__dict__)
    copied.args = (f"{prefix}{error}",)
    return copied


class UsageError(KieError):
    """The caller asked for something that cannot be sent."""

    exit_code = 2


class InvalidParameterError(UsageError):
    """A parameter value the model does not accept. ``parameter`` and ``value`` name the culprit.

    ``common`` is the common request field or setting the value was given as (``image_urls``, ``aspect_ratio``,
    ``callback_url``, ``profile``, ...; ``None``: a model-specific parameter, given under its wire name
    ``parameter``). ``named`` is the text by
    which the message names the parameter (``None``: it names none, or several), so that a front end can name
    it as its own users typed it: :meth:`renamed`.
    """

    def __init__(
        self,
        message: str,
        *,
        parameter: str | None = None,
        value: Any = None,
        common: str | None = None,
        named: str | None = None,
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value
        self.common = common
        self.named = named if named and named in message else None

    def renamed(self, name: str) -> str:
        """The message with its naming of the parameter (:attr:`named`, where it first occurs) replaced by
        ``name``; the message as it is when it names no parameter."""
        message = str(self)
        if self.named is None:
            return message
        before, _, after = message.partition(self.named)
        return f"{before}{name}{after}"


class UnknownModelError(UsageError):
    """No installed plugin serves the model; ``suggestions`` holds close matches."""

    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else "; `kie models` lists them"
        super().__init__(f"unknown model {name!r}{hint}")
        self.name = name
        self.suggestions = suggestions


class ModelNotInstalledError(UnknownModelError):
    """``name`` is a model of a kiecore plugin (:mod:`kiecore.catalog`) that is not installed, or not loaded:
    ``distribution`` is the plugin to install, ``reason`` (when given) why an installed one is not in use."""

    def __init__(self, name: str, distribution: str, reason: str | None = None) -> None:
        super().__init__(name)
        if reason is None:
            reason = (
                f"which is not installed: pip install {distribution}"
                f" (from a checkout: pip install ./plugins/{distribution})"
            )
        self.args = (f"{name} is in the {distribution} plugin, {reason}",)
        self.distribution = distribution
        self.reason = reason


class MissingAPIKeyError(UsageError):
    """No API key was configured."""

    def __init__(self) -> None:
        super().__init__(
            "no API key: set KIE_API_KEY (from https://kie.ai/api-key), "
            "or add --emulator to try everything against the built-in emulator"
        )


class WrongKeyError(UsageError):
    """A journalled task was created with another API key, or at another host: this key is not sent there."""


class ForeignPageError(UsageError):
    """``path`` (a folder's ``index.html``) was not written by kiecore, so a gallery will not replace it."""

    def __init__(self, path: Path, hint: str = "") -> None:
        super().__init__(f"{path} was not written by kiecore; not overwriting it{hint}")
        self.path = path


class TaskBusyError(KieError):
    """Another running process has claimed that journalled task (e.g. a second ``kie resume``)."""


class PluginError(KieError):
    """A plugin failed to load, returned something the core cannot use, or collided with another."""


class ParseError(KieError):
    """A reply that cannot be understood. Parse hooks raise only this for malformed input."""


class TransportError(KieError):
    """The connection to a host failed and retrying did not help."""


class SubmitUncertainError(TransportError):
    """The submit request was sent but its answer was lost: the task may exist (and cost credits).

    It is never resubmitted automatically; check your Kie task list or logs before trying again.
    """


class APIError(KieError):
    """The service refused a request. ``http_status``, ``code`` (the body code) and ``kie_message`` say how."""

    def __init__(
        self, message: str, *, http_status: int | None = None, code: int | None = None, kie_message: str = ""
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.kie_message = kie_message


class AuthenticationError(APIError):
    exit_code = 3


class InsufficientCreditsError(APIError):
    exit_code = 3


class UsageCapError(APIError):
    """Body code 433: the key reached one of the hourly, daily or total usage caps set on it in the Kie account;
    nothing was created."""

    exit_code = 3


class InvalidRequestError(APIError):
    pass


class NotFoundError(APIError):
    pass


class RateLimitedError(APIError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailableError(APIError):
    pass


class ServerError(APIError):
    pass


class TaskFailedError(KieError):
    """The task ran at Kie and failed; ``status`` holds Kie's failure code and message."""

    exit_code = 4

    def __init__(self, handle: TaskHandle, status: TaskStatus) -> None:
        detail = status.fail_message or "no reason given"
        code = f" (code {status.fail_code})" if status.fail_code else ""
        super().__init__(f"task {handle.task_id} ({handle.model}) failed at Kie{code}: {detail}")
        self.handle = handle
        self.status = status


class DeadlineExceededError(KieError):
    """The overall deadline passed before the task finished; the task may still complete."""

    exit_code = 5

    def __init__(
        self, handle: TaskHandle, timeout: float, last: TaskStatus | None = None, *, base_url: str | None = None
    ) -> None:
        from kiecore.hints import connection_options

        super().__init__(
            f"task {handle.task_id} ({handle.model}) did not finish within {timeout:g}s; "
            f"check it later with: kie status {handle.model} {handle.task_id}"
            + connection_options(base_url, handle.profile)
        )
        self.handle = handle
        self.timeout = timeout
        self.last = last
        self.base_url = base_url


class DownloadError(KieError):
    """A result file could not be fetched or saved."""


class LinkExpiredError(DownloadError):
    """The file host refused a result URL (403, 404 or 410): the link has probably expired."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class LocalWriteError(DownloadError):
    """The result could not be written here (disk full, read-only, no permission, ...): never retried.

    ``path`` is what could not be written and ``errno`` the operating system's error number.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"cannot write {path}: {error.strerror or error}")
        self.path = path
        self.errno = error.errno


class UploadError(KieError):
    """A local image could not be uploaded to Kie's upload host, so its generation was not created.

    ``code`` is the upload host's code (body ``code``, else the HTTP status; ``None`` when no answer came) and
    ``kie_message`` its message.
    """

    def __init__(self, message: str, *, code: int | None = None, kie_message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.kie_message = kie_message
