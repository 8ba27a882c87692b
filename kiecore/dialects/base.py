"""What a wire dialect is: everything the core needs to know about one family of Kie endpoints.

A model declares its dialect by name in each profile (``WireSpec.dialect``); the registry maps the name to a
:class:`WireDialect` object registered through the ``register_dialects`` hook, so a plugin can bring a dialect
of its own without a change to the core. The built-in ones live beside this module, one module each.

A dialect object is pure data and pure functions: it reads replies and builds requests, never sends them.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from kiecore.model import TaskState, TaskStatus
from kiecore.wire.builders import status_query
from kiecore.wire.request import WireRequest

#: The common fresh-link endpoint (every dialect but 4o): ``{"url": ...}`` -> a link valid 20 minutes.
COMMON_LINK_PATH = "/api/v1/common/download-url"


class WireDialect(abc.ABC):
    """One dialect. Subclass it, implement the abstract readers, and override what else differs; the defaults
    are the common ground of Kie's endpoints.

    Class attributes:

    * ``name``: what ``WireSpec.dialect`` says to choose it.
    * ``task_failure_codes``: body codes of a status reply (not HTTP errors) that mean the task itself failed.
    * ``status_limited_per_task``: whether the service limits status queries per task as well as per key (the
      4o record-info endpoint; the number is :data:`kiecore.ratelimit.PUBLISHED_LIMITS` ``task_status``).
    * ``emulation``: ``"module:attribute"`` of the emulator's half of this dialect (imported only by the
      emulator, never on a client's path), or ``None`` if it cannot be emulated.
    * ``max_urls``: how many result URLs one record can hold.
    * ``states_failure_reason``: whether a failed task's documented status reply always says why (a code or a
      message); the conformance suite holds a dialect that says so to it.
    """

    name: ClassVar[str] = ""
    task_failure_codes: ClassVar[frozenset[int]] = frozenset({408, 501})
    status_limited_per_task: ClassVar[bool] = False
    emulation: ClassVar[str | None] = None
    max_urls: ClassVar[int] = 4
    states_failure_reason: ClassVar[bool] = True

    # -- reading replies (``data`` is the reply's ``data`` object) ---------------------------------------

    @abc.abstractmethod
    def matches(self, data: Mapping[str, Any]) -> bool:
        """Whether ``data`` has this dialect's shape: the fields only this dialect's records carry."""

    @abc.abstractmethod
    def parse_status(self, data: Mapping[str, Any]) -> TaskStatus:
        """The state, progress and failure details of a status record (URLs come from :meth:`extract_urls`)."""

    @abc.abstractmethod
    def extract_urls(self, data: Mapping[str, Any]) -> list[str]:
        """The result URLs of a status record or callback body, in order; ``[]`` when there are none."""

    # -- building requests ---------------------------------------------------------------------------

    def status_request(self, status_path: str, task_id: str) -> WireRequest:
        """The request for a task's status record."""
        return status_query(status_path, task_id)

    def link_request(self, task_id: str, url: str) -> WireRequest:
        """The request for a fresh download link to ``url``, a result of task ``task_id``."""
        return WireRequest("POST", COMMON_LINK_PATH, body={"url": url})

    # -- documented examples, for the test kit -------------------------------------------------------

    def examples(self) -> tuple[tuple[dict[str, Any], TaskState], ...]:
        """Documented status records (``data`` objects, without URLs) and the common state each maps to."""
        return ()

    @abc.abstractmethod
    def with_result_urls(self, data: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
        """``data`` with ``urls`` where this dialect's records put result URLs (for the kit's examples)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def for_reply(data: Mapping[str, Any], declared: WireDialect, known: Iterable[WireDialect]) -> WireDialect:
    """The dialect that reads ``data`` (a reply's ``data`` object): the model's ``declared`` one whenever the
    record has its shape, else the first of ``known`` whose shape it clearly has (a 4o reply to a
    reference-profile query), else ``declared`` (callbacks, which have no record shape of their own)."""
    if declared.matches(data):
        return declared
    for other in known:
        if other is not declared and other.matches(data):
            return other
    return declared
