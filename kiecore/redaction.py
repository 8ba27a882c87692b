"""Keeping the API key out of what people see: checking it, masking it in text, and a logging filter.

A key can surface in text in several spellings: as itself, inside a ``repr()`` (``ValueError: Invalid header
value b'Bearer ...\\r'``), or inside JSON. :func:`redact` masks all of them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import unicodedata

from kiecore.errors import UsageError

MASK = "***"
#: Keys shorter than this are masked only where they stand alone, so that a key like "x" garbles nothing.
SHORT_SECRET = 8


def clean_api_key(key: str) -> str:
    """``key`` without surrounding whitespace; :class:`UsageError` (never quoting it) if it is empty or holds a
    control or other non-printable character."""
    cleaned = key.strip()
    if not cleaned:
        raise UsageError("the API key is empty; check KIE_API_KEY")
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise UsageError("the API key contains a control character; check KIE_API_KEY")
    if not cleaned.isprintable():
        raise UsageError("the API key contains a non-printable character; check KIE_API_KEY")
    return cleaned


def redact(text: str, secret: str | None) -> str:
    """``text`` with every spelling of ``secret`` (plain, ``repr``, bytes ``repr``, JSON) replaced by ``***``."""
    if not secret or not text:
        return text
    return _pattern(secret).sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Masks ``secret`` in every record it sees: the message with its arguments, and any traceback text."""

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both, masked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message, self.secret), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secret)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secret)
        return True


def secret_forms(secret: str) -> frozenset[str]:
    """Every spelling of ``secret`` that :func:`redact` masks (of it and of it stripped of whitespace)."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    for encoding in ("utf-8", "latin-1"):  # http.client encodes header values as latin-1
        with contextlib.suppress(UnicodeEncodeError):
            forms.add(repr(secret.encode(encoding))[2:-1])
    # repr escapes a quote only when it delimits the string, which depends on the text around the secret.
    forms |= {form.replace("'", "\\'") for form in forms} | {form.replace('"', '\\"') for form in forms}
    stripped = secret.strip()
    if stripped and stripped != secret:
        forms |= secret_forms(stripped)
    return frozenset(form for form in forms if form)


@functools.lru_cache(maxsize=16)
def _pattern(secret: str) -> re.Pattern[str]:
    forms = sorted(secret_forms(secret), key=len, reverse=True)  # the longest spelling wins an overlap
    alternatives = "|".join(re.escape(form) for form in forms)
    if len(secret.strip()) < SHORT_SECRET:
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
    return re.compile(alternatives)
